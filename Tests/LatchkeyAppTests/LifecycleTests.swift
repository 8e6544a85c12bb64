import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
import Logging
import NIOCore
import SQLKit
import Testing

@testable import LatchkeyApp

extension Harness {
    /// A member's row as it is now (nil once removed).
    func row(_ id: UUID) async throws -> MemberModel? { try await MemberModel.find(id, on: db) }

    func sessions(of id: UUID) async throws -> Int {
        try await SessionModel.query(on: db).filter(\.$memberID == id).count()
    }

    func mails(to email: String) async throws -> [OutboxMessageModel] {
        try await OutboxMessageModel.query(on: db).filter(\.$toEmail == email).all()
    }
}

@Suite("Change role, suspend, reactivate, remove: the rules by their effects")
struct LifecycleTests {
    @Test("an Owner changes a role, suspends, reactivates and removes: state, sessions, mail and audit follow")
    func ownerActs() async throws {
        try await Harness.withApp { h, client in
            var owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            var jane = try await h.enrolled("jane@acme.test", name: "Jane Doe", client: client)
            let adminRole = h.acme.roles[.admin]!

            let promoted = try await client.api(
                .post, "/api/v1/members/\(jane.id)/role", #"{"roleId":"\#(adminRole)","reason":"T-1"}"#,
                session: &owner.session)
            #expect(promoted.status == .ok, "\(promoted.text)")
            #expect(promoted.json["role"] as? String == "Admin")
            #expect(promoted.json["status"] as? String == "active")
            #expect(try await h.row(jane.id)?.roleID == adminRole)
            // Jane's next request already has Admin's permissions.
            #expect(try await client.api(.get, "/api/v1/members", session: &jane.session).status == .ok)

            let suspended = try await client.api(
                .post, "/api/v1/members/\(jane.id)/suspend", "{}", session: &owner.session)
            #expect(suspended.json["status"] as? String == "suspended")
            #expect(try await h.row(jane.id)?.status == "suspended")
            #expect(try await h.sessions(of: jane.id) == 0)
            // Her open session is gone at its next click, and her password no longer signs in.
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &jane.session).status == .unauthorized)
            #expect(await h.attempt("jane@acme.test", from: "198.51.100.7") == "invalid_credentials")
            let again = try await client.api(.post, "/api/v1/members/\(jane.id)/suspend", "{}", session: &owner.session)
            #expect(again.status == .ok)
            #expect(try await h.auditEvents(action: .memberSuspended).last?.result == "skipped")

            let reactivated = try await client.api(
                .post, "/api/v1/members/\(jane.id)/reactivate", "{}", session: &owner.session)
            #expect(reactivated.json["status"] as? String == "active")
            #expect(await h.attempt("jane@acme.test", from: "198.51.100.7") == "ok")

