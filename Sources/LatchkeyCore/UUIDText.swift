import Foundation

extension UUID {
    /// The lower-case hyphenated form (`lowercasedString`), formatted here: Foundation formats through
    /// `snprintf`, and a page of members writes hundreds of ids into links, attributes and JSON.
    public var lowercasedString: String { format(Self.lowerDigits) }

    /// The upper-case hyphenated form, as `uuidString` gives it.
    public var upperCasedString: String { format(Self.upperDigits) }

    private static let lowerDigits = Array("0123456789abcdef".utf8)
    private static let upperDigits = Array("0123456789ABCDEF".utf8)

    private func format(_ digits: [UInt8]) -> String {
        withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { out in
                var index = 0
                for (position, byte) in bytes.enumerated() {
                    if position == 4 || position == 6 || position == 8 || position == 10 {
                        out[index] = UInt8(ascii: "-")
                        index += 1
                    }
                    out[index] = digits[Int(byte >> 4)]
                    out[index + 1] = digits[Int(byte & 0x0F)]
                    index += 2
                }
                return index
            }
        }
    }
}
