import Foundation
import Testing

@testable import LatchkeyCore

@Suite("Keys, recovery codes, lockout, audit hashing")
struct SecurityPrimitivesTests {
    let key = try! ServerKey(material: RandomSource.system.bytes(32))

    @Test("the system's random source gives exactly the bytes asked for, never the same twice")
    func systemRandom() {
        for count in 0...41 { #expect(RandomSource.system.bytes(count).count == count) }
        let draws = (0..<100).map { _ in RandomSource.system.bytes(32) }
        #expect(Set(draws).count == 100)
        // Every byte value turns up over 64 KiB (each is missing with probability about e^-256).
        #expect(Set(RandomSource.system.bytes(65_536)).count == 256)
    }

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

    @Test("throttles: free failures, then doubling waits to a cap; only second factors stop for good, below NIST's 100")
    func throttleSchedules() {
        let perAddress = ThrottlePolicy.passwordPerAddress
        #expect((1...4).map { perAddress.delay(afterFailures: $0) } == [0, 0, 0, 0])
        #expect((5...11).map { perAddress.delay(afterFailures: $0) } == [30, 60, 120, 240, 480, 900, 900])
        #expect(perAddress.delay(afterFailures: 10_000) == 900, "wrong passwords never lock for good")
        #expect(perAddress.rampSteps.map(\.failures) == [5, 6, 7, 8, 9])

        let perAccount = ThrottlePolicy.passwordPerAccount
        #expect(perAccount.delay(afterFailures: 99) == 0)
        #expect(perAccount.delay(afterFailures: 100) == 60)
        #expect(perAccount.delay(afterFailures: 1_000_000) == 900)
        #expect(perAccount.freeFailures <= 100 && perAccount.hardLimit == nil)

        let factor = ThrottlePolicy.secondFactor
        #expect(factor.delay(afterFailures: 5) == 30)
        #expect(factor.delay(afterFailures: 49) == 900)
        #expect(factor.delay(afterFailures: 50) == nil)
        #expect(factor.hardLimit! <= 100)
    }

    @Test("bucket keys sort second factor < account-wide < per address, so rows are locked in one order")
    func bucketKeys() {
        let id = UUID()
        let keys = [
            SignInBucket.passwordFromAddress(email: "a@x.test", address: "127.0.0.1").key,
            SignInBucket.passwordFromUnfamiliar(email: "a@x.test").key,
            SignInBucket.secondFactor(memberID: id).key,
        ]
        #expect(keys.sorted() == keys.reversed())
    }

    @Test("random UUIDs are version 4 with the RFC 4122 variant, read back by Foundation, and never repeat")
    func randomUUIDs() {
        var seen = Set<UUID>()
        for _ in 0..<10_000 {
            let id = UUID.random()
            let text = id.uuidString
            #expect(Array(text)[14] == "4")
            #expect("89AB".contains(Array(text)[19]))
            #expect(UUID(uuidString: text) == id)
            seen.insert(id)
        }
        #expect(seen.count == 10_000)
        // All 122 random bits vary: OR-ing many ids sets every bit outside the version and variant.
        var any = [UInt8](repeating: 0, count: 16)
        for id in seen.prefix(200) { withUnsafeBytes(of: id.uuid) { for i in 0..<16 { any[i] |= $0[i] } } }
        #expect(any[6] == 0x4F && any[8] == 0xBF)
        #expect(any.enumerated().allSatisfy { $0.offset == 6 || $0.offset == 8 || $0.element == 0xFF })
    }

    @Test("client addresses: IPv4 whole, IPv6 by its /64, IPv4-mapped as IPv4")
    func clientAddresses() {
        #expect(ClientAddress.throttleKey("203.0.113.9") == "203.0.113.9")
        #expect(ClientAddress.throttleKey("::ffff:203.0.113.9") == "203.0.113.9")
        #expect(ClientAddress.throttleKey("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64")
        #expect(ClientAddress.throttleKey("2001:DB8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64")
        #expect(ClientAddress.throttleKey("::1") == "0:0:0:0::/64")
        #expect(ClientAddress.throttleKey("unknown") == "unknown")
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

    @Test("an event through an API token covers the token; an event without one hashes as events always did")
    func auditHashWithToken() {
        let record = AuditRecord(
            chain: "c", seq: 2, organizationID: nil, occurredAtMillis: 5, actorID: nil, actorEmail: "a@x.test",
            actorRole: "Admin", action: "mfa.reset", targetID: nil, targetEmail: "", result: "success", reason: "r",
            batchID: nil, requestID: "q", ip: "::1", userAgent: "", ticket: "")
        // The chain's first form, written before tokens existed, still verifies.
        let fields = [
            "p", "c", "2", "", "5", "", "a@x.test", "Admin", "mfa.reset", "", "", "success", "r", "", "q", "::1", "",
            "",
        ]
        #expect(record.hash(previous: "p") == sha256Hex(fields.map { "\($0.utf8.count):\($0)" }.joined(separator: "|")))
        var viaToken = record
        viaToken.actorTokenID = UUID()
        viaToken.actorTokenName = "script"
        #expect(viaToken.hash(previous: "p") != record.hash(previous: "p"))
        var renamed = viaToken
        renamed.actorTokenName = "other"
        #expect(renamed.hash(previous: "p") != viaToken.hash(previous: "p"))
    }
}

@Test("every denial has the same machine code in Reset MFA's and the lifecycle actions' results")
func denialCodes() {
    for denial in MemberPolicy.Denial.allCases {
        #expect(ResetResultCode(denial).rawValue == denial.rawValue)
        #expect(LifecycleResultCode(denial).rawValue == denial.rawValue)
        #expect(ResetResultCode(denial).outcome == .failed && LifecycleResultCode(denial).outcome == "failed")
    }
}

@Suite("Trusted proxies")
struct ProxyTrustTests {
    @Test("CIDRs parse, and a bad entry is named")
    func parsing() throws {
        let trust = try ProxyTrust.parse("10.0.0.0/8, 192.168.1.10 ,fd00::/8, ::1").get()
        #expect(trust.trusts("10.200.3.4") && trust.trusts("192.168.1.10") && !trust.trusts("192.168.1.11"))
        #expect(trust.trusts("fd12::1") && trust.trusts("::1") && !trust.trusts("fe80::1"))
        #expect(trust.trusts("::ffff:10.0.0.1") && !trust.trusts("11.0.0.1") && !trust.trusts("unknown"))
        for bad in ["10.0.0.0/33", "10.0.0/8", "example.com", "::1/129", "10.0.0.1/x"] {
            guard case .failure(let error) = ProxyTrust.parse("127.0.0.1, " + bad) else {
                Issue.record("\(bad) parsed")
                continue
            }
            #expect(error.entry == bad)
        }
        #expect(!ProxyTrust.none.trusts("127.0.0.1"))
    }

    @Test("the client is the first untrusted hop from the right, only when the peer is trusted")
    func client() throws {
        let trust = try ProxyTrust.parse("10.0.0.0/8").get()
        #expect(trust.client(peer: "203.0.113.1", forwarded: nil, xForwardedFor: "1.2.3.4") == "203.0.113.1")
        #expect(
            trust.client(peer: "10.0.0.2", forwarded: nil, xForwardedFor: "6.6.6.6, 1.2.3.4, 10.0.0.9") == "1.2.3.4")
        #expect(trust.client(peer: "10.0.0.2", forwarded: nil, xForwardedFor: nil) == "10.0.0.2")
        #expect(trust.client(peer: "10.0.0.2", forwarded: nil, xForwardedFor: "10.0.0.7") == "10.0.0.7")
        #expect(trust.client(peer: "10.0.0.2", forwarded: nil, xForwardedFor: "1.2.3.4, garbage") == "10.0.0.2")
        #expect(
            trust.client(
                peer: "10.0.0.2", forwarded: #"for=192.0.2.60;proto=http;by=203.0.113.43"#, xForwardedFor: "9.9.9.9")
                == "192.0.2.60")
        #expect(
            trust.client(
                peer: "10.0.0.2", forwarded: #"For="[2001:db8:cafe::17]:4711", for=10.0.0.5:80"#, xForwardedFor: nil)
                == "2001:db8:cafe::17")
    }

    @Test("a forwarded request id must be a plain token")
    func requestIDs() {
        #expect(isAcceptableRequestID("lb-7f3a9c") && isAcceptableRequestID("Root=1-67891233-abcdef012345678912345678"))
        #expect(
            !isAcceptableRequestID("") && !isAcceptableRequestID("a b")
                && !isAcceptableRequestID(String(repeating: "a", count: 129)))
    }
}