            let removed = try await client.api(
                .post, "/api/v1/members/\(jane.id)/remove", #"{"reason":"left the company"}"#, session: &owner.session)
            #expect(removed.status == .ok)
            #expect(removed.json["status"] as? String == "removed")
            #expect(try await h.row(jane.id) == nil)
            #expect(try await h.sessions(of: jane.id) == 0)
            #expect(try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID == jane.id).count() == 0)
            #expect(await h.attempt("jane@acme.test", from: "198.51.100.7") == "invalid_credentials")

            // Every step audited with before → after, and kept after the removal.
            let role = try #require(try await h.auditEvents(action: .roleChanged).last)
            #expect(role.reason == "role: Member → Admin" && role.ticket == "T-1" && role.targetID == jane.id)
            #expect(try await h.auditEvents(action: .memberSuspended).first?.reason == "status: active → suspended")
            #expect(try await h.auditEvents(action: .memberReactivated).last?.reason == "status: suspended → active")
            let removal = try #require(try await h.auditEvents(action: .memberRemoved).last)
            #expect(removal.targetEmail == "jane@acme.test" && removal.ticket == "left the company")
            #expect(try await h.auditEvents(action: .signInPassword).contains { $0.targetID == jane.id })
            // …and told by mail each time.
            let subjects = try await h.mails(to: "jane@acme.test").map(\.subject).sorted()
            #expect(
                subjects == [
                    "You were removed from Acme", "Your Acme account was reactivated",
                    "Your Acme account was suspended",
                    "Your role in Acme changed",
                ])
            guard case .intact = try await h.services.audit.verify() else {
                Issue.record("audit chain broken")
                return
            }
        }
    }

    @Test("refusals change nothing and are audited: higher role, granting more, oneself, no permission, elsewhere")
    func refusals() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            var plain = try await h.enrolled("mo@acme.test", client: client)
            let owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            let jane = try await h.enrolled("jane@acme.test", client: client)
            let (stranger, _) = try await h.member("gus@globex.test", organization: h.globex, totp: false)
            let ownerRole = h.acme.roles[.owner]!

            let cases: [(String, String, HTTPResponse.Status, String)] = [
                ("/api/v1/members/\(owner.id)/suspend", "{}", .forbidden, "insufficient_privilege"),
                ("/api/v1/members/\(jane.id)/role", #"{"roleId":"\#(ownerRole)"}"#, .forbidden, "role_not_grantable"),
                ("/api/v1/members/\(admin.id)/remove", "{}", .forbidden, "cannot_act_on_self"),
                ("/api/v1/members/\(stranger)/remove", "{}", .notFound, "not_found"),
                ("/api/v1/members/\(UUID())/suspend", "{}", .notFound, "not_found"),
            ]
            for (path, body, status, code) in cases {
                let response = try await client.api(.post, path, body, session: &admin.session)
                #expect(response.status == status, "\(path)")
                #expect(response.errorCode == code, "\(path)")
            }
            let byMember = try await client.api(
                .post, "/api/v1/members/\(jane.id)/suspend", "{}", session: &plain.session)
            #expect(byMember.status == .forbidden && byMember.errorCode == "forbidden")
            // A role of another organization is not a role here.
            let foreignRole = h.globex.roles[.member]!
            let foreign = try await client.api(
                .post, "/api/v1/members/\(jane.id)/role", #"{"roleId":"\#(foreignRole)"}"#, session: &admin.session)
            #expect(foreign.status == .badRequest && foreign.errorCode == "invalid_role")

            // Nothing changed.
            #expect(try await h.row(owner.id)?.status == "active")
            #expect(try await h.row(jane.id)?.roleID == h.acme.roles[.member]!)
            #expect(try await h.row(admin.id) != nil)
            #expect(try await h.row(stranger) != nil)
            #expect(try await h.sessions(of: owner.id) == 1)
            // Each refusal on the record (the unknown id and the foreign member alike, without an email).
            let denied = try await AuditEventModel.query(on: h.db).filter(\.$result == "denied").all()
            #expect(denied.count == 6)
            #expect(denied.contains { $0.targetID == owner.id && $0.reason == "Not permitted: Owner" })
            #expect(denied.contains { $0.targetID == stranger && $0.targetEmail == "" })
            #expect(try await OutboxMessageModel.query(on: h.db).count() == 0)
        }
    }

    @Test("the last active Owner can be neither demoted, suspended nor removed — not even by the operator's path")
    func lastOwner() async throws {
        try await Harness.withApp { h, client in
            let owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            // A custom role with every permission is not the Owner role: it may act on the Owner, within the rule.
            let everything = try await OrganizationService(services: h.services).createRole(
                organizationID: h.acme.organizationID, name: "Root", permissions: Set(Permission.allCases))
            let (rootID, rootSecret) = try await h.member("root@acme.test", totp: true)
            try await MemberModel.query(on: h.db).filter(\.$id == rootID).set(\.$roleID, to: everything).update()
            var root = try await client.signIn("root@acme.test", code: try h.code(rootSecret!))
            for (path, body) in [
                ("/api/v1/members/\(owner.id)/suspend", "{}"), ("/api/v1/members/\(owner.id)/remove", "{}"),
                ("/api/v1/members/\(owner.id)/role", #"{"roleId":"\#(h.acme.roles[.admin]!)"}"#),
            ] {
                let response = try await client.api(.post, path, body, session: &root)
                #expect(response.status == .forbidden && response.errorCode == "last_owner", "\(path)")
            }
            #expect(try await h.row(owner.id)?.status == "active")
            #expect(try await h.row(owner.id)?.roleID == h.acme.roles[.owner]!)
            // With a second Owner, one of them may go — within one request too: the first named is demoted, the
            // second is then the last.
            let otto = try await h.enrolled("otto@acme.test", name: "Otto Owner", role: .owner, client: client)
            let both = try await client.api(
                .post, "/api/v1/members/role",
                #"{"memberIds":["\#(otto.id)","\#(owner.id)"],"roleId":"\#(h.acme.roles[.admin]!)"}"#, session: &root)
            let codes = (both.json["results"] as? [[String: Any]])?.map { $0["code"] as? String }
            #expect(codes == ["role_changed", "last_owner"])
            #expect(try await h.row(otto.id)?.roleID == h.acme.roles[.admin]!)
            #expect(try await h.row(owner.id)?.roleID == h.acme.roles[.owner]!)
        }
    }

    @Test("bulk: per-member codes and summary, set-based, and the last Owner kept within one request")
    func bulk() async throws {
        try await Harness.withApp { h, client in
            var owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            let second = try await h.enrolled("otto@acme.test", name: "Otto Owner", role: .owner, client: client)
            var ids: [UUID] = []
            for index in 0..<30 {
                ids.append(try await h.member("m\(index)@acme.test", totp: false).id)
            }
            try await MemberModel.query(on: h.db).filter(\.$id == ids[0]).set(\.$status, to: "suspended").update()
            let ghost = UUID()
            let named = (ids + [second.id, owner.id, ghost]).map { "\"\($0)\"" }.joined(separator: ",")
            let response = try await client.api(
                .post, "/api/v1/members/suspend", #"{"memberIds":[\#(named)],"reason":"INC-9"}"#,
                session: &owner.session)
            #expect(response.status == .ok, "\(response.text)")
            let results = try #require(response.json["results"] as? [[String: Any]])
            let codes = Dictionary(
                uniqueKeysWithValues: results.map { ($0["memberId"] as! String, $0["code"] as! String) })
            #expect(codes[ids[0].uuidString] == "unchanged")
            #expect(ids.dropFirst().allSatisfy { codes[$0.uuidString] == "suspended" })
            #expect(codes[second.id.uuidString] == "suspended")
            #expect(codes[owner.id.uuidString] == "self")
            #expect(codes[ghost.uuidString] == "not_found")
            #expect(response.json["summary"] as? [String: Int] == ["changed": 30, "skipped": 1, "failed": 2])
            #expect(
                try await MemberModel.query(on: h.db).filter(\.$status == "suspended").count() == 31)
            #expect(try await h.sessions(of: second.id) == 0)
            #expect(try await h.auditEvents(action: .memberSuspended).count == 33)
            #expect(
                try await OutboxMessageModel.query(on: h.db).filter(\.$subject == "Your Acme account was suspended")
                    .count() == 30)

            // Change role for everyone back through a filter: the Owner is kept, the rest become Admins.
            let role = try await client.api(
                .post, "/api/v1/members/role",
                #"{"filter":{"status":"suspended"},"roleId":"\#(h.acme.roles[.admin]!)"}"#, session: &owner.session)
            // (The suspended second Owner is no active Owner: Olivia stays, so the demotion is allowed.)
            #expect(role.json["summary"] as? [String: Int] == ["changed": 31, "skipped": 0, "failed": 0])
            #expect(try await h.row(second.id)?.roleID == h.acme.roles[.admin]!)
        }
    }

    @Test("100 concurrent requests: two Owners removing each other keep one; 100 suspends all land once")
    func concurrency() async throws {
        try await Harness.withApp { h, client in
            let first = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            let second = try await h.enrolled("otto@acme.test", name: "Otto Owner", role: .owner, client: client)
            let admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            var targets: [UUID] = []
            for index in 0..<100 { targets.append(try await h.member("c\(index)@acme.test", totp: false).id) }
            let targetIDs = targets
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<100 {
                    group.addTask {
                        var session = index % 2 == 0 ? first.session : second.session
                        let other = index % 2 == 0 ? second.id : first.id
                        return try await client.api(
                            .post, "/api/v1/members/\(other)/remove", "{}", session: &session
                        ).status
                    }
                    group.addTask {
                        var session = admin.session
                        return try await client.api(
                            .post, "/api/v1/members/\(targetIDs[index])/suspend", "{}", session: &session
                        ).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0.code < 500 }, "\(Set(statuses.map(\.code)))")
            // Exactly one Owner is left, active; the other was removed once.
            let owners = try await [h.row(first.id), h.row(second.id)].compactMap { $0 }
            #expect(owners.count == 1 && owners.first?.status == "active")
            #expect(try await h.auditEvents(action: .memberRemoved).filter { $0.result == "success" }.count == 1)
            // Every suspend landed once.
            #expect(
                try await MemberModel.query(on: h.db).filter(\.$id ~~ targets).filter(\.$status == "suspended").count()
                    == 100)
            #expect(
                try await h.auditEvents(action: .memberSuspended).filter { $0.result == "success" }.count == 100)
            guard case .intact = try await h.services.audit.verify() else {
                Issue.record("audit chain broken")
                return
            }
        }
    }

    @Test("the Members page: ⋮ offers the actions, a form suspends and the table shows Suspended")
    func page() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            let owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            let jane = try await h.enrolled("jane@acme.test", name: "Jane Doe", client: client)
            let page = try await client.page("/members", session: &admin.session)
            let html = page.text
            #expect(
                html.contains(
                    #"data-member-id="\#(jane.id.uuidString.lowercased())" data-mfa="enabled" data-name="Jane Doe" data-email="jane@acme.test" data-role-id="\#(h.acme.roles[.member]!.lowercasedString)""#
                ))
            #expect(html.contains(#"data-lifecycle="suspend""#))
            #expect(html.contains("id=\"lifecycle-remove\""))
            // The Owner's items are disabled with their reason; the role dialog offers no Owner role.
            #expect(
                html.contains("You can&#39;t change an Owner&#39;s account")
                    || html.contains("You can't change an Owner's account"))
            let roleSelect = try #require(html.range(of: "id=\"lifecycle-role-select\""))
            let offered = String(html[roleSelect.upperBound...].prefix(600))
            #expect(offered.contains(">Admin</option>") && offered.contains(">Member</option>"))
            #expect(!offered.contains(">Owner</option>"))
            let csrf = try #require(csrfField(in: html))
            let posted = try await client.form(
                "/members/suspend", ["_csrf": csrf, "memberId": jane.id.uuidString.lowercased()],
                session: &admin.session)
            #expect(posted.status == .seeOther)
            let location = try #require(posted.location)
            #expect(!location.contains("notice") && posted.notice == "suspended")
            let after = try await client.page(location, session: &admin.session)
            #expect(after.text.contains("Jane Doe is suspended and was signed out everywhere."))
            // Shown once: a reload (or the same link elsewhere) shows no message.
            let reloaded = try await client.page(location, session: &admin.session)
            #expect(!reloaded.text.contains("is suspended and was signed out"))
            let filtered = try await client.page("/members?status=suspended", session: &admin.session)
            #expect(filtered.text.contains("jane@acme.test") && !filtered.text.contains("olivia@acme.test"))
            #expect(filtered.text.contains("Suspended</span>"))
            let refused = try await client.form(
                "/members/remove", ["_csrf": csrf, "memberId": owner.id.uuidString.lowercased()],
                session: &admin.session)
            #expect(refused.notice == "lifecycle_higher_privilege")
            #expect(try await h.row(owner.id) != nil)
        }
    }

    @Test(
        "latchkey member set-role|suspend|reactivate|remove: the operator acts from the shell, audited; the last Owner stays"
    )
    func cli() async throws {
        let bed = try await CLITestBed.make(label: "lifecycle-cli")
        var services = try await bed.services()
        let (acme, ownerID) = try await bed.acme(services)
        let orgs = OrganizationService(services: services)
        let janeID = try await orgs.createMember(
            organizationID: acme.organizationID, roleID: acme.roles[.member]!, email: "jane@acme.test",
            name: "Jane Doe", password: "correct horse battery staple")
        await services.database.shutdown()

        let run = { (arguments: [String]) in try bed.run(["member"] + arguments) }
        let promoted = try run(["set-role", "--email", "jane@acme.test", "--role", "admin", "--reason", "T-5"])
        #expect(promoted.status == 0 && promoted.printed.contains("Jane Doe <jane@acme.test> is now Admin."))
        let suspended = try run(["suspend", "--email", "jane@acme.test"])
        #expect(suspended.status == 0 && suspended.printed.contains("Suspended Jane Doe <jane@acme.test> in Acme"))
        let lastOwner = try run(["remove", "--email", "owner@acme.test"])
        #expect(lastOwner.status != 0 && lastOwner.printed.contains("The last Owner must stay an active Owner"))
        let unknownRole = try run(["set-role", "--email", "jane@acme.test", "--role", "Janitor"])
        #expect(unknownRole.status != 0 && unknownRole.printed.contains("the roles are"))

        services = try await bed.services()
        let jane = try await MemberModel.find(janeID, on: services.db)
        let owner = try await MemberModel.find(ownerID, on: services.db)
        let events = try await AuditEventModel.query(on: services.db).filter(\.$actorEmail == "operator")
            .filter(\.$targetID == janeID).filter(\.$action != AuditAction.memberCreated.rawValue).sort(\.$seq).all()
        await services.database.shutdown()
        await bed.cleanup()
        #expect(jane?.roleID == acme.roles[.admin]! && jane?.status == "suspended")
        #expect(owner?.status == "active")
        #expect(events.map(\.action) == ["member.role_changed", "member.suspended"])
        #expect(events.first?.ticket == "T-5" && events.first?.reason == "role: Member → Admin")
    }
}

