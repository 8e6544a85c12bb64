import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import LatchkeySeeding
import LatchkeyStore
import Logging
import SQLKit
import Synchronization
import Testing

@testable import LatchkeyApp
@testable import LatchkeyStore

@Suite("Audit chain and demo data")
struct AuditAndDemoTests {
    @Test("the audit chain verifies, and names the first event changed or deleted")
    func chain() async throws {
        try await Harness.withApp { h, client in
            let (_, secret) = try await h.member("jane@acme.test", totp: true)
            var session = try await client.signIn("jane@acme.test", code: try h.code(secret!))
            _ = try await client.api(.post, "/api/v1/auth/logout", session: &session)
            let audit = h.services.audit
            guard case .intact(let count) = try await audit.verify() else {
                Issue.record("chain should be intact")
                return
            }
            #expect(count == (try await AuditEventModel.query(on: h.db).count()))
            let chain = h.acme.organizationID.uuidString.lowercased()
            let events = try await AuditEventModel.query(on: h.db).filter(\.$chain == chain).sort(\.$seq).all()
            #expect(events.count >= 4)
            // Every event carries actor, target, request id and address.
            let mfa = try #require(events.first { $0.action == AuditAction.signInMFA.rawValue })
            #expect(mfa.actorEmail == "jane@acme.test")
            #expect(!mfa.requestID.isEmpty)

            // Change one event's result: the chain breaks exactly there.
            let victim = events[2]
            try await h.sql.update("audit_events").set("result", to: "failure").where("id", .equal, victim.id!).run()
            #expect(
                try await audit.verify()
                    == .broken(
                        chain: chain, seq: victim.seq, eventID: victim.id,
                        reason: "event content was changed (its keyed link does not match)"))
            try await h.sql.update("audit_events").set("result", to: victim.result).where("id", .equal, victim.id!)
                .run()
            // Delete one: the chain breaks at the gap.
            try await h.sql.delete(from: "audit_events").where("id", .equal, victim.id!).run()
            #expect(
                try await audit.verify()
                    == .broken(chain: chain, seq: victim.seq, eventID: nil, reason: "event \(victim.seq) is missing"))
        }
    }

    /// What someone with write access to the database but not the key does: change an event and re-hash the chain
    /// from there, as the unkeyed chain allowed.
    static func rewrite(_ h: Harness, chain: String, from victim: Int64, reason: String, version: Int) async throws {
        let events = try await AuditEventModel.query(on: h.db).filter(\.$chain == chain).sort(\.$seq).all()
        var previous = events.first { $0.seq == victim - 1 }?.hash ?? AuditRecord.genesisHash
        for event in events where event.seq >= victim {
            if event.seq == victim { event.reason = reason }
            let hash = event.record.hash(previous: previous)
            try await h.sql.update("audit_events").set("reason", to: event.reason).set("prev_hash", to: previous)
                .set("hash", to: hash).set("chain_version", to: version).where("id", .equal, event.id!).run()
            previous = hash
        }
        try await h.sql.update("audit_chain_heads").set("hash", to: previous).where("chain", .equal, chain).run()
    }

    @Test("keyed chain: an event changed and re-hashed without the key is caught, as is a chain rewritten unkeyed")
    func keyedChain() async throws {
        try await Harness.withApp { h, client in
            let (_, secret) = try await h.member("jane@acme.test", totp: true)
            var session = try await client.signIn("jane@acme.test", code: try h.code(secret!))
            _ = try await client.api(.post, "/api/v1/auth/logout", session: &session)
            let chain = h.acme.organizationID.uuidString.lowercased()
            let events = try await AuditEventModel.query(on: h.db).filter(\.$chain == chain).sort(\.$seq).all()
            #expect(events.count >= 4 && events.allSatisfy { $0.chainVersion == AuditChainKey.keyedVersion })
            let snapshot = events.map { ($0.id!, $0.reason, $0.prevHash, $0.hash) }
            let head = try #require(try await h.services.audit.heads(organizationID: h.acme.organizationID).first)
            func restore() async throws {
                for (id, reason, prev, hash) in snapshot {
                    try await h.sql.update("audit_events").set("reason", to: reason).set("prev_hash", to: prev)
                        .set("hash", to: hash).set("chain_version", to: AuditChainKey.keyedVersion)
                        .where("id", .equal, id).run()
                }
                try await h.sql.update("audit_chain_heads").set("hash", to: head.hash).where("chain", .equal, chain)
                    .run()
                #expect(
                    try await h.services.audit.verify()
                        == .intact(events: try await AuditEventModel.query(on: h.db).count()))
            }
            let victim = events[2]
            for (from, version, seq, eventID, reason) in [
                // Re-hashed as the old chain did (SHA-256) but still claiming to be keyed: the link does not match.
                (victim.seq, 2, victim.seq, victim.id, "event content was changed (its keyed link does not match)"),
                // Re-hashed and passed off as unkeyed events: an unkeyed event cannot follow keyed ones.
                (
                    victim.seq, 1, victim.seq, victim.id,
                    "an unkeyed event follows keyed ones (rewritten without the key)"
                ),
                // The whole chain rewritten unkeyed from its first event: its head's signature gives it away.
                (1, 1, head.seq, nil, "the chain head is not signed with the audit key (the chain was rewritten)"),
            ] as [(Int64, Int, Int64, UUID?, String)] {
                try await Self.rewrite(h, chain: chain, from: from, reason: "nothing to see", version: version)
                #expect(
                    try await h.services.audit.verify()
                        == .broken(chain: chain, seq: seq, eventID: eventID, reason: reason))
                try await restore()
            }
            // Its head removed as well: noticed.
            try await h.sql.delete(from: "audit_chain_heads").where("chain", .equal, chain).run()
            #expect(
                try await h.services.audit.verify()
                    == .broken(chain: chain, seq: head.seq, eventID: nil, reason: "the chain's head was removed"))
        }
    }

    @Test(
        "checkpoints: signed heads kept elsewhere prove nothing before them was removed or changed; forgeries refused")
    func checkpoints() async throws {
        try await Harness.withApp { h, client in
            let (_, secret) = try await h.member("jane@acme.test", totp: true)
            var session = try await client.signIn("jane@acme.test", code: try h.code(secret!))
            _ = try await client.api(.post, "/api/v1/auth/logout", session: &session)
            let tools = OperatorTools(services: h.services)
            let chain = h.acme.organizationID.uuidString.lowercased()
            let taken = try await tools.checkpointAudit(organizationSlug: "acme")
            let checkpoint = try JSONDecoder().decode(AuditChainKey.Checkpoint.self, from: Data(taken.utf8))
            #expect(
                checkpoint.chain == chain && checkpoint.seq >= 4 && checkpoint.isSigned(by: h.services.audit.chainKey!))
            // Later events do not disturb it.
            h.clock.advance(30)
            _ = try await client.signIn("jane@acme.test", code: try h.code(secret!))
            guard case .intact = try await tools.verifyAudit(checkpoints: taken) else {
                Issue.record("a checkpoint of an intact chain should verify")
                return
            }
            // A forged checkpoint (moved back to hide a cut) is refused: its signature is not the key's.
            var forged = checkpoint
            forged.seq -= 1
            let forgedLine = String(decoding: try JSONEncoder().encode(forged), as: UTF8.self)
            await #expect(throws: LatchkeyError.self) { _ = try await tools.verifyAudit(checkpoints: forgedLine) }
            // Events up to the checkpoint removed, and the head moved back and re-signed as if by the server (say by
            // someone who once held the key): the checkpoint still shows it.
            let key = h.services.audit.chainKey!
            let keep = checkpoint.seq - 2
            try await h.sql.delete(from: "audit_events").where("chain", .equal, chain).where("seq", .greaterThan, keep)
                .run()
            let last = try #require(
                try await AuditEventModel.query(on: h.db).filter(\.$chain == chain).filter(\.$seq == keep).first())
            try await h.sql.update("audit_chain_heads").set("seq", to: keep).set("hash", to: last.hash)
                .set("head_mac", to: AuditChainKey.headMAC(chain: chain, seq: keep, hash: last.hash, key: key))
                .where("chain", .equal, chain).run()
            guard case .intact = try await tools.verifyAudit() else {
                Issue.record("without the checkpoint, a cleanly cut chain looks whole")
                return
            }
            #expect(
                try await tools.verifyAudit(checkpoints: taken)
                    == .broken(
                        chain: chain, seq: keep + 1, eventID: nil,
                        reason:
                            "events up to \(checkpoint.seq), which the checkpoint taken at \(checkpoint.at) holds, are missing"
                    ))
        }
    }

    @Test("120 concurrent appenders to one chain: all land, in order, none refused; a cut tail is noticed")
    func concurrentAppends() async throws {
        try await Harness.withApp { h, _ in
            let services = h.services
            let org = h.acme.organizationID
            let chain = org.uuidString.lowercased()
            let before = try await AuditEventModel.query(on: h.db).filter(\.$chain == chain).count()
            let total = try await AuditEventModel.query(on: h.db).count()
            // 100 writers at once, one event each, and 20 writing five at once: every one lands, in one line.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<120 {
                    group.addTask {
                        let entry = AuditEntry(
                            organizationID: org, action: .settingsChanged, result: .success, reason: "\(index)")
                        try await services.audit.appendAll(
                            Array(repeating: entry, count: index < 100 ? 1 : 5), at: services.now)
                    }
                }
                try await group.waitForAll()
            }
            let seqs = try await AuditEventModel.query(on: h.db).filter(\.$chain == chain).sort(\.$seq).all().map(\.seq)
            #expect(seqs == Array(1...Int64(before + 200)))
            guard case .intact(let events) = try await services.audit.verify() else {
                Issue.record("chain forked")
                return
            }
            #expect(events == total + 200)
            // Removing events from the end is noticed too: the chain head still names the last one written.
            let last = before + 200
            try await h.sql.delete(from: "audit_events").where("chain", .equal, chain)
                .where("seq", .greaterThan, last - 2).run()
            guard case .broken(_, let seq, _, let reason) = try await services.audit.verify() else {
                Issue.record("truncation not noticed")
                return
            }
            #expect(seq == Int64(last - 1))
            #expect(reason == "events after \(last - 2) are missing (the chain head is at \(last))")
            // A head moved back to hide the cut (seq, but not hash) is noticed too.
            try await h.sql.update("audit_chain_heads").set("seq", to: Int64(last - 2)).where("chain", .equal, chain)
                .run()
            #expect(
                try await services.audit.verify()
                    == .broken(
                        chain: chain, seq: Int64(last - 2), eventID: nil,
                        reason: "the chain head does not match event \(last - 2)"))
            // Events beyond the head were written around it.
            try await h.sql.update("audit_chain_heads").set("seq", to: Int64(last - 3)).where("chain", .equal, chain)
                .run()
            #expect(
                try await services.audit.verify()
                    == .broken(
                        chain: chain, seq: Int64(last - 2), eventID: nil,
                        reason: "events after \(last - 3) were written past the chain head"))
        }
    }

    @Test(
        "two instances appending to one chain, in turn and at once: each continues from the head it left only while it is still there"
    )
    func rememberedHeads() async throws {
        try await Harness.withApp { h, _ in
            let org = h.acme.organizationID
            let chain = org.uuidString.lowercased()
            let first = h.services.database
            // A second instance on the same database, with the same chain key and its own memory of heads.
            var logger = Logger(label: "second")
            logger.logLevel = .warning
            let second = try LatchkeyDatabase(location: first.location, logger: logger)
            defer { Task { await second.shutdown() } }
            second.auditSetup.chainKey = first.auditSetup.chainKey
            let before = try await AuditEventModel.query(on: h.db).filter(\.$chain == chain).count()
            func append(_ db: LatchkeyDatabase, _ reason: String, count: Int = 1) async throws {
                let entry = AuditEntry(organizationID: org, action: .settingsChanged, result: .success, reason: reason)
                try await db.store.audit.appendAll(Array(repeating: entry, count: count), at: h.clock.now)
            }
            let counts = { (db: LatchkeyDatabase) in
                (db.auditSetup.continued.load(ordering: .relaxed), db.auditSetup.headMoved.load(ordering: .relaxed))
            }
            // In turn: the first instance writes twice, continuing from the head it left (the harness's own events
            // were written through it), then the second instance, which remembers nothing and reads the head, then the
            // first again: it finds the head moved and reads it, and continues from there after.
            let (continued, moved) = counts(first)
            try await append(first, "a1")
            try await append(first, "a2", count: 2)
            try await append(second, "b1")
            try await append(first, "a3")
            try await append(first, "a4")
            if TestDatabase.isPostgres {
                #expect(counts(first) == (continued + 3, moved + 1))
                #expect(counts(second) == (0, 0))
            } else {
                // SQLite's one writer has no round trip to save: every append reads the head.
                #expect(counts(first) == (0, 0))
            }
            // At once, from both instances: every event lands once, in one line.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<60 {
                    group.addTask { try await append(index.isMultiple(of: 2) ? first : second, "c\(index)") }
                }
                try await group.waitForAll()
            }
            let events = try await AuditEventModel.query(on: h.db).filter(\.$chain == chain).sort(\.$seq).all()
            #expect(events.map(\.seq) == Array(1...Int64(before + 66)))
            let reasons = events.dropFirst(before).map(\.reason)
            #expect(Array(reasons.prefix(6)) == ["a1", "a2", "a2", "b1", "a3", "a4"])
            #expect(Set(reasons.dropFirst(6)) == Set((0..<60).map { "c\($0)" }) && reasons.count == 66)
            guard case .intact = try await h.services.audit.verify() else {
                Issue.record("the chain does not verify")
                return
            }
        }
    }

    @Test("demo data: Acme with 300+ members in every MFA state, Globex, idempotent, secrets that work")
    func demo() async throws {
        try await Harness.withApp { h, client in
            // The harness made empty Acme/Globex organizations; the seeder's own live in a fresh database,
            // so drop those first.
            try await OrganizationModel.query(on: h.db).delete()
            let seeder = DemoSeeder(services: h.services)
            let first = try await seeder.seed()
            let second = try await seeder.seed()
            #expect(first.count == second.count)
            let acme = first.filter { $0.organization == "Acme" }
            #expect(acme.count >= 300)
            #expect(Set(acme.map(\.mfaStatus)) == ["enabled", "not_set_up", "reset_pending"])
            #expect(Set(acme.map(\.role)).isSuperset(of: ["Owner", "Admin", "Help desk", "Member"]))
            #expect(first.contains { $0.organization == "Globex" && $0.role == "Owner" })
            #expect(acme.allSatisfy { ($0.totpSecret != nil) == ($0.mfaStatus == "enabled") })
            let memberCount = try await MemberModel.query(on: h.db).filter(\.$status != "invited").count()
            #expect(memberCount == first.count)
            // Three pending invitations from the owner, their links in the demo mailbox.
            let invited = try await MemberModel.query(on: h.db).filter(\.$status == "invited").all()
            #expect(invited.count == 3)
            let invitations = try await OutboxMessageModel.query(on: h.db).all().filter {
                $0.subject == "Olivia Owner invited you to Acme on Latchkey"
            }
            #expect(Set(invitations.map(\.toEmail)) == Set(invited.map(\.email)))
            // A suspended member (audited as the operator's doing) and one locked out for good by wrong codes.
            #expect(
                try await MemberModel.query(on: h.db).filter(\.$status == "suspended").all().map(\.email) == [
                    "sid.stone@acme.test"
                ])
            let lou = try #require(
                try await MemberModel.query(on: h.db).filter(\.$email == "lou.meyer@acme.test").first())
            let locks = try await h.services.store.throttles.lockedUntil(memberIDs: [lou.id!], now: h.clock.now)
            #expect(locks[lou.id!] == .distantFuture)
            #expect(try await h.auditEvents(action: .memberSuspended).map(\.targetEmail) == ["sid.stone@acme.test"])

            let owner = try #require(acme.first { $0.email == "owner@acme.test" })
            let code = try oathtool(secret: Base32.decode(owner.totpSecret!)!, unix: h.clock.unix)
            var (session, _) = try await client.login(owner.email, password: owner.password)
            let mfa = try await client.api(.post, "/api/v1/auth/mfa", #"{"code":"\#(code)"}"#, session: &session)
            #expect(mfa.status == .ok)
            let me = try await client.api(.get, "/api/v1/auth/session", session: &session)
            #expect(me.json["role"] as? String == "Owner")
        }
    }
}
