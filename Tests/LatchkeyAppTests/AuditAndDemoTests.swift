import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import LatchkeySeeding
import LatchkeyStore
import SQLKit
import Testing

@testable import LatchkeyApp

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
                    == .broken(chain: chain, seq: victim.seq, eventID: victim.id, reason: "event content was changed"))
            try await h.sql.update("audit_events").set("result", to: victim.result).where("id", .equal, victim.id!)
                .run()
            // Delete one: the chain breaks at the gap.
            try await h.sql.delete(from: "audit_events").where("id", .equal, victim.id!).run()
            #expect(
                try await audit.verify()
                    == .broken(chain: chain, seq: victim.seq, eventID: nil, reason: "event \(victim.seq) is missing"))
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
