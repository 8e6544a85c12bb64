/// HTML text whose interpolated strings are escaped unless they are themselves `HTML`. Kept as UTF-8 bytes: a page
/// is appended to a few thousand times (a Members page of 50 rows), and appending bytes costs a fraction of
/// appending to a `String`, which checks its capacity, uniqueness and ASCII-ness each time; the response body is
/// made from the bytes without a copy through `String`.
public struct HTML: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public private(set) var bytes: [UInt8]

    public init(unsafe raw: String) { bytes = Array(raw.utf8) }
    init(unsafe bytes: [UInt8]) { self.bytes = bytes }
    public init(stringLiteral value: String) { bytes = Array(value.utf8) }
    public init(stringInterpolation: StringInterpolation) { bytes = stringInterpolation.output }
    /// The text (a copy: for tests and the rare caller that needs a `String`).
    public var raw: String { String(decoding: bytes, as: UTF8.self) }
    public var description: String { raw }

    public static let empty = HTML(unsafe: [])

    public struct StringInterpolation: StringInterpolationProtocol {
        var output: [UInt8] = []
        public init(literalCapacity: Int, interpolationCount: Int) { output.reserveCapacity(literalCapacity * 2) }
        public mutating func appendLiteral(_ literal: String) { output += literal }
        public mutating func appendInterpolation(_ text: String) { HTML.appendEscaped(text, to: &output) }
        public mutating func appendInterpolation(_ html: HTML) {
            // A large part (a page's content inside its layout) is copied once into room made for it and what
            // follows, not through a chain of doubling reallocations.
            let size = html.bytes.count
            if size > 4_096 { output.reserveCapacity(output.count + size + 4_096) }
            output += html.bytes
        }
        public mutating func appendInterpolation(_ list: [HTML]) { for item in list { output += item.bytes } }
        public mutating func appendInterpolation(_ number: Int) { output += String(number) }
    }

    /// Escapes the five characters that matter in text and attribute values.
    public static func escape(_ text: String) -> String {
        var out: [UInt8] = []
        appendEscaped(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `text` escaped to `output`: the runs between special characters are appended whole, so text without
    /// one (most text) is one copy after one scan of its bytes — which keeps rendering a page of 50 members cheap.
    static func appendEscaped(_ text: String, to output: inout [UInt8]) {
        var text = text
        text.withUTF8 { utf8 in
            var runStart = 0
            for index in utf8.indices {
                let entity: StaticString
                switch utf8[index] {
                case UInt8(ascii: "&"): entity = "&amp;"
                case UInt8(ascii: "<"): entity = "&lt;"
                case UInt8(ascii: ">"): entity = "&gt;"
                case UInt8(ascii: "\""): entity = "&quot;"
                case UInt8(ascii: "'"): entity = "&#39;"
                default: continue
                }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                entity.withUTF8Buffer { output.append(contentsOf: $0) }
                runStart = index + 1
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
    }
}

extension [UInt8] {
    /// Appends the UTF-8 bytes of `text` (HTML and JSON are written as bytes).
    static func += (bytes: inout [UInt8], text: String) { bytes.append(contentsOf: text.utf8) }
}
