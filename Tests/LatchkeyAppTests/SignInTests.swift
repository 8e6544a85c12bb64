import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import Logging
import SQLKit
import Synchronization
import Testing

@testable import LatchkeyApp
@testable import LatchkeyStore

@Suite("Password + TOTP sign-in")
struct SignInTests {
    @Test("password then an oathtool code signs in; the same code a second time is refused and audited")
    func signInAndReplay() async throws {
        try await Harness.withApp { h, client in
            let (id, secret) = try await h.member("jane@acme.test", name: "Jane Doe", totp: true)
            let code = try h.code(secret!)
            var session = try await client.signIn("jane@acme.test", code: code)
            let me = try await client.api(.get, "/api/v1/auth/session", session: &session)
            #expect(me.status == .ok)
            #expect(me.json["status"] as? String == "signed_in")
            #expect((me.json["member"] as? [String: Any])?["email"] as? String == "jane@acme.test")
            #expect(me.json["role"] as? String == "Member")

            // The same code again, on a new sign-in: refused as reused, and audited.
            var (second, _) = try await client.login("jane@acme.test")
            let replay = try await client.api(.post, "/api/v1/auth/mfa", #"{"code":"\#(code)"}"#, session: &second)
            #expect(replay.status == .unauthorized)
            #expect(replay.errorCode == "code_reused")
            let reuse = try await h.auditEvents(action: .codeReuse)
            #expect(reuse.count == 1)
            #expect(reuse.first?.targetID == id)
            // The second session is still only half signed in.
            let state = try await client.api(.get, "/api/v1/auth/session", session: &second)
            #expect(state.json["status"] as? String == "mfa_required")
            // The member's last sign-in was recorded.
            let member = try await MemberModel.find(id, on: h.db)
            #expect(member?.lastSignInAt == h.clock.now)
        }
    }

    @Test(
        "a right code promotes the session, marks the sign-in and remembers the address together; a promotion of a session that is gone records nothing"
    )
    func promotionRecordsSignIn() async throws {
        try await Harness.withApp { h, _ in
            let (id, secret) = try await h.member("jane@acme.test", totp: true)
            let store = h.services.database.store
            let address = ClientAddress.throttleKey("192.0.2.44")
            let meta = RequestMeta(requestID: "t", ip: "192.0.2.44", userAgent: "test")
            let pending = try await h.passwordStep("jane@acme.test", meta: meta)
            #expect(try await MemberModel.find(id, on: h.db)?.lastSignInAt == nil, "not signed in at the password")
            h.clock.advance(5)
            let token = try await h.services.auth.completeSignIn(
                auth: pending, code: try h.code(secret!), recoveryCode: nil, meta: meta)
            #expect(try await h.services.sessions.load(token: token)?.state == .signedIn)
            #expect(try await MemberModel.find(id, on: h.db)?.lastSignInAt == h.clock.now)
            #expect(try await store.knownAddresses.isFamiliar(memberID: id, address: address, now: h.clock.now))
            // A session that is gone: not promoted, and neither the sign-in nor an address recorded for anyone.
            let signedInAt = h.clock.now
            h.clock.advance(5)
            let promoted = try await store.transaction { tx in
                try await tx.sessions.promote(
                    UUID(), to: .signedIn, tokenHash: "gone", now: h.clock.now, mfaVerified: true,
                    signedInFrom: "198.51.100.7")
            }
            #expect(!promoted)
            #expect(try await MemberModel.find(id, on: h.db)?.lastSignInAt == signedInAt)
            let addresses = try await h.sql.raw("SELECT COUNT(*) AS n FROM member_known_addresses").first()
            #expect(try addresses?.decode(column: "n", as: Int.self) == 1)
        }
    }

    @Test(
        "on PostgreSQL a right code is accepted in one statement with every change of the transaction; a used step, a locked bucket and a moved head change nothing; at once from many, each once"
    )
    func acceptedAtOnce() async throws {
        try await Harness.withApp { h, client in
            let (id, secret) = try await h.member("jane@acme.test", totp: true)
            let setup = h.services.database.auditSetup
            let counts = {
                (setup.acceptedAtOnce.load(ordering: .relaxed), setup.atOnceHeadMoved.load(ordering: .relaxed))
            }
            let atOnce = TestDatabase.isPostgres ? 1 : 0
            let meta = RequestMeta(requestID: "t", ip: "192.0.2.44", userAgent: "test")
            let pending = { try await h.passwordStep("jane@acme.test", meta: meta) }
            func step() async throws -> Int64? {
                try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID == id).first()?.lastUsedStep
            }
            // A session at the second factor is read with the member's authenticator, the code checked against it.
            var auth = try await pending()
            let credential = try #require(
                try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID == id).first())
            #expect(auth.pendingAuthenticator?.id == credential.id)
            #expect(auth.pendingAuthenticator?.secretCiphertext == credential.secretCiphertext)
            // A wrong code first: the bucket has a failure, not yet a wait.
            await #expect(throws: LatchkeyError.self) {
                _ = try await h.services.auth.completeSignIn(auth: auth, code: "000000", recoveryCode: nil, meta: meta)
            }
            #expect(try await h.failures(.secondFactor(memberID: id)) == 1)
            let before = counts()
            h.clock.advance(5)
            let token = try await h.services.auth.completeSignIn(
                auth: auth, code: try h.code(secret!), recoveryCode: nil, meta: meta)
            #expect(counts() == (before.0 + atOnce, before.1))
            // Every change the transaction makes: the session promoted under the new token with the second factor's
            // time, the member's sign-in and address, the step taken, the bucket cleared, the success audited.
            let session = try #require(try await SessionModel.find(auth.sessionID, on: h.db))
            #expect(session.state == SessionState.signedIn.rawValue && session.mfaVerifiedAt == h.clock.now)
            let signedIn = try #require(try await h.services.sessions.load(token: token))
            #expect(signedIn.sessionID == auth.sessionID && signedIn.pendingAuthenticator == nil)
            #expect(try await MemberModel.find(id, on: h.db)?.lastSignInAt == h.clock.now)
            #expect(
                try await h.services.database.store.knownAddresses.isFamiliar(
                    memberID: id, address: ClientAddress.throttleKey(meta.ip), now: h.clock.now))
            #expect(try await step() == h.clock.unix / 30)
            #expect(try await h.failures(.secondFactor(memberID: id)) == nil)
            let successes = try await h.auditEvents(action: .signInMFA).filter { $0.result == "success" }
            #expect(successes.count == 1 && successes.first?.targetID == id && successes.first?.actorID == id)

            // The same step again: nothing changes, and the transaction's way answers it as reused.
            auth = try await pending()
            let reused = counts()
            await #expect(throws: LatchkeyError.self) {
                _ = try await h.services.auth.completeSignIn(
                    auth: auth, code: try h.code(secret!), recoveryCode: nil, meta: meta)
            }
            #expect(counts() == reused)
            #expect(try await SessionModel.find(auth.sessionID, on: h.db)?.state == SessionState.mfaPending.rawValue)

            // A locked bucket: the right code is refused unchecked and its step not taken.
            h.clock.advance(30)
            let open = try await step()
            try await h.sql.raw("DELETE FROM sign_in_throttles").run()
            try await h.setThrottle(
                .secondFactor(memberID: id), email: "jane@acme.test", memberID: id, failures: 5,
                lockedUntil: Int64(h.clock.now.timeIntervalSince1970 * 1000) + 60_000)
            await #expect(throws: (any Error).self) {
                _ = try await h.services.auth.completeSignIn(
                    auth: auth, code: try h.code(secret!), recoveryCode: nil, meta: meta)
            }
            #expect(try await step() == open && counts() == reused)
            try await h.sql.raw("DELETE FROM sign_in_throttles").run()

            // Another instance moves the chain's head: the statement finds it moved, changes nothing, and is tried
            // again after the head it found.
            var logger = Logger(label: "second")
            logger.logLevel = .warning
            let second = try LatchkeyDatabase(location: h.services.database.location, logger: logger)
            defer { Task { await second.shutdown() } }
            second.auditSetup.chainKey = setup.chainKey
            try await second.store.audit.append(
                AuditEntry(organizationID: h.acme.organizationID, action: .settingsChanged, result: .success),
                at: h.clock.now)
            _ = try await h.services.auth.completeSignIn(
                auth: auth, code: try h.code(secret!), recoveryCode: nil, meta: meta)
            #expect(counts() == (reused.0 + atOnce, reused.1 + atOnce))
            #expect(try await SessionModel.find(auth.sessionID, on: h.db)?.state == SessionState.signedIn.rawValue)

            // Thirty members at once through the API while the other instance writes to the chain: each signed in
            // once, each success audited once, the chain in one line.
            var members: [(id: UUID, code: String, session: Session)] = []
            for index in 0..<30 {
                let (member, memberSecret) = try await h.member("m\(index)@acme.test", totp: true)
                let session = try await client.login("m\(index)@acme.test").0
                members.append((member, try h.code(memberSecret!), session))
            }
            let crowd = counts()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (_, code, session) in members {
                    group.addTask {
                        var session = session
                        let answer = try await client.api(
                            .post, "/api/v1/auth/mfa", #"{"code":"\#(code)"}"#, session: &session)
                        #expect(answer.status == .ok)
                    }
                }
                for index in 0..<10 {
                    group.addTask {
                        try await second.store.audit.append(
                            AuditEntry(
                                organizationID: h.acme.organizationID, action: .settingsChanged, result: .success,
                                reason: "b\(index)"),
                            at: h.clock.now)
                    }
                }
                try await group.waitForAll()
            }
            if TestDatabase.isPostgres { #expect(counts().0 > crowd.0) }
            let audited = try await h.auditEvents(action: .signInMFA).filter { $0.result == "success" }
            #expect(Set(audited.compactMap(\.targetID)) == Set(members.map(\.id) + [id]) && audited.count == 32)
            let promoted = try await SessionModel.query(on: h.db).filter(\.$state == SessionState.signedIn.rawValue)
                .count()
            #expect(promoted == 32)
            let chain = h.acme.organizationID.uuidString.lowercased()
            let seqs = try await AuditEventModel.query(on: h.db).filter(\.$chain == chain).sort(\.$seq).all().map(\.seq)
            #expect(seqs == Array(1...Int64(seqs.count)))
            guard case .intact = try await h.services.audit.verify() else {
                Issue.record("the chain does not verify")
                return
            }
        }
    }

    @Test("codes one step old or new are accepted; two steps away are refused")
    func window() async throws {
        try await Harness.withApp { h, client in
            let (_, secret) = try await h.member("jane@acme.test", totp: true)
            _ = try await client.signIn("jane@acme.test", code: try h.code(secret!, offsetSteps: -1))
            h.clock.advance(60)
            _ = try await client.signIn("jane@acme.test", code: try h.code(secret!, offsetSteps: 1))
            h.clock.advance(120)
            var (session, _) = try await client.login("jane@acme.test")
            for offset: Int64 in [-2, 2] {
                let response = try await client.api(
                    .post, "/api/v1/auth/mfa", #"{"code":"\#(try h.code(secret!, offsetSteps: offset))"}"#,
                    session: &session)
                #expect(response.status == .unauthorized)
                #expect(response.errorCode == "invalid_code")
            }
        }
    }

    @Test("two concurrent submissions of one valid code: exactly one succeeds")
    func concurrentCode() async throws {
        try await Harness.withApp { h, client in
            let (_, secret) = try await h.member("jane@acme.test", totp: true)
            let (first, _) = try await client.login("jane@acme.test")
            let (second, _) = try await client.login("jane@acme.test")
            let code = try h.code(secret!)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for var session in [first, second] {
                    group.addTask {
                        try await client.api(.post, "/api/v1/auth/mfa", #"{"code":"\#(code)"}"#, session: &session)
                            .status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 1)
            #expect(statuses.filter { $0 == .unauthorized }.count == 1)
            let signedIn = try await SessionModel.query(on: h.db).filter(\.$state == SessionState.signedIn.rawValue)
                .count()
            #expect(signedIn == 1)
        }
    }

    @Test(
        "100 concurrent submissions of one valid code on 100 sessions: one signs in; the others are counted as reuse until the wait, then refused unchecked"
    )
    func hundredConcurrentCodes() async throws {
        try await Harness.withApp { h, client in
            let (id, secret) = try await h.member("jane@acme.test", totp: true)
            var sessions: [Session] = []
            for _ in 0..<100 { sessions.append(try await client.login("jane@acme.test").0) }
            let code = try h.code(secret!)
            let answers = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                for var session in sessions {
                    group.addTask {
                        let response = try await client.api(
                            .post, "/api/v1/auth/mfa", #"{"code":"\#(code)"}"#, session: &session)
                        return (response.status, response.errorCode)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.filter { $0.0 == .ok }.count == 1)
            let reused = answers.filter { $0 == (.unauthorized, "code_reused") }.count
            let refused = answers.filter { $0 == (.tooManyRequests, "too_many_attempts") }.count
            #expect(reused == 5, "the losers are claimed after the winner, up to the free failures")
            #expect(reused + refused == 99, "no other answer: \(Set(answers.map { "\($0.0.code) \($0.1 ?? "")" }))")
            // Counted once each, never twice, none lost: the bucket and the audit log agree with the answers.
            #expect(try await h.failures(.secondFactor(memberID: id)) == reused)
            #expect(try await h.auditEvents(action: .codeReuse).count == reused)
            #expect(try await h.auditEvents(action: .signInMFA).map(\.result) == ["success"])
            let signedIn = try await SessionModel.query(on: h.db).filter(\.$state == SessionState.signedIn.rawValue)
                .count()
            #expect(signedIn == 1)
        }
    }

    @Test("unknown email and wrong password get the same answer")
    func sameAnswer() async throws {
        try await Harness.withApp { h, client in
            try await h.member("jane@acme.test", totp: true)
            let (_, unknown) = try await client.login("nobody@acme.test")
            let (_, wrong) = try await client.login("jane@acme.test", password: "not the password")
            #expect(unknown.status == .unauthorized)
            #expect(wrong.status == .unauthorized)
            #expect(unknown.text == wrong.text)
            #expect(unknown.headers[.setCookie] == nil)
            #expect(try await SessionModel.query(on: h.db).count() == 0)
            let failures = try await h.auditEvents(action: .signInPassword)
            #expect(failures.map(\.result) == ["failure", "failure"])
        }
    }

    @Test("wrong codes lock the account with back-off; even the right code waits; 429 with Retry-After")
    func lockout() async throws {
        try await Harness.withApp { h, client in
            let (id, secret) = try await h.member("jane@acme.test", totp: true)
            var (session, _) = try await client.login("jane@acme.test")
            let wrong = try h.code(secret!) == "000000" ? "111111" : "000000"
            for _ in 0..<5 {
                let response = try await client.api(
                    .post, "/api/v1/auth/mfa", #"{"code":"\#(wrong)"}"#, session: &session)
                #expect(response.status == .unauthorized)
            }
            let locked = try await client.api(
                .post, "/api/v1/auth/mfa", #"{"code":"\#(try h.code(secret!))"}"#, session: &session)
            #expect(locked.status == .tooManyRequests)
            #expect(locked.errorCode == "too_many_attempts")
            #expect(locked.headers[.retryAfter] == "30")
            #expect(try await h.failures(.secondFactor(memberID: id)) == 5, "the refused attempt was not counted")
            #expect(try await h.auditEvents(action: .signInMFA).count == 5, "nor checked")
            #expect(try await h.auditEvents(action: .lockout).count == 1)
            // After the wait, the right code works and the counter resets.
            h.clock.advance(31)
            let ok = try await client.api(
                .post, "/api/v1/auth/mfa", #"{"code":"\#(try h.code(secret!))"}"#, session: &session)
            #expect(ok.status == .ok)
            #expect(try await h.failures(.secondFactor(memberID: id)) == nil)
        }
    }

    @Test(
        "at the second factor's hard stop: a wrong password answers as ever, the right one says locked; no code is checked"
    )
    func hardStop() async throws {
        try await Harness.withApp { h, client in
            let (id, secret) = try await h.member("jane@acme.test", totp: true)
            var (pending, _) = try await client.login("jane@acme.test")
            try await h.setThrottle(
                .secondFactor(memberID: id), email: "jane@acme.test", memberID: id, failures: 50,
                lockedUntil: SignInThrottles.lockedForGood)
            // A session that got past the password earlier: even the right code is not checked.
            let code = try await client.api(
                .post, "/api/v1/auth/mfa", #"{"code":"\#(try h.code(secret!))"}"#, session: &pending)
            #expect(code.status == .forbidden)
            #expect(code.errorCode == "account_locked")
            #expect(try await h.auditEvents(action: .signInMFA).isEmpty)
            let state = try await client.api(.get, "/api/v1/auth/session", session: &pending)
            #expect(state.json["status"] as? String == "mfa_required")
            let (_, wrong) = try await client.login("jane@acme.test", password: "not the password")
            let (_, unknown) = try await client.login("nobody@acme.test")
            #expect(wrong.status == .unauthorized)
            #expect(wrong.text == unknown.text)
            let (_, right) = try await client.login("jane@acme.test")
            #expect(right.status == .forbidden)
            #expect(right.errorCode == "account_locked")
            #expect(right.headers[.setCookie] == nil)
            #expect(try await SessionModel.query(on: h.db).count() == 1, "only the earlier pending session")
            #expect(try await h.failures(.secondFactor(memberID: id)) == 50)
            #expect(
                try await h.auditEvents(action: .signInPassword).last?.reason
                    == "sign-in locked after too many wrong codes")
        }
    }

    @Test("web sign-in: form with double-submit CSRF, then the code page, then the overview")
    func webSignIn() async throws {
        try await Harness.withApp { h, client in
            let (_, secret) = try await h.member("jane@acme.test", name: "Jane Doe", role: .admin, totp: true)
            var browser = Session()
            let loginPage = try await client.page("/login", session: &browser)
            #expect(loginPage.status == .ok)
            let token = try #require(csrfField(in: loginPage.text))
            #expect(browser.cookies[Cookies.preSessionCSRF] == token)

            // Without the token the form is refused.
            var noToken = browser
            let refused = try await client.form(
                "/login", ["email": "jane@acme.test", "password": Harness.password], session: &noToken)
            #expect(refused.status == .forbidden)
            #expect(try await SessionModel.query(on: h.db).count() == 0)

            let posted = try await client.form(
                "/login", ["_csrf": token, "email": "jane@acme.test", "password": Harness.password], session: &browser)
            #expect(posted.status == .seeOther)
            #expect(posted.location == "/login/mfa")
            let codePage = try await client.page("/login/mfa", session: &browser)
            #expect(codePage.text.contains("Enter the 6-digit code from your authenticator app"))
            // A member who lost their phone is told whom to ask, by their organization's name.
            #expect(codePage.text.contains("Ask an administrator of Acme to reset your MFA."))
            #expect(
                try await client.page("/login/recovery", session: &browser).text.contains(
                    "Ask an administrator of Acme to reset your MFA."))
            let sessionCSRF = try #require(csrfField(in: codePage.text))

            let wrong = try await client.form("/login/mfa", ["_csrf": sessionCSRF, "code": "12345"], session: &browser)
            #expect(wrong.status == .badRequest)
            #expect(wrong.text.contains("Enter the 6-digit code"))

            let before = browser.cookies[Cookies.session]
            let done = try await client.form(
                "/login/mfa", ["_csrf": sessionCSRF, "code": try h.code(secret!)], session: &browser)
            #expect(done.status == .seeOther)
            #expect(done.location == "/")
            #expect(browser.cookies[Cookies.session] != before, "the session token is rotated at sign-in")
            let home = try await client.page("/", session: &browser)
            #expect(home.status == .ok)
            #expect(home.text.contains("<dd id=\"org-name\">Acme</dd>"))
            #expect(home.text.contains("<dd id=\"role-name\">Admin</dd>"))
        }
    }

    @Test("optional MFA: sign-in completes without a code and the page invites enrollment")
    func optionalMFA() async throws {
        try await Harness.withApp(requireMFA: false) { h, client in
            try await h.member("sam@acme.test", totp: false)
            var (session, response) = try await client.login("sam@acme.test")
            #expect(response.json["status"] as? String == "signed_in")
            let home = try await client.page("/", session: &session)
            #expect(home.status == .ok)
            #expect(home.text.contains("Protect your account with two-step verification"))
        }
    }
}
