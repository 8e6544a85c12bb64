/// Single-use recovery codes: ten per member, shown once, stored only as keyed hashes.
public enum RecoveryCodes {
    /// How many codes a member gets.
    public static let count = 10
    /// Alphabet without look-alike characters (no 0/O, 1/I/L).
    static let alphabet = Array("abcdefghjkmnpqrstuvwxyz23456789".utf8)

    /// Generates `count` codes of the form `xxxxx-xxxxx` (about 49 bits each).
    public static func generate(using random: RandomSource) -> [String] {
        (0..<count).map { _ in
            let raw = random.bytes(10).map { alphabet[Int($0) % alphabet.count] }
            return String(decoding: raw[0..<5], as: UTF8.self) + "-" + String(decoding: raw[5..<10], as: UTF8.self)
        }
    }

    /// Canonical form of a typed code: lower-case, without spaces or dashes. Nil if it cannot be a code.
    public static func normalize(_ input: String) -> String? {
        var output: [UInt8] = []
        for char in input.utf8 {
            if char == UInt8(ascii: "-") || char == UInt8(ascii: " ") { continue }
            let lower = (char >= 0x41 && char <= 0x5a) ? char + 0x20 : char
            guard alphabet.contains(lower) else { return nil }
            output.append(lower)
        }
        guard output.count == 10 else { return nil }
        return String(decoding: output, as: UTF8.self)
    }
}
