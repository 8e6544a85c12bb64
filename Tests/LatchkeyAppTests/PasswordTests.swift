import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyStore
import NIOCore
import SQLKit
import Testing

@testable import LatchkeyApp
@testable import LatchkeyCore

@Suite("Passwords: the rule, changing one's own, Forgot password, operator links")
struct PasswordTests {
    @Test func thePolicyRefusesShortLongCommonAndTheEmail() {
        #expect(PasswordPolicy.problem(with: "short", email: "a@b.c") == .tooShort)
        #expect(PasswordPolicy.problem(with: String(repeating: "x", count: 129), email: "a@b.c") == .tooLong)
        #expect(PasswordPolicy.problem(with: "Q1W2E3R4T5Y6", email: "a@b.c") == .common)
        #expect(PasswordPolicy.problem(with: "jane.doe@acme.test", email: "jane.doe@acme.test") == .email)
        #expect(PasswordPolicy.problem(with: "correct horse battery staple", email: "a@b.c") == nil)
        #expect(PasswordPolicy.common.count == 10_000)
    }

    func hash(_ h: Harness, _ id: UUID) async throws -> String {
        try #require(try await MemberModel.find(id, on: h.db)).passwordHash
    }

    func sessions(_ h: Harness, _ id: UUID) async throws -> Int {
        try await SessionModel.query(on: h.db).filter(\.$memberID == id).count()
    }

    func mails(_ h: Harness, to email: String) async throws -> [OutboxMessage] {
        try await h.services.store.outbox.recent(organizationID: h.acme.organizationID, limit: 500)
            .filter { $0.toEmail == email }
    }

