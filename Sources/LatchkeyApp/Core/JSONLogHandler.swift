import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// `LOG_FORMAT=json`: one JSON object per line on standard error —
/// `{"time":…,"level":…,"label":…,"message":…,` then the metadata's keys`}` — for log shippers.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let (level, message) = (event.level, event.message)
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        // An error handed to the logger itself (swift-log's `error:`): its type only — its description may carry
        // whatever the failing call was given.
        if let error = event.error { fields["error_type"] = "\(type(of: error))" }
        var bytes = Array(#"{"time":""#.utf8)
        bytes.reserveCapacity(256)
        JSONText.appendISO8601(Date(), to: &bytes)
        bytes += #"","level":"#.utf8
        JSONText.appendString(level.rawValue, to: &bytes)
        bytes += #","label":"#.utf8
        JSONText.appendString(label, to: &bytes)
        bytes += #","message":"#.utf8
        JSONText.appendString(message.description, to: &bytes)
        for key in fields.keys.sorted() where !["time", "level", "label", "message"].contains(key) {
            bytes.append(UInt8(ascii: ","))
            JSONText.appendString(key, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            JSONText.appendString(fields[key].map { "\($0)" } ?? "", to: &bytes)
        }
        bytes += "}\n".utf8
        bytes.withUnsafeMutableBytes { buffer in _ = write(2, buffer.baseAddress, buffer.count) }
    }
}