@Suite("A member's page")
struct MemberPageTests {
    @Test("profile, factors without secrets, sessions, recent activity and the actions; elsewhere is 404")
    func page() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", name: "Jane Doe", client: client)
            let (stranger, _) = try await h.member("gus@globex.test", organization: h.globex, totp: false)
            let table = try await client.page("/members?query=jane", session: &admin.session)
            #expect(table.text.contains("href=\"/members/\(jane.id.uuidString.lowercased())\">Jane Doe</a>"))

            let page = try await client.page("/members/\(jane.id)", session: &admin.session)
            #expect(page.status == .ok)
            let html = page.text
            #expect(html.contains("<h1>Jane Doe</h1>") && html.contains("jane@acme.test · Member"))
            #expect(html.contains("Set up on "))
            #expect(html.contains("<dd>10 of 10</dd>"))
            #expect(html.contains("Sessions (1)"))
            #expect(html.contains("auth.mfa"))  // her sign-in, in her recent activity
            #expect(html.contains("data-lifecycle=\"suspend\""))
            #expect(html.contains("name=\"return\" value=\"member\""))
            // No secret of hers is on the page.
            let sealed = try #require(
                try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID == jane.id).first())
            #expect(!html.contains(sealed.secretCiphertext) && !html.contains(Base32.encode(jane.secret)))

            // An action from her page comes back to it.
            let csrf = try #require(csrfField(in: html))
            let suspended = try await client.form(
                "/members/suspend", ["_csrf": csrf, "memberId": jane.id.uuidString, "return": "member"],
                session: &admin.session)
            let location = try #require(suspended.location)
            #expect(location == "/members/\(jane.id.uuidString.lowercased())" && suspended.notice == "suspended")
            let after = try await client.page(location, session: &admin.session)
            #expect(after.text.contains("Jane Doe is suspended and was signed out everywhere."))
            #expect(after.text.contains("Sessions (0)") && after.text.contains("Suspended</span>"))
            #expect(after.text.contains("member.suspended"))

            #expect(try await client.page("/members/\(stranger)", session: &admin.session).status == .notFound)
            #expect(try await client.page("/members/\(UUID())", session: &admin.session).status == .notFound)
            var plain = try await h.enrolled("mo@acme.test", client: client)
            #expect(try await client.page("/members/\(jane.id)", session: &plain.session).status == .forbidden)
        }
    }
}

