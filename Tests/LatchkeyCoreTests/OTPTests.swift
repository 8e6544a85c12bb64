import Foundation
import Testing

@testable import LatchkeyCore

@Suite("RFC 6238 / RFC 4226 one-time passwords")
struct OTPTests {
    static let seed20 = Array("12345678901234567890".utf8)
    static let seed32 = Array("12345678901234567890123456789012".utf8)
    static let seed64 = Array("1234567890123456789012345678901234567890123456789012345678901234".utf8)

    /// RFC 6238 Appendix B (with the per-algorithm seeds of erratum 2866).
    static let vectors: [(Int64, String, String, String)] = [
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ]

    @Test("RFC 6238 Appendix B, 8 digits, SHA-1/256/512", arguments: vectors)
    func rfc6238(vector: (Int64, String, String, String)) {
        let (time, sha1, sha256, sha512) = vector
        #expect(TOTP(digits: 8, algorithm: .sha1).code(secret: Self.seed20, at: time) == sha1)
        #expect(TOTP(digits: 8, algorithm: .sha256).code(secret: Self.seed32, at: time) == sha256)
        #expect(TOTP(digits: 8, algorithm: .sha512).code(secret: Self.seed64, at: time) == sha512)
    }

    @Test("RFC 4226 Appendix D")
    func rfc4226() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489",
        ]
        for (counter, code) in expected.enumerated() {
            #expect(HOTP.code(secret: Self.seed20, counter: UInt64(counter)) == code)
        }
    }

    @Test("six digits keep leading zeros")
    func sixDigits() {
        #expect(TOTP.standard.code(secret: Self.seed20, at: 59) == "287082")
        #expect(TOTP.standard.code(secret: Self.seed20, at: 1_111_111_109) == "081804")
    }

    @Test("a code is accepted one step either side and refused two steps away")
    func window() {
        let totp = TOTP.standard
        let now: Int64 = 1_700_000_015
        let step = totp.step(at: now)
        for offset: Int64 in [-1, 0, 1] {
            let code = HOTP.code(secret: Self.seed20, counter: UInt64(step + offset))
            #expect(totp.matchingStep(code: code, secret: Self.seed20, at: now, after: nil) == step + offset)
        }
        for offset: Int64 in [-2, 2] {
            let code = HOTP.code(secret: Self.seed20, counter: UInt64(step + offset))
            #expect(totp.matchingStep(code: code, secret: Self.seed20, at: now, after: nil) == nil)
        }
    }

    @Test("a step at or before the last used one is refused (replay)")
    func replay() {
        let totp = TOTP.standard
        let now: Int64 = 1_700_000_015
        let step = totp.step(at: now)
        let code = totp.code(secret: Self.seed20, at: now)
        #expect(totp.matchingStep(code: code, secret: Self.seed20, at: now, after: step - 1) == step)
        #expect(totp.matchingStep(code: code, secret: Self.seed20, at: now, after: step) == nil)
        #expect(totp.matchesIgnoringReplay(code: code, secret: Self.seed20, at: now))
        // An older code from the window is refused once a later step was used.
        let previous = HOTP.code(secret: Self.seed20, counter: UInt64(step - 1))
        #expect(totp.matchingStep(code: previous, secret: Self.seed20, at: now, after: step) == nil)
    }

    @Test("codes must be exactly six ASCII digits")
    func codeFormat() {
        #expect(OTPCodeFormat.isSixDigits("012345"))
        for bad in ["12345", "1234567", "12 456", "abcdef", "١٢٣٤٥٦", "１２３４５６", "", "12345\n"] {
            #expect(!OTPCodeFormat.isSixDigits(bad), "\(bad) must be refused")
        }
    }

    @Test("oathtool, a real TOTP client, agrees with our codes for random secrets")
    func oathtoolAgrees() throws {
        for index in 0..<5 {
            let secret = RandomSource.system.bytes(20)
            let time: Int64 = 1_600_000_000 + Int64(index) * 7_777_777
            let output = try run("oathtool", ["--totp", "-b", "-N", "@\(time)", Base32.encode(secret)])
            #expect(output == TOTP.standard.code(secret: secret, at: time))
        }
    }

    @Test("Base32 matches RFC 4648 and round-trips")
    func base32() {
        #expect(Base32.encode(Array("foobar".utf8)) == "MZXW6YTBOI")
        #expect(Base32.encode(Array("f".utf8)) == "MY")
        #expect(Base32.decode("mzxw 6ytb oi") == Array("foobar".utf8))
        #expect(Base32.decode("MZXW1") == nil)
        let bytes = RandomSource.system.bytes(20)
        #expect(Base32.decode(Base32.encode(bytes)) == bytes)
        #expect(Base32.encode(bytes).count == 32)
    }
}

func run(_ tool: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}
