import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
import Logging
import SQLKit
import Testing

@testable import LatchkeyApp

extension Harness {
    /// Five wrong codes after a right password: the member's second factor waits 30 s (Locked).
    func lockSecondFactor(_ email: String, secret: [UInt8], client: some TestClientProtocol) async throws {
        var (session, _) = try await client.login(email)
        let wrong = try code(secret) == "000000" ? "111111" : "000000"
        for _ in 0..<5 {
            _ = try await client.api(.post, "/api/v1/auth/mfa", #"{"code":"\#(wrong)"}"#, session: &session)
        }
    }

    func throttleRows(_ email: String) async throws -> Int {
        try await sql.select().column("key").from("sign_in_throttles").where("email", .equal, email).all().count
    }
}

@Suite("Unlock sign-in: by an administrator within their authority, and by the operator")
struct UnlockTests {
    @Test("an Admin unlocks a Member: the table shows Locked, the unlock clears every counter and is audited")
    func adminUnlocksMember() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", name: "Jane Doe", client: client)
            try await h.lockSecondFactor("jane@acme.test", secret: jane.secret, client: client)
            for _ in 0..<5 {
                _ = await h.attempt("jane@acme.test", password: "guess guess guess", from: "203.0.113.4")
            }
            #expect(try await h.throttleRows("jane@acme.test") == 3)

            let listed = try await client.api(.get, "/api/v1/members?status=locked", session: &admin.session)
            let members = try #require(listed.json["members"] as? [[String: Any]])
            #expect(members.map { $0["email"] as? String } == ["jane@acme.test"])
            #expect(members.first?["locked"] as? Bool == true)

