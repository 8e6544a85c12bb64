import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
import Testing

@testable import LatchkeyApp

@Suite("Audit log, settings, mailbox, break-glass")
struct AdminTests {
    @Test("the audit page and API show one event per reset with filters; CSV and JSON Lines export them")
    func auditViews() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", client: client)
            let tom = try await h.enrolled("tom@acme.test", client: client)
            _ = try await client.api(
                .post, "/api/v1/members/mfa/reset", #"{"memberIds":["\#(jane.id)","\#(tom.id)"],"reason":"T-9"}"#,
                session: &admin.session)
            let page = try await client.page("/audit?action=mfa.reset", session: &admin.session)
            #expect(page.status == .ok)
            #expect(page.text.components(separatedBy: "<code>mfa.reset</code>").count - 1 == 2)
            #expect(page.text.contains("jane@acme.test") && page.text.contains("tom@acme.test"))
            #expect(page.text.contains("Ticket: T-9"))
            let api = try await client.api(
                .get, "/api/v1/audit-events?action=mfa.reset&target=jane@acme.test", session: &admin.session)
            let events = try #require(api.json["events"] as? [[String: Any]])
            #expect(events.count == 1)
            #expect((events.first?["target"] as? [String: Any])?["email"] as? String == "jane@acme.test")
            let csv = try await client.page("/audit/export.csv?action=mfa.reset", session: &admin.session)
            #expect(csv.text.hasPrefix("time,organization_id"))
            #expect(csv.text.split(separator: "\r\n").count == 3)
            let jsonl = try await client.page("/audit/export.jsonl", session: &admin.session)
            let lines = jsonl.text.split(separator: "\n")
            #expect(
                lines.count
                    == (try await AuditEventModel.query(on: h.db).filter(\.$organizationID == h.acme.organizationID)
                        .count()))
            #expect(lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })
            // Pages by chain position, newest first.
            let first = try await client.api(.get, "/api/v1/audit-events?limit=2", session: &admin.session)
            let cursor = try #require(first.json["nextCursor"] as? String)
            let second = try await client.api(
                .get, "/api/v1/audit-events?limit=2&cursor=\(cursor)", session: &admin.session)
            let seqs =
                ((first.json["events"] as? [[String: Any]] ?? []) + (second.json["events"] as? [[String: Any]] ?? []))
                .compactMap { $0["seq"] as? Int }
            #expect(seqs == seqs.sorted(by: >) && Set(seqs).count == 4)
            #expect(
                try await client.api(.get, "/api/v1/audit-events?action=nope", session: &admin.session).status
                    == .badRequest)
            // Members without audit.view are refused.
            var plain = try await h.enrolled("mo@acme.test", client: client)
            #expect(try await client.page("/audit", session: &plain.session).status == .forbidden)
        }
    }

    @Test("settings: changes are saved and audited; bad values are refused and change nothing; MFA requirement applies")
    func settings() async throws {
        try await Harness.withApp(requireMFA: false) { h, client in
            var owner = try await h.enrolled("olivia@acme.test", role: .owner, client: client)
            let page = try await client.page("/settings", session: &owner.session)
            #expect(page.status == .ok)
            let bad = try await client.form(
                "/settings",
                ["_csrf": owner.session.csrf!, "stepUpMinutes": "0", "sessionHours": "12", "idleMinutes": "60"],
                session: &owner.session)
            #expect(bad.status == .badRequest)
            #expect(try await OrganizationModel.find(h.acme.organizationID, on: h.db)?.stepUpWindowSeconds == 600)
            let saved = try await client.form(
                "/settings",
                [
                    "_csrf": owner.session.csrf!, "requireMFA": "on", "stepUpMinutes": "5", "sessionHours": "8",
                    "idleMinutes": "30",
                    "notifyOwners": "on",
                ],
                session: &owner.session)
            #expect(saved.location == "/settings" && saved.notice == "saved")
            let org = try #require(try await OrganizationModel.find(h.acme.organizationID, on: h.db))
            #expect(
                org.requireMFA && org.stepUpWindowSeconds == 300 && org.sessionLifetimeSeconds == 28800
                    && org.idleTimeoutSeconds == 1800)
            let events = try await h.auditEvents(action: .settingsChanged)
            #expect(events.count == 1)
            #expect(events.first?.reason.contains("require_mfa: false → true") == true)
            // Now a member without MFA is sent to enrollment.
            try await h.member("sam@acme.test", totp: false)
            let (_, login) = try await client.login("sam@acme.test")
            #expect(login.json["status"] as? String == "enrollment_required")
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            admin.session.csrf = admin.session.csrf
            let adminPage = try await client.page("/settings", session: &owner.session)
            #expect(adminPage.status == .ok)
        }
    }

    @Test("weakening a security setting needs a confirmation naming the effect and a fresh code; owners are mailed")
    func weakening() async throws {
        try await Harness.withApp { h, client in
            var owner = try await h.enrolled("olivia@acme.test", role: .owner, client: client)
            _ = try await h.enrolled("otto@acme.test", role: .owner, client: client)
            let weaker: [String: String] = [
                "_csrf": owner.session.csrf!, "stepUpMinutes": "30", "sessionHours": "12", "idleMinutes": "60",
            ]
            func unchanged() async throws {
                let org = try #require(try await OrganizationModel.find(h.acme.organizationID, on: h.db))
                #expect(org.requireMFA && org.stepUpWindowSeconds == 600)
                #expect(try await h.auditEvents(action: .settingsChanged).isEmpty)
                #expect(try await OutboxMessageModel.query(on: h.db).filter(\.$subject ~~ "weakened").count() == 0)
            }
            // Turning off "Require MFA" and widening the step-up window: asked to confirm, each effect named.
            let asked = try await client.form("/settings", weaker, session: &owner.session)
            #expect(asked.status == .ok)
            #expect(asked.text.contains("Confirm weaker security settings"))
            #expect(asked.text.contains("Members will be able to sign in without MFA."))
            #expect(asked.text.contains("accept an MFA check up to 30 minutes old (now 10)"))
            try await unchanged()
            // Confirmed without a code, or with a wrong one: refused, nothing changes.
            var confirming = weaker
            confirming["confirming"] = "1"
            let noCode = try await client.form("/settings", confirming, session: &owner.session)
            #expect(noCode.status == .forbidden && noCode.text.contains("confirm them with a code"))
            confirming["code"] = "000000" == (try h.code(owner.secret)) ? "111111" : "000000"
            let wrong = try await client.form("/settings", confirming, session: &owner.session)
            #expect(wrong.status.code >= 400 && wrong.status.code < 500)
            #expect(wrong.text.contains("Confirm weaker security settings"))
            try await unchanged()
            // With a fresh code: saved, audited with the step-up, and every owner told what was taken away.
            h.clock.advance(30)
            confirming["code"] = try h.code(owner.secret)
            let saved = try await client.form("/settings", confirming, session: &owner.session)
            #expect(saved.location == "/settings" && saved.notice == "saved", "\(saved.text)")
            let org = try #require(try await OrganizationModel.find(h.acme.organizationID, on: h.db))
            #expect(!org.requireMFA && org.stepUpWindowSeconds == 1800)
            #expect(
                try await h.auditEvents(action: .settingsChanged).first?.reason.contains("require_mfa: true → false")
                    == true)
            #expect(try await h.auditEvents(action: .stepUp).contains { $0.result == "success" })
            let mail = try await OutboxMessageModel.query(on: h.db).filter(
                \.$subject == "Security settings weakened in Acme"
            )
            .all()
            #expect(Set(mail.map(\.toEmail)) == ["olivia@acme.test", "otto@acme.test"])
            #expect(mail.allSatisfy { $0.body.contains("Members will be able to sign in without MFA.") })
            // Making it stronger again asks for nothing.
            var stronger = weaker
            stronger["requireMFA"] = "on"
            stronger["stepUpMinutes"] = "5"
            let back = try await client.form("/settings", stronger, session: &owner.session)
            #expect(back.location == "/settings" && back.notice == "saved")
        }
    }

    @Test("100 saves of the same settings at once: no 5xx, one change, audited once")
    func concurrentSaves() async throws {
        try await Harness.withApp { h, client in
            let owner = try await h.enrolled("olivia@acme.test", role: .owner, client: client)
            let form = [
                "_csrf": owner.session.csrf!, "requireMFA": "on", "stepUpMinutes": "5", "sessionHours": "8",
                "idleMinutes": "30", "notifyOwners": "on",
            ]
            let session = owner.session
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        var mine = session
                        return Int(try await client.form("/settings", form, session: &mine).status.code)
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == 303 || $0 == 302 }, "\(Set(statuses))")
            let org = try #require(try await OrganizationModel.find(h.acme.organizationID, on: h.db))
            #expect(org.stepUpWindowSeconds == 300 && org.sessionLifetimeSeconds == 8 * 3600)
            let events = try await h.auditEvents(action: .settingsChanged)
            #expect(events.count == 1, "\(events.map(\.reason))")
            _ = owner
        }
    }

    @Test("break-glass reset from the shell is audited as the operator and notifies the member")
    func breakGlass() async throws {
        try await Harness.withApp { h, client in
            let owner = try await h.enrolled("olivia@acme.test", role: .owner, client: client)
            let line = try await OperatorTools(services: h.services).resetMFA(
                email: "Olivia@acme.test", reason: "INC-77")
            #expect(line.contains("MFA reset for"))
            #expect(
                try await Footprint.of(owner.id, h)
                    == Footprint(mfaStatus: "reset_pending", credentials: 0, recoveryCodes: 0, sessions: 0))
            let event = try #require(try await h.auditEvents(action: .mfaReset).first)
            #expect(event.actorEmail == "operator" && event.actorRole == "operator" && event.actorID == nil)
            #expect(event.ticket == "INC-77" && event.result == "success")
            #expect(try await OutboxMessageModel.query(on: h.db).filter(\.$toEmail == "olivia@acme.test").count() == 1)
            await #expect(throws: LatchkeyError.self) {
                try await OperatorTools(services: h.services).resetMFA(email: "nobody@acme.test", reason: "")
            }
        }
    }

    @Test("in demo mode the mailbox shows the notification a reset sent")
    func mailbox() async throws {
        try await Harness.withApp(demoMode: true) { h, client in
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", name: "Jane Doe", client: client)
            _ = try await client.api(.post, "/api/v1/members/\(jane.id)/mfa/reset", "{}", session: &admin.session)
            let page = try await client.page("/mailbox", session: &admin.session)
            #expect(page.status == .ok)
            #expect(page.text.contains("Your multi-factor authentication was reset"))
            #expect(page.text.contains("To jane@acme.test"))
            #expect(page.text.contains("Ada Admin (ada@acme.test)"))
        }
    }

    @Test("the demo mailbox exists only in demo mode")
    func mailboxOnlyInDemo() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            #expect(try await client.page("/mailbox", session: &admin.session).status == .notFound)
        }
    }
}
