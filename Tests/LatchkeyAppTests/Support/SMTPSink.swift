import Foundation
import LatchkeyMail
import Testing

/// A real SMTP server (aiosmtpd, `scripts/smtp-sink`) on a loopback port for one test, with a throwaway CA, and
/// the messages it accepted.
final class SMTPSink: Sendable {
    let port: Int
    let caFile: String
    let directory: String
    private let process: Process
    private let input: Pipe

    struct Received: Sendable {
        let mailFrom: String
        let recipients: [String]
        let tls: Bool
        let data: String
    }

    /// Starts a server; `tls` is `starttls`, `implicit` or `none`; `port` reuses a port (a server back up).
    init(tls: String = "starttls", auth: String? = "latchkey:s3cret pass", port: Int? = nil, slow: Int = 5) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.executableURL = root.appendingPathComponent("scripts/smtp-sink")
        var arguments = ["--tls", tls]
        if let auth { arguments += ["--auth", auth] }
        if let port { arguments += ["--port", String(port)] }
        arguments += ["--slow", String(slow)]
        process.arguments = arguments
        let output = Pipe()
        let input = Pipe()
        process.standardOutput = output
        process.standardInput = input
        try process.run()
        var line = Data()
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            guard !byte.isEmpty else { throw SinkError.notStarted(String(decoding: line, as: UTF8.self)) }
            if byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        var fields: [String: String] = [:]
        for part in String(decoding: line, as: UTF8.self).split(separator: " ").dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        guard let port = fields["port"].flatMap(Int.init), let ca = fields["ca"], let dir = fields["dir"] else {
            throw SinkError.notStarted(String(decoding: line, as: UTF8.self))
        }
        self.port = port
        self.caFile = ca
        self.directory = dir
        self.process = process
        self.input = input
    }

    enum SinkError: Error { case notStarted(String) }

    /// The URL Latchkey is configured with for this server.
    var url: String {
        let scheme = tlsMode == "implicit" ? "smtps" : "smtp"
        return "\(scheme)://latchkey:s3cret%20pass@localhost:\(port)"
    }
    var tlsMode: String { process.arguments?[1] ?? "starttls" }

    func configuration() throws -> SMTPConfiguration { try SMTPConfiguration.parse(url, caFile: caFile) }

    /// The messages accepted so far, oldest first.
    func received() throws -> [Received] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }
            .sorted()
        return try names.map { name in
            let base = (directory as NSString).appendingPathComponent(String(name.dropLast(5)))
            let meta =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + ".json")))
                as! [String: Any]
            return Received(
                mailFrom: meta["mail_from"] as! String, recipients: meta["rcpt_tos"] as! [String],
                tls: meta["tls"] as! Bool, data: try String(contentsOfFile: base + ".eml", encoding: .utf8))
        }
    }

    /// Waits until `count` messages have arrived (or fails after `seconds`).
    func waitFor(_ count: Int, seconds: Double = 15) async throws -> [Received] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let messages = try received()
            if messages.count >= count { return messages }
            try await Task.sleep(for: .milliseconds(50))
        }
        let messages = try received()
        #expect(messages.count >= count, "the SMTP server received \(messages.count) of \(count) messages")
        return messages
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }
}

/// The decoded parts of a received message.
struct ParsedMail {
    let headers: [String: String]
    let text: String
    let html: String

    init(_ raw: String) {
        let lines = raw.replacingOccurrences(of: "\r\n", with: "\n")
        let split = lines.range(of: "\n\n")!
        var headers: [String: String] = [:]
        var last = ""
        for line in lines[..<split.lowerBound].split(separator: "\n") {
            if line.hasPrefix(" ") || line.hasPrefix("\t") {
                headers[last, default: ""] += String(line)
            } else if let colon = line.firstIndex(of: ":") {
                last = line[..<colon].lowercased()
                headers[last] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        self.headers = headers
        func part(_ type: String) -> String {
            guard let start = lines.range(of: "Content-Type: \(type)") else { return "" }
            let rest = lines[start.upperBound...]
            guard let body = rest.range(of: "\n\n") else { return "" }
            let encoded = rest[body.upperBound...].prefix { $0 != "-" }.replacingOccurrences(of: "\n", with: "")
            return String(decoding: Data(base64Encoded: encoded) ?? Data(), as: UTF8.self)
        }
        text = part("text/plain")
        html = part("text/html")
    }
}
