import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
import SQLKit
import Testing

@testable import LatchkeyApp

@Suite("Sessions, CSRF and headers")
struct SessionSecurityTests {
    @Test("sign-out deletes the session: the old cookie no longer works")
    func signOut() async throws {
        try await Harness.withApp { h, client in
            let (_, secret) = try await h.member("jane@acme.test", totp: true)
            var session = try await client.signIn("jane@acme.test", code: try h.code(secret!))
            let stolen = session
            #expect(try await SessionModel.query(on: h.db).count() == 1)
            let out = try await client.api(.post, "/api/v1/auth/logout", session: &session)
            #expect(out.status == .ok)
            #expect(try await SessionModel.query(on: h.db).count() == 0)
            var replay = stolen
            let me = try await client.api(.get, "/api/v1/auth/session", session: &replay)
            #expect(me.status == .unauthorized)
            #expect(try await client.page("/", session: &replay).location == "/login")
            #expect(try await h.auditEvents(action: .signOut).count == 1)
        }
    }

    @Test(
        "Sign out all other sessions: 100 at once end every other session once, audit it once, keep this one"
    )
    func signOutOthers() async throws {
        try await Harness.withApp { h, client in
            var jane = try await h.enrolled("jane@acme.test", client: client)
            // Five more sessions of hers: past the password here, finished as a second factor would elsewhere.
            for _ in 0..<5 { _ = try await client.login("jane@acme.test") }
            try await SessionModel.query(on: h.db).filter(\.$memberID == jane.id)
                .set(\.$state, to: SessionState.signedIn.rawValue).update()
            #expect(try await SessionModel.query(on: h.db).filter(\.$memberID == jane.id).count() == 6)
            let page = try await client.page("/security", session: &jane.session)
            #expect(page.text.contains("Sign out all other sessions"))
            let csrf = try #require(csrfField(in: page.text))
            let session = jane.session
            let statuses = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        var mine = session
                        let answer = try await client.form(
                            "/security/sessions/revoke-others", ["_csrf": csrf], session: &mine)
                        return (Int(answer.status.code), answer.notice)
                    }
                }
                return try await group.reduce(into: [(Int, String?)]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0.0 == 303 })
            #expect(statuses.filter { $0.1 == "others_revoked" }.count == 1)
            #expect(statuses.filter { $0.1 == "no_others" }.count == 99)
            #expect(try await SessionModel.query(on: h.db).filter(\.$memberID == jane.id).count() == 1)
            let events = try await h.auditEvents(action: .sessionRevoked)
            #expect(events.map(\.reason) == ["5 other sessions signed out"])
            // This session still works and no longer offers the button.
            let after = try await client.page("/security", session: &jane.session)
            #expect(after.status == .ok && !after.text.contains("Sign out all other sessions"))
        }
    }

    @Test("passwords, codes, secrets and session tokens never reach the logs, even at trace level")
    func noSecretsInLogs() async throws {
        let capture = CapturingLogHandler()
        try await Harness.withApp(capture: capture) { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let (_, secret) = try await h.member("jane@acme.test", totp: true)
            let code = try h.code(secret!)
            var jane = try await client.signIn("jane@acme.test", code: code)
            _ = try await client.api(
                .post,
                "/api/v1/members/\(try await MemberModel.query(on: h.db).filter(\.$email == "jane@acme.test").first()!.id!)/mfa/reset",
                "{}", session: &admin.session)
            _ = try await client.api(.get, "/api/v1/auth/session", session: &jane)
            let logs = capture.text
            #expect(!logs.isEmpty, "the capture saw the server's logs")
            let token = try #require(admin.session.cookies[Cookies.session])
            for secretText in [
                Harness.password, code, Base32.encode(secret!), token, sha256Hex(token), admin.session.csrf!,
            ] {
                #expect(!logs.contains(secretText), "a secret reached the logs")
            }
        }
    }

    @Test("a missing or wrong CSRF token is refused with 403 and changes nothing")
    func csrf() async throws {
        try await Harness.withApp { h, client in
            let (id, secret) = try await h.member("jane@acme.test", totp: true)
            var session = try await client.signIn("jane@acme.test", code: try h.code(secret!))
            let codesBefore = try await RecoveryCodeModel.query(on: h.db).filter(\.$memberID == id).count()

            let noHeader = try await client.api(.post, "/api/v1/auth/logout", session: &session, csrf: false)
            #expect(noHeader.status == .forbidden)
            #expect(noHeader.errorCode == "csrf_failed")
            var forged = session
            forged.csrf = "forged-token-forged-token-forged-token-123"
            let wrongHeader = try await client.api(.post, "/api/v1/auth/logout", session: &forged)
            #expect(wrongHeader.status == .forbidden)
            #expect(try await SessionModel.query(on: h.db).count() == 1)

            h.clock.advance(30)
            let form = try await client.form(
                "/security/recovery-codes", ["code": try h.code(secret!)], session: &session)
            #expect(form.status == .forbidden)
            let wrongForm = try await client.form(
                "/security/recovery-codes", ["_csrf": "nope", "code": try h.code(secret!)], session: &session)
            #expect(wrongForm.status == .forbidden)
            #expect(try await RecoveryCodeModel.query(on: h.db).filter(\.$memberID == id).count() == codesBefore)
            #expect(try await h.auditEvents(action: .recoveryCodesRegenerated).isEmpty)

            // With the token, the same form works.
            let ok = try await client.form(
                "/security/recovery-codes", ["_csrf": session.csrf!, "code": try h.code(secret!)], session: &session)
            #expect(ok.status == .ok)
            #expect(ok.text.contains("Save your recovery codes"))
            #expect(try await h.auditEvents(action: .recoveryCodesRegenerated).count == 1)
        }
    }

    @Test("idle timeout and absolute lifetime come from the organization's settings")
    func lifetimes() async throws {
        try await Harness.withApp { h, client in
            let (_, secret) = try await h.member("jane@acme.test", totp: true)
            try await OrganizationModel.query(on: h.db).filter(\.$id == h.acme.organizationID)
                .set(\.$idleTimeoutSeconds, to: 300).set(\.$sessionLifetimeSeconds, to: 900).update()
            var session = try await client.signIn("jane@acme.test", code: try h.code(secret!))
            h.clock.advance(299)
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &session).status == .ok)
            h.clock.advance(299)
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &session).status == .ok)
            h.clock.advance(301)  // active all along, but past the absolute lifetime
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &session).status == .unauthorized)
            #expect(try await SessionModel.query(on: h.db).count() == 0)

            var idle = try await client.signIn("jane@acme.test", code: try h.code(secret!))
            h.clock.advance(301)
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &idle).status == .unauthorized)
        }
    }

    @Test("a session is marked seen after each answer, a wrong code's too, and a renewal keeps its own time")
    func markedSeen() async throws {
        try await Harness.withApp { h, client in
            let (_, secret) = try await h.member("jane@acme.test", totp: true)
            try await OrganizationModel.query(on: h.db).filter(\.$id == h.acme.organizationID)
                .set(\.$idleTimeoutSeconds, to: 300).update()
            func seen() async throws -> TimeInterval {
                try #require(try await SessionModel.query(on: h.db).first()).lastSeenAt.timeIntervalSince1970
            }
            var (session, _) = try await client.login("jane@acme.test")
            let opened = try await seen()
            h.clock.advance(200)
            let wrong = try await client.api(
                .post, "/api/v1/auth/mfa", #"{"code":"\#(try h.code(secret!, offsetSteps: 40))"}"#, session: &session)
            #expect(wrong.status == .unauthorized)
            #expect(abs(try await seen() - (opened + 200)) < 0.01)  // marked seen by the refusal
            h.clock.advance(200)  // 400 s after the password, 200 after the last answer: alive
            // Count the writes of sessions' rows from here.
            let writes = try await Self.countingSessionWrites(h.db)
            let right = try await client.api(
                .post, "/api/v1/auth/mfa", #"{"code":"\#(try h.code(secret!))"}"#, session: &session)
            #expect(right.status == .ok)
            #expect(abs(try await seen() - (opened + 400)) < 0.01)  // the promotion's own time
            #expect(try await writes() == 1)  // the promotion alone: the renewed session is not marked seen again
            h.clock.advance(30)
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &session).status == .ok)
            #expect(abs(try await seen() - (opened + 400)) < 0.01)  // within a minute: not written again
            h.clock.advance(200)
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &session).status == .ok)
            #expect(abs(try await seen() - (opened + 630)) < 0.01)
            h.clock.advance(250)  // 480 s after the promotion, 250 after the last answer
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &session).status == .ok)
            h.clock.advance(301)
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &session).status == .unauthorized)
        }
    }

    @Test("100 requests of one session answered together mark it seen once")
    func markedSeenOnce() async throws {
        try await Harness.withApp { h, client in
            let (_, secret) = try await h.member("jane@acme.test", totp: true)
            let session = try await client.signIn("jane@acme.test", code: try h.code(secret!))
            let opened = try #require(try await SessionModel.query(on: h.db).first()).lastSeenAt
            h.clock.advance(120)
            let writes = try await Self.countingSessionWrites(h.db)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        var mine = session
                        return try await client.api(.get, "/api/v1/auth/session", session: &mine).status.code
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 200, count: 100))
            #expect(try await writes() == 1)
            let seen = try #require(try await SessionModel.query(on: h.db).first()).lastSeenAt
            #expect(abs(seen.timeIntervalSince(opened) - 120) < 0.01)
            // A minute later the next answer marks it again.
            h.clock.advance(61)
            var again = session
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &again).status == .ok)
            #expect(try await writes() == 2)
        }
    }

    /// Starts counting the updates of `sessions` rows (a trigger writing to `session_writes`); the function returns
    /// the count so far.
    static func countingSessionWrites(_ db: any Database) async throws -> @Sendable () async throws -> Int {
        let sql = db as! any SQLDatabase
        try await sql.raw("CREATE TABLE session_writes (n INTEGER)").run()
        if TestDatabase.isPostgres {
            try await sql.raw(
                """
                CREATE FUNCTION count_session_write() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN INSERT INTO session_writes VALUES (1); RETURN NULL; END $$
                """
            ).run()
            try await sql.raw(
                """
                CREATE TRIGGER count_session_writes AFTER UPDATE ON sessions
                FOR EACH ROW EXECUTE FUNCTION count_session_write()
                """
            ).run()
        } else {
            try await sql.raw(
                """
                CREATE TRIGGER count_session_writes AFTER UPDATE ON sessions
                BEGIN INSERT INTO session_writes VALUES (1); END
                """
            ).run()
        }
        return {
            try await sql.raw("SELECT COUNT(*) AS n FROM session_writes").first(decoding: [String: Int].self)?["n"]
                ?? -1
        }
    }

    @Test("a role's permissions change on the next request, not the next sign-in")
    func permissionsLive() async throws {
        try await Harness.withApp { h, client in
            let (_, secret) = try await h.member("ada@acme.test", role: .admin, totp: true)
            var session = try await client.signIn("ada@acme.test", code: try h.code(secret!))
            let before = try await client.api(.get, "/api/v1/auth/session", session: &session)
            #expect((before.json["permissions"] as? [String])?.contains("members.reset_mfa") == true)
            try await RoleModel.query(on: h.db).filter(\.$id == h.acme.roles[.admin]!)
                .set(\.$permissionList, to: "members.view").update()
            let after = try await client.api(.get, "/api/v1/auth/session", session: &session)
            #expect(after.json["permissions"] as? [String] == ["members.view"])
        }
    }

    @Test("every response carries the security headers; cookies are HttpOnly and SameSite")
    func headers() async throws {
        try await Harness.withApp { h, client in
            try await h.member("jane@acme.test", totp: true)
            var browser = Session()
            for path in ["/login", "/nope", "/static/app.css"] {
                let response = try await client.page(path, session: &browser)
                let csp = try #require(response.headers[.contentSecurityPolicy])
                #expect(csp.contains("script-src 'self'"))
                #expect(!csp.contains("unsafe-inline"))
                #expect(response.headers[.frameOptions] == "DENY")
                #expect(response.headers[.xContentTypeOptions] == "nosniff")
                #expect(response.headers[.referrer] != nil)
            }
            let (_, login) = try await client.login("jane@acme.test")
            let cookie = try #require(login.headers[.setCookie])
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Lax"))
            #expect(!cookie.contains("Secure"))
        }
    }

    @Test("step-up refreshes the time of the last MFA; a session cannot revoke another member's session")
    func stepUpAndRevoke() async throws {
        try await Harness.withApp { h, client in
            let (_, secret) = try await h.member("jane@acme.test", totp: true)
            let (_, otherSecret) = try await h.member("omar@acme.test", totp: true)
            var session = try await client.signIn("jane@acme.test", code: try h.code(secret!))
            var other = try await client.signIn("omar@acme.test", code: try h.code(otherSecret!))
            h.clock.advance(600)
            let stepped = try await client.api(
                .post, "/api/v1/auth/step-up", #"{"code":"\#(try h.code(secret!))"}"#, session: &session)
            #expect(stepped.status == .ok)
            let me = try await client.api(.get, "/api/v1/auth/session", session: &session)
            #expect(me.json["mfaVerifiedAt"] as? String == ISO8601DateFormatter().string(from: h.clock.now))

            let otherID = try #require(
                try await SessionModel.query(on: h.db).filter(
                    \.$memberID
                        != (try await MemberModel.query(on: h.db).filter(\.$email == "jane@acme.test").first()!.id!)
                ).first()?.id)
            let attempt = try await client.form(
                "/security/sessions/\(otherID.uuidString)/revoke", ["_csrf": session.csrf!], session: &session)
            #expect(attempt.status == .notFound)
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &other).status == .ok)
        }
    }
}
