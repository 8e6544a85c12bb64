/// HTML text whose interpolated strings are escaped unless they are themselves `HTML`.
public struct HTML: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public private(set) var raw: String

    public init(unsafe raw: String) { self.raw = raw }
    public init(stringLiteral value: String) { raw = value }
    public init(stringInterpolation: StringInterpolation) { raw = stringInterpolation.output }
    public var description: String { raw }

    public static let empty = HTML(unsafe: "")

    public struct StringInterpolation: StringInterpolationProtocol {
        var output = ""
        public init(literalCapacity: Int, interpolationCount: Int) { output.reserveCapacity(literalCapacity * 2) }
        public mutating func appendLiteral(_ literal: String) { output += literal }
        public mutating func appendInterpolation(_ text: String) { HTML.appendEscaped(text, to: &output) }
        public mutating func appendInterpolation(_ html: HTML) {
            // A large part (a page's content inside its layout) is copied once into room made for it and what
            // follows, not through a chain of doubling reallocations.
            let size = html.raw.utf8.count
            if size > 4_096 { output.reserveCapacity(output.utf8.count + size + 4_096) }
            output += html.raw
        }
        public mutating func appendInterpolation(_ list: [HTML]) { for item in list { output += item.raw } }
        public mutating func appendInterpolation(_ number: Int) { output += String(number) }
    }

    /// Escapes the five characters that matter in text and attribute values.
    public static func escape(_ text: String) -> String {
        var out = ""
        appendEscaped(text, to: &out)
        return out
    }

    /// Appends `text` escaped to `output`: text without a special character (most text) is appended whole after
    /// one scan of its bytes, and otherwise the runs between special characters are — which keeps rendering a
    /// page of 50 members cheap.
    static func appendEscaped(_ text: String, to output: inout String) {
        let special = text.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.firstIndex { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }
        }
        if case .some(.none) = special {
            output += text
            return
        }
        let utf8 = text.utf8
        var runStart = utf8.startIndex
        var index = runStart
        while index != utf8.endIndex {
            let entity: String? =
                switch utf8[index] {
                case UInt8(ascii: "&"): "&amp;"
                case UInt8(ascii: "<"): "&lt;"
                case UInt8(ascii: ">"): "&gt;"
                case UInt8(ascii: "\""): "&quot;"
                case UInt8(ascii: "'"): "&#39;"
                default: nil
                }
            if let entity {
                // The special characters are ASCII, so `index` is a character boundary.
                output += text[runStart..<index]
                output += entity
                runStart = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        output += text[runStart..<utf8.endIndex]
    }
}
