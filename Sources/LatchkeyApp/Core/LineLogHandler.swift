import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Every log line of the process, on standard error, in `LOG_FORMAT`:
/// - `text` (the default): swift-log's stream lines,
///   `2026-12-02T13:11:49+0000 info latchkey: key=value [Module] message`;
/// - `json`: one object per line, `{"time":…,"level":…,"label":…,"message":…,` then the metadata's keys`}`, for log
///   shippers.
///
/// A line is formatted only when it is written. swift-log's own `StreamLogHandler` formats its metadata again every
/// time a key is set, logged or not: the HTTP server names each request and the PostgreSQL driver each query that
/// way, so at the default level `error` that was 1.5 % of a TOTP sign-in's CPU spent on lines never written. An
/// error handed to the logger (swift-log's `error:`) is written as its type only: its description may carry
/// whatever the failing call was given.
public struct LineLogHandler: LogHandler {
    public enum Format: Sendable {
        case text, json
    }

    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let format: Format

    public init(label: String, format: Format) {
        self.label = label
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        if let error = event.error { fields["error_type"] = "\(type(of: error))" }
        var bytes =
            switch format {
            case .text: text(event, fields)
            case .json: json(event, fields)
            }
        bytes.withUnsafeMutableBytes { buffer in _ = write(2, buffer.baseAddress, buffer.count) }
    }

    private func text(_ event: LogEvent, _ fields: Logger.Metadata) -> [UInt8] {
        var line = Self.localTimestamp() + " \(event.level) \(label):"
        for key in fields.keys.sorted() { line += " \(key)=\(fields[key]!)" }
        line += " [\(event.source)] \(event.message)\n"
        return Array(line.utf8)
    }

    private func json(_ event: LogEvent, _ fields: Logger.Metadata) -> [UInt8] {
        var bytes = Array(#"{"time":""#.utf8)
        bytes.reserveCapacity(256)
        JSONText.appendISO8601(Date(), to: &bytes)
        bytes += #"","level":"#.utf8
        JSONText.appendString(event.level.rawValue, to: &bytes)
        bytes += #","label":"#.utf8
        JSONText.appendString(label, to: &bytes)
        bytes += #","message":"#.utf8
        JSONText.appendString(event.message.description, to: &bytes)
        for key in fields.keys.sorted() where !["time", "level", "label", "message"].contains(key) {
            bytes.append(UInt8(ascii: ","))
            JSONText.appendString(key, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            JSONText.appendString(fields[key].map { "\($0)" } ?? "", to: &bytes)
        }
        bytes += "}\n".utf8
        return bytes
    }

    /// The local time as swift-log writes it (`strftime`'s `%Y-%m-%dT%H:%M:%S%z`).
    private static func localTimestamp() -> String {
        var now = time(nil)
        var local = tm()
        guard localtime_r(&now, &local) != nil else { return "<unknown>" }
        var buffer = [CChar](repeating: 0, count: 64)
        let written = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        return String(decoding: buffer[..<written].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
