import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
import NIOCore
import SQLKit
import Testing

@testable import LatchkeyApp

@Suite("Invitations: invite, list, resend, revoke and accept")
struct InvitationTests {
    func roleID(_ h: Harness, _ role: BuiltInRole, _ org: OrganizationService.Created? = nil) -> String {
        (org ?? h.acme).roles[role]!.uuidString.lowercased()
    }

    func members(_ h: Harness, status: AccountStatus) async throws -> [MemberModel] {
        try await MemberModel.query(on: h.db).filter(\.$organizationID == h.acme.organizationID)
            .filter(\.$status == status.rawValue).all()
    }

    /// The link in the newest invitation mail to `email`.
    func link(_ h: Harness, _ email: String) async throws -> String {
        let messages = try await h.services.store.outbox.recent(organizationID: h.acme.organizationID, limit: 500)
        let body = try #require(messages.first { $0.toEmail == email && $0.subject.contains("invited you") }?.body)
        let start = try #require(body.range(of: "http://"))
        return String(body[start.lowerBound...].prefix { !$0.isWhitespace })
    }

    func token(_ link: String) -> String { String(link.split(separator: "token=").last ?? "") }

    @Test func bulkInvitationsAnswerPerRowAndCreateInvitedMembersWithMailAndAudit() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            try await h.member("existing@acme.test", totp: false)
            try await h.member("elsewhere@globex.test", organization: h.globex, totp: false)
            let body = """
                {"roleId":"\(roleID(h, .member))","invitations":[
                  {"email":"New.Person@Example.com","name":"New Person"},
                  {"email":"not-an-email"},
                  {"email":"new.person@example.com"},
                  {"email":"existing@acme.test"},
                  {"email":"boss@example.com","roleId":"\(roleID(h, .owner))"},
                  {"email":"admin2@example.com","roleId":"Admin"},
                  {"email":"who@example.com","roleId":"Wizard"},
                  {"email":"elsewhere@globex.test"}
                ]}
                """
            let response = try await client.api(.post, "/api/v1/invitations/bulk", body, session: &admin.session)
            #expect(response.status == .ok)
            let results = try #require(response.json["results"] as? [[String: Any]])
            #expect(
                results.map { $0["status"] as? String } == [
                    "invited", "failed", "skipped", "skipped", "failed", "invited", "failed", "invited",
                ])
            #expect(
                results.map { $0["code"] as? String } == [
                    "invited", "invalid_email", "duplicate", "already_member", "role_not_allowed", "invited",
                    "unknown_role", "invited",
                ])
            #expect(response.json["invited"] as? Int == 3 && response.json["failed"] as? Int == 3)
            let invited = try await members(h, status: .invited)
            #expect(
                Set(invited.map(\.email)) == ["new.person@example.com", "admin2@example.com", "elsewhere@globex.test"])
            #expect(invited.first { $0.email == "new.person@example.com" }?.name == "New Person")
            // The invitee elsewhere is invited like anyone: the inviter learns nothing of the other organization.
            let tokens = try await h.sql.raw("SELECT token_hash, expires_at FROM member_tokens").all()
            #expect(tokens.count == 3)
            let url = try await link(h, "new.person@example.com")
            #expect(url.hasPrefix("http://127.0.0.1:8080/invitations/accept?token="))
            let hashes = try tokens.map { try $0.decode(column: "token_hash", as: String.self) }
            #expect(hashes.contains(sha256Hex(token(url))) && !hashes.contains(token(url)))
            let events = try await h.auditEvents(action: .memberInvited)
            #expect(events.filter { $0.result == "success" }.count == 3)
            #expect(events.filter { $0.result == "denied" }.count == 1)
            // A role without members.manage cannot invite at all.
            var plain = try await h.enrolled("mo@acme.test", client: client)
            let refused = try await client.api(
                .post, "/api/v1/invitations", #"{"email":"x@example.com","roleId":"\#(roleID(h, .member))"}"#,
                session: &plain.session)
            #expect(refused.status == .forbidden)
            let unknownField = try await client.api(
                .post, "/api/v1/invitations/bulk", #"{"invitations":[{"email":"a@b.co","admin":true}]}"#,
                session: &admin.session)
            #expect(unknownField.status == .badRequest && unknownField.errorCode == "unknown_field")
            #expect(try await members(h, status: .invited).count == 3)
        }
    }

    @Test func acceptingSetsNameAndPasswordThenEnrollmentBeforeASession() async throws {
        try await Harness.withApp { h, client in
            var owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            let created = try await client.api(
                .post, "/api/v1/invitations",
                #"{"email":"jane@example.com","name":"Jane","roleId":"\#(roleID(h, .admin))"}"#, session: &owner.session
            )
            #expect(created.status == .created && created.json["status"] as? String == "pending")
            let token = token(try await link(h, "jane@example.com"))

            var browser = Session()
            let page = try await client.page("/invitations/accept?token=\(token)", session: &browser)
            #expect(page.text.contains("<strong>Olivia Owner</strong> invited you to join <strong>Acme</strong>"))
            let csrf = try #require(csrfField(in: page.text))
            let weak = try await client.form(
                "/invitations/accept",
                [
                    "_csrf": csrf, "token": token, "name": "Jane Doe", "password": "password1234",
                    "confirmPassword": "password1234",
                ],
                session: &browser)
            #expect(weak.status == .badRequest && weak.text.contains("most common"))
            #expect(try await members(h, status: .invited).count == 1, "nothing changed")

            let joined = try await client.form(
                "/invitations/accept",
                [
                    "_csrf": csrf, "token": token, "name": "Jane Doe", "password": "a fine long passphrase",
                    "confirmPassword": "a fine long passphrase",
                ], session: &browser)
            #expect(joined.location == "/enroll", "Acme requires MFA: enrollment comes before a session")
            let jane = try #require(
                try await MemberModel.query(on: h.db).filter(\.$email == "jane@example.com").first())
            #expect(jane.status == "active" && jane.name == "Jane Doe")
            #expect(try await client.page("/members", session: &browser).location == "/enroll")
            let events = try await h.auditEvents(action: .invitationAccepted)
            #expect(events.count == 1 && events[0].reason.contains("invited by Olivia Owner"))
            // The link is spent.
            var other = Session()
            #expect(
                try await client.page("/invitations/accept?token=\(token)", session: &other).text.contains(
                    "can't be used"))
            // Sign-in works with the new password, and asks for enrollment again.
            let (_, login) = try await client.login("jane@example.com", password: "a fine long passphrase")
            #expect(login.json["status"] as? String == "enrollment_required")
        }
    }

    @Test func anEmailWithAnAccountElsewhereIsInvitedButCannotAcceptTwice() async throws {
        try await Harness.withApp { h, client in
            var owner = try await h.enrolled("olivia@acme.test", role: .owner, client: client)
            try await h.member("sam@globex.test", organization: h.globex, totp: false)
            let created = try await client.api(
                .post, "/api/v1/invitations", #"{"email":"sam@globex.test","roleId":"\#(roleID(h, .member))"}"#,
                session: &owner.session)
            #expect(created.status == .created)
            let token = token(try await link(h, "sam@globex.test"))
            var browser = Session()
            let page = try await client.page("/invitations/accept?token=\(token)", session: &browser)
            let accepted = try await client.form(
                "/invitations/accept",
                [
                    "_csrf": try #require(csrfField(in: page.text)), "token": token, "name": "Sam",
                    "password": "a fine long passphrase", "confirmPassword": "a fine long passphrase",
                ], session: &browser)
            #expect(accepted.status == .conflict && accepted.text.contains("already has a Latchkey account"))
            #expect(try await members(h, status: .invited).count == 1)
            // Their own account is untouched.
            #expect(try await client.login("sam@globex.test").1.status == .ok)
        }
    }

    @Test func resendReplacesTheLinkRevokeWithdrawsItAndOtherOrganizationsAreNotFound() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let created = try await client.api(
                .post, "/api/v1/invitations", #"{"email":"jane@example.com","roleId":"\#(roleID(h, .member))"}"#,
                session: &admin.session)
            let id = try #require(created.json["id"] as? String)
            let first = token(try await link(h, "jane@example.com"))
            h.clock.advance(60)
            let resent = try await client.api(.post, "/api/v1/invitations/\(id)/resend", nil, session: &admin.session)
            #expect(resent.status == .ok)
            let second = token(try await link(h, "jane@example.com"))
            #expect(first != second)
            #expect(try await InvitationService(services: h.services).invitation(token: first) == nil)
            #expect(try await InvitationService(services: h.services).invitation(token: second) != nil)
            // Listed as pending, then expired after 7 days.
            // The page size is checked like the Members list's: 1 to 100.
            for bad in ["0", "1000", "x"] {
                let refused = try await client.api(.get, "/api/v1/invitations?limit=\(bad)", session: &admin.session)
                #expect(refused.status == .badRequest && refused.errorCode == "invalid_limit")
            }
            let list = try await client.api(.get, "/api/v1/invitations", session: &admin.session)
            #expect((list.json["invitations"] as? [[String: Any]])?.first?["status"] as? String == "pending")
            h.clock.advance(7 * 24 * 3600 + 1)
            admin.session = try await client.signIn("ada@acme.test", code: try h.code(admin.secret))
            let expired = try await client.api(.get, "/api/v1/invitations?status=expired", session: &admin.session)
            #expect((expired.json["invitations"] as? [[String: Any]])?.count == 1)
            #expect(try await InvitationService(services: h.services).invitation(token: second) == nil)

            var globex = try await h.enrolled("gus@globex.test", role: .owner, organization: h.globex, client: client)
            let foreign = try await client.api(.post, "/api/v1/invitations/\(id)/revoke", nil, session: &globex.session)
            #expect(foreign.status == .notFound)
            let revoked = try await client.api(.post, "/api/v1/invitations/\(id)/revoke", nil, session: &admin.session)
            #expect(revoked.status == .ok)
            #expect(try await members(h, status: .invited).isEmpty)
            #expect(
                try await h.sql.raw("SELECT COUNT(*) AS n FROM member_tokens").first()?.decode(
                    column: "n", as: Int.self) == 0)
            #expect(try await h.auditEvents(action: .invitationRevoked).count == 1)
            #expect(try await h.auditEvents(action: .invitationResent).count == 1)
            let again = try await client.api(.post, "/api/v1/invitations/\(id)/revoke", nil, session: &admin.session)
            #expect(again.status == .notFound)
        }
    }

    @Test func oneHundredConcurrentInvitationsOfOneEmailMakeOne() async throws {
        try await Harness.withApp { h, client in
            let admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let member = roleID(h, .member)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for i in 0..<100 {
                    group.addTask {
                        var session = admin.session
                        let email = i % 2 == 0 ? "same@example.com" : "person\(i)@example.com"
                        return try await client.api(
                            .post, "/api/v1/invitations", #"{"email":"\#(email)","roleId":"\#(member)"}"#,
                            session: &session
                        ).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 51)
            #expect(statuses.filter { $0 == .conflict }.count == 49)
            #expect(try await members(h, status: .invited).count == 51)
            #expect(try await h.auditEvents(action: .memberInvited).count == 51)
        }
    }

    @Test func oneHundredConcurrentAcceptsOfOneLinkJoinOnceAndResendsLeaveOneLiveLink() async throws {
        try await Harness.withApp { h, client in
            let admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            var session = admin.session
            let created = try await client.api(
                .post, "/api/v1/invitations", #"{"email":"jane@example.com","roleId":"\#(roleID(h, .member))"}"#,
                session: &session)
            let id = try #require(created.json["id"] as? String)
            // 100 resends at once: each answered, each mailed and audited, and exactly one link alive after.
            let resends = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        var session = admin.session
                        return try await client.api(.post, "/api/v1/invitations/\(id)/resend", nil, session: &session)
                            .status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(resends.allSatisfy { $0 == .ok })
            #expect(try await h.auditEvents(action: .invitationResent).count == 100)
            let live = try await h.sql.raw("SELECT COUNT(*) AS n FROM member_tokens WHERE used_at IS NULL").first()?
                .decode(column: "n", as: Int.self)
            #expect(live == 1)
            // One more, a second later, so the newest mail is this one's.
            h.clock.advance(1)
            #expect(
                try await client.api(.post, "/api/v1/invitations/\(id)/resend", nil, session: &session).status == .ok)
            let token = token(try await link(h, "jane@example.com"))
            #expect(try await InvitationService(services: h.services).invitation(token: token) != nil)

            // 100 accepts of that link at once: one joins, the others are told the link is used.
            let accepts = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for i in 0..<100 {
                    group.addTask {
                        _ = try await InvitationService(services: h.services).accept(
                            token: token, name: "Jane \(i)", password: "a fine long passphrase", confirm: nil,
                            meta: .operator_)
                        return .ok
                    }
                }
                var statuses: [HTTPResponse.Status] = []
                while let next = await group.nextResult() {
                    switch next {
                    case .success(let status): statuses.append(status)
                    case .failure(let error as LatchkeyError) where error.code == "invitation_invalid":
                        statuses.append(.badRequest)
                    case .failure(let error): throw error
                    }
                }
                return statuses
            }
            #expect(accepts.filter { $0 == .ok }.count == 1 && accepts.filter { $0 == .badRequest }.count == 99)
            #expect(try await members(h, status: .active).filter { $0.email == "jane@example.com" }.count == 1)
            #expect(try await h.auditEvents(action: .invitationAccepted).count == 1)
            let sessions = try await SessionModel.query(on: h.db).join(
                MemberModel.self, on: \SessionModel.$memberID == \MemberModel.$id
            )
            .filter(MemberModel.self, \.$email == "jane@example.com").count()
            #expect(sessions == 1)
        }
    }

    /// Seen under schemathesis: a revoke landing between a resend's check and its write made a 500 (a token for a
    /// deleted row), and one landing after it crashed the server (the answer re-read a row that was gone).
    @Test func resendsAndRevokesOfOneInvitationAtOnceAnswerEachTruthfully() async throws {
        try await Harness.withApp { h, client in
            let admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            var session = admin.session
            let created = try await client.api(
                .post, "/api/v1/invitations", #"{"email":"jane@example.com","roleId":"\#(roleID(h, .member))"}"#,
                session: &session)
            let id = try #require(created.json["id"] as? String)
            let answers = try await withThrowingTaskGroup(of: (String, HTTPResponse.Status).self) { group in
                for i in 0..<100 {
                    let action = i % 10 == 5 ? "revoke" : "resend"
                    group.addTask {
                        var session = admin.session
                        let answer = try await client.api(
                            .post, "/api/v1/invitations/\(id)/\(action)", nil, session: &session)
                        return (action, answer.status)
                    }
                }
                return try await group.reduce(into: [(String, HTTPResponse.Status)]()) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.1 == .ok || $0.1 == .notFound })
            #expect(answers.filter { $0 == ("revoke", .ok) }.count == 1)
            let resent = answers.filter { $0 == ("resend", .ok) }.count
            #expect(try await h.auditEvents(action: .invitationResent).count == resent)
            #expect(try await h.auditEvents(action: .invitationRevoked).count == 1)
            #expect(try await members(h, status: .invited).isEmpty)
            #expect(
                try await h.sql.raw("SELECT COUNT(*) AS n FROM member_tokens").first()?.decode(
                    column: "n", as: Int.self) == 0)
        }
    }

    @Test func theMembersPageListsAndFiltersInvitationsAndTheDialogInvitesAPastedList() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let page = try await client.page("/members", session: &admin.session)
            let csrf = try #require(csrfField(in: page.text))
            #expect(page.text.contains("Invite members"))
            let pasted = "email,name,role\nzoe@example.com,Zoe Zed,Admin\nyan@example.com; xi@example.com\n\n"
            let results = try await client.form(
                "/members/invite", ["_csrf": csrf, "invitations": pasted, "roleId": roleID(h, .member)],
                session: &admin.session)
            #expect(results.status == .ok && results.text.contains("3 invited, 0 skipped, 0 failed"))
            let csvStart = try #require(results.text.range(of: "href=\"data:text/csv;charset=utf-8,"))
            let encoded = results.text[csvStart.upperBound...].prefix { $0 != "\"" }
            let csv = try #require(String(encoded).removingPercentEncoding)
            #expect(csv.hasPrefix("email,role,result,code,reason\r\n"))
            #expect(csv.contains("zoe@example.com,Admin,invited,invited,\r\n"))
            let invited = try await client.page("/members?status=invited", session: &admin.session)
            #expect(invited.text.contains("Zoe Zed") && invited.text.contains("yan@example.com"))
            #expect(invited.text.components(separatedBy: "✉</span> Invited").count - 1 == 3)
            #expect(invited.text.contains("Resend invitation") && invited.text.contains("Revoke invitation"))
            let all = try await client.page("/members", session: &admin.session)
            #expect(all.text.contains("Zoe Zed"))
            let overview = try await client.page("/", session: &admin.session)
            #expect(overview.text.contains("All 3 pending invitations"))
            let zoe = try #require(try await MemberModel.query(on: h.db).filter(\.$email == "zoe@example.com").first())
            #expect(try await h.services.store.members.find(zoe.id!)?.roleName == "Admin")
            let zoePage = try await client.page("/members/\(zoe.id!)", session: &admin.session)
            #expect(zoePage.status == .ok && zoePage.text.contains("Invited, not yet joined"))
            #expect(zoePage.text.contains("Resend invitation"))
            // An invitation can be suspended (an identity provider deactivating someone before they joined): the
            // link stops working; reactivated, they are invited again and the link works.
            let invitations = InvitationService(services: h.services)
            let zoeToken = token(try await link(h, "zoe@example.com"))
            #expect(try await invitations.invitation(token: zoeToken) != nil)
            let suspend = try await client.api(
                .post, "/api/v1/members/\(zoe.id!)/suspend", "{}", session: &admin.session)
            #expect(suspend.status == .ok && suspend.json["status"] as? String == "suspended")
            #expect(try await invitations.invitation(token: zoeToken) == nil)
            let reactivate = try await client.api(
                .post, "/api/v1/members/\(zoe.id!)/reactivate", "{}", session: &admin.session)
            #expect(reactivate.status == .ok && reactivate.json["status"] as? String == "invited")
            #expect(try await invitations.invitation(token: zoeToken) != nil)
            let again = try await client.api(
                .post, "/api/v1/members/\(zoe.id!)/reactivate", "{}", session: &admin.session)
            #expect(again.status == .conflict && again.errorCode == "invited")
            let events = try await h.auditEvents(action: .memberReactivated)
            #expect(
                events.map(\.reason) == [
                    "status: suspended → invited", "Invited, not yet a member: resend or revoke the invitation",
                ])
        }
    }

    @Test func pastedTextIsReadAsEmailsOrCSVRows() throws {
        let rows = try InviteInput.rows(
            from: "a@x.io\nb@x.io,\"Doe, Bob\",Admin\nc@x.io, d@x.io ,e@x.io\r\nf@x.io g@x.io;h@x.io")
        #expect(rows.map(\.email) == ["a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io", "f@x.io", "g@x.io", "h@x.io"])
        #expect(rows[1].name == "Doe, Bob" && rows[1].role == "Admin")
        let tooMany = String(repeating: "a@b.io\n", count: BulkLimits.maximumPerRequest + 1)
        #expect(throws: LatchkeyError.self) { try InviteInput.rows(from: tooMany) }
    }
}