    @Test func changingOnesOwnNeedsTheCurrentPasswordAndAFreshCodeAndEndsTheOtherSessions() async throws {
        try await Harness.withApp { h, client in
            var jane = try await h.enrolled("jane@acme.test", client: client)
            var other = try await client.signIn("jane@acme.test", code: try h.code(jane.secret))
            h.clock.advance(30)
            let before = try await hash(h, jane.id)
            #expect(try await sessions(h, jane.id) == 2)
            let newPassword = "a much better passphrase 42"

            let wrong = try await client.api(
                .post, "/api/v1/auth/password",
                #"{"currentPassword":"nope nope nope","newPassword":"\#(newPassword)","code":"\#(try h.code(jane.secret))"}"#,
                session: &jane.session)
            #expect(wrong.status == .forbidden && wrong.errorCode == "wrong_password")
            let noCode = try await client.api(
                .post, "/api/v1/auth/password",
                #"{"currentPassword":"\#(Harness.password)","newPassword":"\#(newPassword)"}"#, session: &jane.session)
            #expect(noCode.status == .badRequest && noCode.errorCode == "invalid_code_format")
            let common = try await client.api(
                .post, "/api/v1/auth/password",
                #"{"currentPassword":"\#(Harness.password)","newPassword":"1qaz2wsx3edc","code":"\#(try h.code(jane.secret))"}"#,
                session: &jane.session)
            #expect(common.status == .badRequest && common.errorCode == "password_too_common")
            let unknownField = try await client.api(
                .post, "/api/v1/auth/password",
                #"{"currentPassword":"x","newPassword":"y","admin":true}"#, session: &jane.session)
            #expect(unknownField.status == .badRequest)
            #expect(try await hash(h, jane.id) == before, "nothing changed by the refusals")
            #expect(try await h.auditEvents(action: .passwordChanged).map(\.result) == ["failure"])

            let changed = try await client.api(
                .post, "/api/v1/auth/password",
                #"{"currentPassword":"\#(Harness.password)","newPassword":"\#(newPassword)","code":"\#(try h.code(jane.secret))"}"#,
                session: &jane.session)
            #expect(changed.status == .ok)
            #expect(try await hash(h, jane.id) != before)
            #expect(try await sessions(h, jane.id) == 1, "the other session ended")
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &jane.session).status == .ok)
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &other).status == .unauthorized)
            #expect(try await h.auditEvents(action: .passwordChanged).map(\.result).sorted() == ["failure", "success"])
            #expect(
                try await mails(h, to: "jane@acme.test").contains { $0.subject == "Your Latchkey password was changed" }
            )
            #expect(try await client.login("jane@acme.test").1.status == .unauthorized)
            let (_, fresh) = try await client.login("jane@acme.test", password: newPassword)
            #expect(fresh.json["status"] as? String == "mfa_required", "a new password never skips MFA")
        }
    }

    /// The link in the newest password mail to `email`.
    func link(_ h: Harness, _ email: String) async throws -> String {
        let body = try #require(
            try await mails(h, to: email).first { $0.subject == "Set a new Latchkey password" }?.body)
        let start = try #require(body.range(of: "http://"))
        return String(body[start.lowerBound...].prefix { !$0.isWhitespace })
    }

    func token(_ link: String) -> String { String(link.split(separator: "token=").last ?? "") }

    @Test func forgotPasswordAnswersAlikeAndTheLinkSetsAPasswordOnceWithoutASession() async throws {
        try await Harness.withApp { h, client in
            var jane = try await h.enrolled("jane@acme.test", client: client)
            var anonymous = Session()
            let started = Date()
            let known = try await client.api(
                .post, "/api/v1/auth/password/forgot", #"{"email":"Jane@Acme.test"}"#, session: &anonymous)
            let knownTime = Date().timeIntervalSince(started)
            let started2 = Date()
            let unknown = try await client.api(
                .post, "/api/v1/auth/password/forgot", #"{"email":"nobody@acme.test"}"#, session: &anonymous)
            let unknownTime = Date().timeIntervalSince(started2)
            #expect(known.status == .accepted && unknown.status == .accepted)
            #expect(known.text == unknown.text)
            #expect(knownTime >= 0.5 && unknownTime >= 0.5, "both answer no sooner than the floor")
            #expect(try await mails(h, to: "nobody@acme.test").isEmpty)
            let bad = try await client.api(
                .post, "/api/v1/auth/password/forgot", #"{"email":"not an email"}"#, session: &anonymous)
            #expect(bad.status == .badRequest)

            let url = try await link(h, "jane@acme.test")
            #expect(url.hasPrefix("http://127.0.0.1:8080/password/reset?token="))
            let token = token(url)
            #expect(token.count >= 43, "256 bits")
            let stored = try await h.sql.raw("SELECT token_hash FROM member_tokens").all()
                .map { try $0.decode(column: "token_hash", as: String.self) }
            #expect(stored == [sha256Hex(token)], "only the hash is stored")

            var browser = Session()
            let page = try await client.page("/password/reset?token=\(token)", session: &browser)
            #expect(page.status == .ok && page.text.contains("For <strong>jane@acme.test</strong>"))
            let before = try await hash(h, jane.id)
            let emailAsPassword = try await client.api(
                .post, "/api/v1/auth/password/reset", #"{"token":"\#(token)","newPassword":"jane@acme.test"}"#,
                session: &anonymous)
            #expect(emailAsPassword.errorCode == "password_is_email")
            #expect(try await hash(h, jane.id) == before)

            let set = try await client.api(
                .post, "/api/v1/auth/password/reset",
                #"{"token":"\#(token)","newPassword":"new and long enough 7"}"#, session: &anonymous)
            #expect(set.status == .ok)
            #expect(try await sessions(h, jane.id) == 0, "every session ended")
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &jane.session).status == .unauthorized)
            #expect(anonymous.cookies["lk_session"] == nil, "no session is opened")
            let again = try await client.api(
                .post, "/api/v1/auth/password/reset",
                #"{"token":"\#(token)","newPassword":"yet another passphrase"}"#, session: &anonymous)
            #expect(again.status == .badRequest && again.errorCode == "link_invalid")
            let (_, signIn) = try await client.login("jane@acme.test", password: "new and long enough 7")
            #expect(signIn.json["status"] as? String == "mfa_required")
            #expect(try await h.auditEvents(action: .passwordReset).count == 1)
            #expect(try await h.auditEvents(action: .passwordLinkIssued).count == 1)
        }
    }

    @Test func linksExpireAfterAnHourAndOnlyTheNewestWorks() async throws {
        try await Harness.withApp { h, client in
            try await h.member("jane@acme.test", totp: false)
            var anonymous = Session()
            _ = try await client.api(
                .post, "/api/v1/auth/password/forgot", #"{"email":"jane@acme.test"}"#, session: &anonymous)
            let first = token(try await link(h, "jane@acme.test"))
            h.clock.advance(60)
            _ = try await client.api(
                .post, "/api/v1/auth/password/forgot", #"{"email":"jane@acme.test"}"#, session: &anonymous)
            let second = token(try await link(h, "jane@acme.test"))
            #expect(first != second)
            let old = try await client.api(
                .post, "/api/v1/auth/password/reset", #"{"token":"\#(first)","newPassword":"fine long passphrase"}"#,
                session: &anonymous)
            #expect(old.errorCode == "link_invalid")
            h.clock.advance(3601)
            let expired = try await client.api(
                .post, "/api/v1/auth/password/reset", #"{"token":"\#(second)","newPassword":"fine long passphrase"}"#,
                session: &anonymous)
            #expect(expired.errorCode == "link_invalid")
            var browser = Session()
            #expect(
                try await client.page("/password/reset?token=\(second)", session: &browser).text.contains(
                    "This link has expired"))
        }
    }

    @Test func oneLinkUsedByOneHundredRequestsAtOnceSetsThePasswordOnce() async throws {
        try await Harness.withApp { h, client in
            try await h.member("jane@acme.test", totp: false)
            let link = try await PasswordService(services: h.services).issueLink(
                for: try #require(try await h.services.store.members.find(email: "jane@acme.test")),
                organization: try #require(try await h.services.store.organizations.find(h.acme.organizationID)),
                issuer: nil, meta: .operator_, mail: false, reason: "test")
            let token = token(link.url)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for i in 0..<100 {
                    group.addTask {
                        var session = Session()
                        return try await client.api(
                            .post, "/api/v1/auth/password/reset",
                            #"{"token":"\#(token)","newPassword":"concurrent passphrase \#(i)"}"#, session: &session
                        ).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 1)
            #expect(statuses.filter { $0 == .badRequest }.count == 99)
            #expect(try await h.auditEvents(action: .passwordReset).count == 1)
        }
    }

    @Test func oneHundredLinksIssuedAtOnceLeaveOnlyTheNewestAlive() async throws {
        try await Harness.withApp { h, _ in
            try await h.member("jane@acme.test", totp: false)
            let member = try #require(try await h.services.store.members.find(email: "jane@acme.test"))
            let organization = try #require(try await h.services.store.organizations.find(h.acme.organizationID))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        _ = try await PasswordService(services: h.services).issueLink(
                            for: member, organization: organization, issuer: nil, meta: .operator_, mail: false,
                            reason: "test")
                    }
                }
                try await group.waitForAll()
            }
            let live = try await h.sql.raw("SELECT COUNT(*) AS n FROM member_tokens WHERE used_at IS NULL").first()?
                .decode(column: "n", as: Int.self)
            #expect(live == 1)
            #expect(try await h.auditEvents(action: .passwordLinkIssued).count == 100)
        }
    }

    @Test func forgotPasswordIsRateLimitedPerEmailWithoutSayingSo() async throws {
        try await Harness.withApp { h, client in
            try await h.member("jane@acme.test", totp: false)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        var session = Session()
                        return try await client.api(
                            .post, "/api/v1/auth/password/forgot", #"{"email":"jane@acme.test"}"#, session: &session
                        ).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == .accepted })
            #expect(try await mails(h, to: "jane@acme.test").count == 3)
        }
    }

    @Test func theWebPagesAndTheOperatorLink() async throws {
        try await Harness.withApp { h, client in
            var jane = try await h.enrolled("jane@acme.test", client: client)
            let line = try await OperatorTools(services: h.services).passwordLink(
                email: "jane@acme.test", reason: "T-1")
            let url = try #require(line.split(separator: "\n").first { $0.hasPrefix("http") })
            #expect(try await mails(h, to: "jane@acme.test").filter { $0.subject.contains("Set a new") }.isEmpty)
            var browser = Session()
            let page = try await client.page("/password/reset?token=\(token(String(url)))", session: &browser)
            let csrf = try #require(csrfField(in: page.text))
            let mismatch = try await client.form(
                "/password/reset",
                [
                    "_csrf": csrf, "token": token(String(url)), "newPassword": "long enough phrase",
                    "confirmPassword": "other",
                ],
                session: &browser)
            #expect(mismatch.status == .badRequest && mismatch.text.contains("do not match"))
            let done = try await client.form(
                "/password/reset",
                [
                    "_csrf": csrf, "token": token(String(url)), "newPassword": "long enough phrase",
                    "confirmPassword": "long enough phrase",
                ], session: &browser)
            #expect(done.location == "/login" && done.notice == "password_set")
            #expect(try await client.page("/login", session: &browser).text.contains("Your new password is set"))
            #expect(!(try await client.page("/login?notice=password_set", session: &browser).text.contains("is set")))
            #expect(try await client.page("/security", session: &jane.session).status != .ok, "signed out everywhere")
            let events = try await h.auditEvents(action: .passwordLinkIssued)
            #expect(events.first?.actorEmail == "operator" && events.first?.reason.contains("T-1") == true)
        }
    }
}