            let unlocked = try await client.api(
                .post, "/api/v1/members/\(jane.id)/unlock", "{}", session: &admin.session)
            #expect(unlocked.status == .ok, "\(unlocked.text)")
            #expect(unlocked.json["locked"] as? Bool == false)
            #expect(unlocked.json["email"] as? String == "jane@acme.test")
            #expect(try await h.throttleRows("jane@acme.test") == 0)
            let event = try #require(try await h.auditEvents(action: .signInUnlocked).last)
            #expect(event.result == "success" && event.targetID == jane.id && event.targetEmail == "jane@acme.test")
            #expect(event.actorEmail == "ada@acme.test")
            #expect(event.reason == "lifted the lock; cleared 3 sign-in counters")
            // Jane signs in again at once, from the address that was waiting too.
            #expect(await h.attempt("jane@acme.test", from: "203.0.113.4") == "ok")
            let after = try await client.api(.get, "/api/v1/members?status=locked", session: &admin.session)
            #expect((after.json["members"] as? [[String: Any]])?.isEmpty == true)
        }
    }

    @Test("100 unlocks at once, racing the member's own wrong codes: no error, every unlock audited, chain intact")
    func concurrentUnlocks() async throws {
        try await Harness.withApp { h, client in
            let admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", client: client)
            try await h.lockSecondFactor("jane@acme.test", secret: jane.secret, client: client)
            let (pending, _) = try await client.login("jane@acme.test")
            let wrong = try h.code(jane.secret) == "000000" ? "111111" : "000000"
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<120 {
                    group.addTask {
                        if index % 6 == 5 {
                            var session = pending
                            return try await client.api(
                                .post, "/api/v1/auth/mfa", #"{"code":"\#(wrong)"}"#, session: &session
                            ).status
                        }
                        var session = admin.session
                        return try await client.api(
                            .post, "/api/v1/members/\(jane.id)/unlock", "{}", session: &session
                        ).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 100)
            #expect(statuses.allSatisfy { [.ok, .unauthorized, .tooManyRequests].contains($0) }, "\(statuses)")
            let unlocks = try await h.auditEvents(action: .signInUnlocked)
            #expect(unlocks.count == 100 && unlocks.allSatisfy { $0.result == "success" })
            // Every wrong code that was checked is counted and audited, whatever the unlocks did around it.
            let checked = statuses.filter { $0 == .unauthorized }.count
            #expect(try await h.auditEvents(action: .signInMFA).filter { $0.result == "failure" }.count == 5 + checked)
            guard case .intact = try await h.services.audit.verify() else {
                Issue.record("audit chain broken")
                return
            }
        }
    }

    @Test(
        "refusals change nothing and are audited: an Admin and an Owner, oneself, no permission, another organization")
    func refusals() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            var member = try await h.enrolled("tom@acme.test", client: client)
            let owner = try await h.enrolled("olivia@acme.test", role: .owner, client: client)
            let outsider = try await h.enrolled("gus@globex.test", organization: h.globex, client: client)
            try await h.lockSecondFactor("olivia@acme.test", secret: owner.secret, client: client)
            try await h.lockSecondFactor("gus@globex.test", secret: outsider.secret, client: client)

            let ownerRefused = try await client.api(
                .post, "/api/v1/members/\(owner.id)/unlock", "{}", session: &admin.session)
            #expect(ownerRefused.status == .forbidden)
            #expect(ownerRefused.errorCode == "insufficient_privilege")
            #expect(try await h.throttleRows("olivia@acme.test") == 1)
            let denied = try #require(try await h.auditEvents(action: .signInUnlocked).last)
            #expect(denied.result == "denied" && denied.targetEmail == "olivia@acme.test")
            #expect(denied.reason == "Not permitted: Owner")

            let selfRefused = try await client.api(
                .post, "/api/v1/members/\(admin.id)/unlock", "{}", session: &admin.session)
            #expect(selfRefused.status == .forbidden && selfRefused.errorCode == "cannot_act_on_self")

            let noPermission = try await client.api(
                .post, "/api/v1/members/\(owner.id)/unlock", "{}", session: &member.session)
            #expect(noPermission.status == .forbidden && noPermission.errorCode == "forbidden")

            // Another organization's member answers exactly like a missing one, and stays locked.
            let other = try await client.api(
                .post, "/api/v1/members/\(outsider.id)/unlock", "{}", session: &admin.session)
            let missing = try await client.api(
                .post, "/api/v1/members/\(UUID())/unlock", "{}", session: &admin.session)
            #expect(other.status == .notFound && missing.status == .notFound)
            #expect(other.text == missing.text)
            #expect(try await h.throttleRows("gus@globex.test") == 1)
            #expect(try await h.auditEvents(action: .signInUnlocked).allSatisfy { $0.targetEmail != "gus@globex.test" })

            // GET never changes anything; bad bodies are 4xx.
            let get = try await client.api(.get, "/api/v1/members/\(owner.id)/unlock", session: &admin.session)
            #expect(get.status == .methodNotAllowed)
            let bad = try await client.api(
                .post, "/api/v1/members/\(owner.id)/unlock", #"{"surprise":1}"#, session: &admin.session)
            #expect(bad.status == .badRequest)
            let badID = try await client.api(.post, "/api/v1/members/nope/unlock", "{}", session: &admin.session)
            #expect(badID.status == .badRequest)
        }
    }

    @Test("the Members page: Locked badge and filter, ⋮ → Unlock sign-in, disabled with its reason for an Owner")
    func page() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", name: "Jane Doe", client: client)
            let owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            _ = try await h.enrolled("tom@acme.test", name: "Tom Free", client: client)
            try await h.lockSecondFactor("jane@acme.test", secret: jane.secret, client: client)
            try await h.lockSecondFactor("olivia@acme.test", secret: owner.secret, client: client)

            let page = try await client.page("/members?status=locked", session: &admin.session)
            #expect(page.status == .ok)
            #expect(page.text.contains("Jane Doe") && page.text.contains("Olivia Owner"))
            #expect(!page.text.contains("Tom Free"))
            #expect(page.text.components(separatedBy: "</span> Locked</span>").count == 3)
            #expect(page.text.contains("data-unlock-member=\"\(jane.id.uuidString.lowercased())\">Unlock sign-in"))
            let ownerHint = "unlock-hint-\(owner.id.uuidString.lowercased())"
            #expect(page.text.contains("aria-describedby=\"\(ownerHint)\""))
            #expect(page.text.contains("id=\"\(ownerHint)\">You can&#39;t unlock an Owner&#39;s sign-in"))

            let csrf = try #require(csrfField(in: page.text))
            let posted = try await client.form(
                "/members/unlock", ["_csrf": csrf, "memberId": jane.id.uuidString, "status": "locked"],
                session: &admin.session)
            #expect(posted.status == .seeOther)
            #expect(posted.location == "/members?status=locked" && posted.notice == "unlocked")
            let shown = try await client.page(posted.location!, session: &admin.session)
            #expect(shown.text.contains("Sign-in unlocked for Jane Doe."))
            #expect(!shown.text.contains("data-unlock-member=\"\(jane.id.uuidString.lowercased())\""))
            #expect(try await h.throttleRows("jane@acme.test") == 0)

            // The forged form for the Owner is refused by the server, whatever the page showed.
            let forged = try await client.form(
                "/members/unlock", ["_csrf": csrf, "memberId": owner.id.uuidString], session: &admin.session)
            #expect(forged.notice == "unlock_higher_privilege")
            #expect(try await h.throttleRows("olivia@acme.test") == 1)
            // Without the CSRF token nothing happens.
            let noToken = try await client.form(
                "/members/unlock", ["memberId": owner.id.uuidString], session: &admin.session)
            #expect(noToken.status == .forbidden)
            let badFilter = try await client.page("/members?status=frozen", session: &admin.session)
            #expect(badFilter.status == .badRequest)
        }
    }

    @Test("latchkey member unlock --email: the operator lifts a hard stop from the shell, audited")
    func cli() async throws {
        let bed = try await CLITestBed.make(label: "unlock-cli")
        var services = try await bed.services()
        let (acme, ownerID) = try await bed.acme(services)
        let bucket = SignInBucket.secondFactor(memberID: ownerID)
        try await services.sql.insert(into: "sign_in_throttles")
            .columns(
                "key", "kind", "email", "member_id", "organization_id", "failures", "last_failed_at", "locked_until"
            )
            .values(
                SQLBind(bucket.key), SQLBind(bucket.kind), SQLBind("owner@acme.test"), SQLBind(ownerID),
                SQLBind(acme.organizationID), SQLBind(50), SQLBind(Int64(0)), SQLBind(SignInThrottles.lockedForGood)
            ).run()
        await services.database.shutdown()

        let (status, printed) = try bed.run(["member", "unlock", "--email", "Owner@Acme.test", "--reason", "INC-9"])
        #expect(status == 0)
        #expect(printed.contains("Sign-in unlocked for Olivia Owner <owner@acme.test> in Acme"))

        services = try await bed.services()
        let left = try await services.sql.select().column("key").from("sign_in_throttles").all()
        let events = try await AuditEventModel.query(on: services.db)
            .filter(\.$action == AuditAction.signInUnlocked.rawValue).all()
        await services.database.shutdown()
        await bed.cleanup()
        #expect(left.isEmpty)
        #expect(events.count == 1)
        #expect(events.first?.actorEmail == "operator" && events.first?.ticket == "INC-9")
        #expect(events.first?.targetEmail == "owner@acme.test" && events.first?.result == "success")
    }
}