@Suite("The administrator's overview")
struct OverviewTests {
    @Test("MFA coverage with links to the filtered table, and recent resets with links to their results")
    func dashboard() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", name: "Jane Doe", client: client)
            let tom = try await h.enrolled("tom@acme.test", name: "Tom Berg", client: client)
            for index in 0..<3 { _ = try await h.member("n\(index)@acme.test", totp: false) }
            let (sid, _) = try await h.member("sid@acme.test", totp: false)
            try await MemberModel.query(on: h.db).filter(\.$id == sid).set(\.$status, to: "suspended").update()
            let reset = try await client.api(
                .post, "/api/v1/members/mfa/reset", #"{"memberIds":["\#(jane.id)","\#(tom.id)"]}"#,
                session: &admin.session)
            let batchID = try #require(reset.json["batchId"] as? String)

            let html = try await client.page("/", session: &admin.session).text
            // 7 members: Ada enabled, Jane and Tom pending after the reset, four without MFA (one suspended).
            #expect(html.contains("<strong>14%</strong> of 7 members have MFA enabled."))
            #expect(
                html.contains("aria-label=\"MFA coverage: 1 enabled, 4 not set up, 2 pending setup after a reset\""))
            #expect(html.contains("href=\"/members?mfa=reset_pending\">Reset — pending setup</a> <strong>2</strong>"))
            #expect(html.contains("href=\"/members?status=suspended\">Suspended</a> <strong>1</strong>"))
            #expect(html.contains("href=\"/members/resets/\(batchID.lowercased())\">Results</a>"))
            #expect(html.contains("2 reset · 0 skipped · 0 failed") && html.contains("<td>Ada Admin</td>"))

            var plain = try await h.enrolled("mo@acme.test", client: client)
            let mine = try await client.page("/", session: &plain.session).text
            #expect(mine.contains("Welcome, Test Member") && !mine.contains("MFA coverage"))
        }
    }
}

