import Foundation
import Testing

@testable import LatchkeyCore

@Suite("Keys, recovery codes, lockout, audit hashing")
struct SecurityPrimitivesTests {
    let key = try! ServerKey(material: RandomSource.system.bytes(32))

    @Test("sealed secrets open only with the same key and context")
    func sealing() throws {
        let secret = RandomSource.system.bytes(20)
        let sealed = try key.seal(secret, context: "member-1")
        #expect(try key.open(sealed, context: "member-1") == secret)
        #expect(throws: (any Error).self) { try key.open(sealed, context: "member-2") }
        let other = try ServerKey(material: RandomSource.system.bytes(32))
        #expect(throws: (any Error).self) { try other.open(sealed, context: "member-1") }
        #expect(!sealed.contains(Base32.encode(secret)))
    }

    @Test("server key material parses from hex and base64 and must be 32 bytes")
    func keyParsing() {
        let bytes = RandomSource.system.bytes(32)
        #expect(ServerKey.parse(hex(bytes)) == bytes)
        #expect(ServerKey.parse(Data(bytes).base64EncodedString()) == bytes)
        #expect(ServerKey.parse("abcd") == nil)
        #expect(throws: LatchkeyError.self) { try ServerKey(material: [1, 2, 3]) }
    }

    @Test("recovery codes: ten distinct, normalised, hashed with the key")
    func recoveryCodes() {
        let codes = RecoveryCodes.generate(using: .system)
        #expect(codes.count == 10)
        #expect(Set(codes).count == 10)
        for code in codes {
            #expect(code.count == 11)
            #expect(
                RecoveryCodes.normalize(code.uppercased().replacingOccurrences(of: "-", with: " "))
                    == code.replacingOccurrences(of: "-", with: ""))
        }
        #expect(RecoveryCodes.normalize("short") == nil)
        #expect(RecoveryCodes.normalize("abcde-fghi0") == nil)  // 0 is not in the alphabet
        let normalized = RecoveryCodes.normalize(codes[0])!
        #expect(key.hashRecoveryCode(normalized) == key.hashRecoveryCode(normalized))
        #expect(
            key.hashRecoveryCode(normalized)
                != (try! ServerKey(material: RandomSource.system.bytes(32))).hashRecoveryCode(normalized))
    }

    @Test("lockout: free attempts, then growing waits, then locked until reset, below NIST's 100")
    func lockout() {
        let policy = LockoutPolicy()
        let t = Date(timeIntervalSince1970: 1_000_000)
        #expect(policy.lockedUntil(failures: 4, lastFailure: t) == nil)
        #expect(policy.lockedUntil(failures: 5, lastFailure: t) == t.addingTimeInterval(30))
        #expect(policy.lockedUntil(failures: 6, lastFailure: t) == t.addingTimeInterval(60))
        #expect(policy.lockedUntil(failures: 40, lastFailure: t) == t.addingTimeInterval(15 * 60))
        #expect(policy.lockedUntil(failures: policy.hardLimit, lastFailure: t) == .distantFuture)
        #expect(policy.hardLimit < 100)
    }

    @Test("an audit hash covers every field and the previous hash")
    func auditHash() {
        let record = AuditRecord(
            chain: "c", seq: 1, organizationID: UUID(), occurredAtMillis: 1, actorID: UUID(), actorEmail: "a@x.test",
            actorRole: "Owner", action: "mfa.reset", targetID: UUID(), targetEmail: "t@x.test", result: "success",
            reason: "", batchID: nil, requestID: "r", ip: "127.0.0.1", userAgent: "ua", ticket: "T-1")
        let base = record.hash(previous: AuditRecord.genesisHash)
        #expect(base.count == 64)
        var changed = record
        changed.result = "failure"
        #expect(changed.hash(previous: AuditRecord.genesisHash) != base)
        changed = record
        changed.ticket = "T-2"
        #expect(changed.hash(previous: AuditRecord.genesisHash) != base)
        #expect(record.hash(previous: String(repeating: "1", count: 64)) != base)
        // Field boundaries are unambiguous.
        var a = record
        a.actorEmail = "ab"
        a.actorRole = "c"
        var b = record
        b.actorEmail = "a"
        b.actorRole = "bc"
        #expect(a.hash(previous: "") != b.hash(previous: ""))
    }
}
