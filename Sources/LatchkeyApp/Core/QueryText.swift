/// A URL's query string from names and values, every byte but the unreserved ones (RFC 3986: letters, digits,
/// `-._~`) percent-encoded — so `&`, `=`, `+` and `%` in a value never change what the query says. Written by
/// hand: the Members page builds half a dozen links per request, and `URLComponents` spent more on each than
/// the rest of the link.
enum QueryText {
    static func encode(_ items: [(String, String)]) -> String {
        var text = ""
        for (index, (name, value)) in items.enumerated() {
            if index > 0 { text += "&" }
            append(name, to: &text)
            text += "="
            append(value, to: &text)
        }
        return text
    }

    private static let hex = Array("0123456789ABCDEF".utf8)

    private static func append(_ part: String, to text: inout String) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(part.utf8.count)
        for byte in part.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                bytes.append(byte)
            default:
                bytes.append(contentsOf: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            }
        }
        text += String(decoding: bytes, as: UTF8.self)
    }
}