@Suite("Lifecycle actions for a selection, from the Members page")
struct BulkLifecycleFormTests {
    @Test("Actions → Suspend: typed count above 25 enforced by the server, per-member results page and CSV")
    func bulkForm() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            let owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            var ids: [UUID] = []
            for index in 0..<30 {
                ids.append(
                    try await h.member(
                        "b\(String(format: "%02d", index))@acme.test", name: "Bulk \(index)", totp: false
                    ).id)
            }
            let page = try await client.page("/members", session: &admin.session)
            #expect(page.text.contains("data-bulk-lifecycle=\"suspend\"") && page.text.contains("id=\"bulk-suspend\""))
            let csrf = try #require(csrfField(in: page.text))
            let named = (ids + [owner.id]).map { "memberId=\($0.uuidString)" }.joined(separator: "&")

            // A role of another organization: refused before anything is opened or changed.
            let foreignRole = try await client.execute(
                uri: "/members/role", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", .cookie: admin.session.cookieHeader],
                body: ByteBuffer(
                    string:
                        "_csrf=\(csrf)&bulk=1&memberId=\(ids[0].uuidString)&roleId=\(h.globex.roles[.member]!.uuidString)"
                ))
            #expect(foreignRole.status == .badRequest)
            #expect(try await ResetBatchModel.query(on: h.db).count() == 0)

