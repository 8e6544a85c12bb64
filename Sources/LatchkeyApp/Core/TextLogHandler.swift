import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// `LOG_FORMAT=text` (the default): swift-log's stream lines on standard error —
/// `2026-12-02T13:11:49+0000 info latchkey: key=value [Module] message` — written when a line is logged.
///
/// swift-log's own `StreamLogHandler` formats its metadata again every time a key is set, whether or not anything
/// is ever logged: the HTTP server names each request and the PostgreSQL driver each query that way, so at the
/// default level `error` that was 1.5 % of a TOTP sign-in's CPU spent on lines never written. An error handed to
/// the logger is written as its type only, as `JSONLogHandler` does: its description may carry what the failing
/// call was given.
public struct TextLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        if let error = event.error { fields["error_type"] = "\(type(of: error))" }
        var line = Self.timestamp() + " \(event.level) \(label):"
        for key in fields.keys.sorted() { line += " \(key)=\(fields[key]!)" }
        line += " [\(event.source)] \(event.message)\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in _ = write(2, buffer.baseAddress, buffer.count) }
    }

    /// The local time as swift-log writes it (`strftime`'s `%Y-%m-%dT%H:%M:%S%z`).
    private static func timestamp() -> String {
        var now = time(nil)
        var local = tm()
        guard localtime_r(&now, &local) != nil else { return "<unknown>" }
        var buffer = [CChar](repeating: 0, count: 64)
        let written = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        return String(decoding: buffer[..<written].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