@Suite("The operator's invitation and password commands")
struct InvitationCLITests {
    @Test func inviteImportAndPasswordLinkFromTheShell() async throws {
        let bed = try await CLITestBed.make(label: "invite-cli")
        var services = try await bed.services()
        _ = try await bed.acme(services)
        await services.database.shutdown()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("invite-\(UUID().uuidString).csv")
        try "email,name,role\nana@example.com,Ana,Admin\nbo@example.com,,\nnot-an-email,,\nana@example.com,,\n"
            .write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }

        let one = try bed.run(["member", "invite", "--org", "acme", "--email", "cy@example.com", "--name", "Cy"])
        #expect(one.status == 0 && one.printed.contains("Acme: 1 invited, 0 skipped, 0 failed."))
        let imported = try bed.run(["member", "import", "--org", "acme", "--file", file.path])
        #expect(imported.status == 0 && imported.printed.contains("Acme: 2 invited, 1 skipped, 1 failed."))
        #expect(imported.printed.contains("failed not-an-email: Not a valid email address"))
        let noOrg = try bed.run(["member", "invite", "--org", "nope", "--email", "x@example.com"])
        #expect(noOrg.status != 0 && noOrg.printed.contains("No organization has the slug nope"))
        let link = try bed.run(["password", "link", "--email", "owner@acme.test", "--reason", "T-9"])
        #expect(link.status == 0 && link.printed.contains("/password/reset?token="))

        services = try await bed.services()
        let invited = try await MemberModel.query(on: services.db).filter(\.$status == "invited").all()
        let ana = invited.first { $0.email == "ana@example.com" }
        let anaRole = try await services.store.members.find(try #require(ana?.id))?.roleName
        let mails = try await OutboxMessageModel.query(on: services.db).all()
        await services.database.shutdown()
        await bed.cleanup()
        #expect(Set(invited.map(\.email)) == ["cy@example.com", "ana@example.com", "bo@example.com"])
        #expect(anaRole == "Admin")
        #expect(mails.filter { $0.subject.contains("invited you") }.count == 3)
        #expect(!mails.contains { $0.subject.contains("Set a new") }, "the operator's link is printed, not mailed")
    }
}