            // 31 members named and no typed count: refused, nothing changed.
            let refused = try await client.execute(
                uri: "/members/suspend", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", .cookie: admin.session.cookieHeader],
                body: ByteBuffer(string: "_csrf=\(csrf)&bulk=1&\(named)&reason=INC-3"))
            #expect(refused.status == .badRequest)
            #expect(try await MemberModel.query(on: h.db).filter(\.$status == "suspended").count() == 0)

            let done = try await client.execute(
                uri: "/members/suspend", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", .cookie: admin.session.cookieHeader],
                body: ByteBuffer(string: "_csrf=\(csrf)&bulk=1&\(named)&reason=INC-3&confirmCount=31"))
            #expect(done.status == .seeOther)
            let location = try #require(done.headers[.location])
            #expect(location.hasPrefix("/members/resets/"))
            let results = try await client.page(location, session: &admin.session)
            #expect(results.text.contains("<h1>Suspend: results</h1>"))
            #expect(results.text.contains("30 suspended · 0 skipped · 1 failed"))
            #expect(results.text.contains("Not permitted: Owner"))
            #expect(try await MemberModel.query(on: h.db).filter(\.$status == "suspended").count() == 30)
            #expect(try await h.row(owner.id)?.status == "active")
            let csv = try await client.page(location + "/results.csv", session: &admin.session).text
            #expect(csv.hasPrefix("member_id,name,email,result,reason\r\n"))
            #expect(csv.contains(",Bulk 0,b00@acme.test,changed,\r\n"))
            #expect(csv.contains(",Olivia Owner,olivia@acme.test,failed,Not permitted: Owner\r\n"))
            // Not an MFA reset: the reset job API does not know it, the Overview does not list it.
            let batchID = String(location.dropFirst("/members/resets/".count))
            #expect(
                try await client.api(.get, "/api/v1/mfa-reset-jobs/\(batchID)", session: &admin.session).status
                    == .notFound)
            // Each member's event is linked to the batch.
            let events = try await h.auditEvents(action: .memberSuspended)
            #expect(events.count == 31 && events.allSatisfy { $0.batchID?.uuidString.lowercased() == batchID })

            // Remove by filter (every suspended member): names stay on the results, the rows go.
            let removed = try await client.execute(
                uri: "/members/remove", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", .cookie: admin.session.cookieHeader],
                body: ByteBuffer(string: "_csrf=\(csrf)&bulk=1&scope=all&status=suspended&confirmCount=30"))
            let removedResults = try await client.page(
                try #require(removed.headers[.location]), session: &admin.session)
            #expect(removedResults.text.contains("30 removed · 0 skipped · 0 failed"))
            #expect(removedResults.text.contains("b29@acme.test"))
            #expect(try await MemberModel.query(on: h.db).filter(\.$id ~~ ids).count() == 0)
        }
    }
}
