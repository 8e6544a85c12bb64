import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
import SQLKit
import Testing

@testable import LatchkeyApp

extension Harness {
    /// One password attempt as if from `ip`; the error's code, or "ok".
    func attempt(_ email: String, password: String = Harness.password, from ip: String) async -> String {
        do {
            _ = try await services.auth.login(
                email: email, password: password, meta: RequestMeta(requestID: "t", ip: ip, userAgent: "test"))
            return "ok"
        } catch let error as LatchkeyError {
            return error.code.rawValue
        } catch {
            return "\(error)"
        }
    }

    /// The seconds a refused attempt was told to wait.
    func retryAfter(_ email: String, from ip: String) async -> Int? {
        do {
            _ = try await services.auth.login(
                email: email, password: "wrong-\(UUID())", meta: RequestMeta(requestID: "t", ip: ip, userAgent: "test"))
        } catch let error as LatchkeyError {
            if case .tooManyRequests(let seconds) = error.kind { return seconds }
        } catch {}
        return nil
    }
}

@Suite("Sign-in throttles: every attempt counted, bursts held to the schedule, no lock an outsider can make permanent")
struct ThrottleTests {
    @Test("120 concurrent wrong passwords: 5 checked and counted and audited, 115 refused unchecked with 429")
    func burst() async throws {
        try await Harness.withApp { h, client in
            try await h.member("jane@acme.test", totp: true)
            let before = try await AuditEventModel.query(on: h.db).count()
            let statuses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                for _ in 0..<120 {
                    group.addTask {
                        let (_, response) = try await client.login("jane@acme.test", password: "wrong password!")
                        return (response.status, response.headers[.retryAfter])
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let checked = statuses.filter { $0.0 == .unauthorized }.count
            #expect(checked == 5)
            #expect(statuses.filter { $0.0 == .tooManyRequests }.count == 115)
            #expect(statuses.allSatisfy { $0.0 != .tooManyRequests || $0.1 == "30" })
            let rows = try await h.sql.select().column("key").column("failures").from("sign_in_throttles").all()
            let counts = try rows.map { try $0.decode(column: "failures", as: Int.self) }
            #expect(counts == [checked, checked], "per address and account-wide: \(counts)")
            let audited = try await h.auditEvents(action: .signInPassword)
            #expect(audited.count == checked && audited.allSatisfy { $0.result == "failure" })
            #expect(try await h.auditEvents(action: .lockout).count == 1)
            guard case .intact(let events) = try await h.services.audit.verify() else {
                Issue.record("audit chain broken")
                return
            }
            #expect(events == before + checked + 1)
        }
    }

    @Test("40 concurrent sign-ins of 40 members, password then code: every one succeeds")
    func concurrentSignIns() async throws {
        try await Harness.withApp { h, client in
            var secrets: [String: [UInt8]] = [:]
            for index in 0..<40 {
                let email = "m\(index)@acme.test"
                secrets[email] = try await h.member(email, totp: true).secret
            }
            let codes = try secrets.mapValues { try h.code($0) }
            let results = try await withThrowingTaskGroup(of: (HTTPResponse.Status, HTTPResponse.Status).self) {
                group in
                for (email, code) in codes {
                    group.addTask {
                        var (session, password) = try await client.login(email)
                        let mfa = try await client.api(
                            .post, "/api/v1/auth/mfa", #"{"code":"\#(code)"}"#, session: &session)
                        return (password.status, mfa.status)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 40)
            #expect(results.allSatisfy { $0 == (.ok, .ok) }, "\(results)")
            #expect(
                try await SessionModel.query(on: h.db).filter(\.$state == SessionState.signedIn.rawValue).count() == 40)
            #expect(try await h.auditEvents(action: .signInMFA).filter { $0.result == "success" }.count == 40)
            #expect(try await h.sql.select().column("key").from("sign_in_throttles").all().isEmpty)
        }
    }

    @Test("wrong passwords from one address throttle that address only; the wait is capped and never permanent")
    func perAddress() async throws {
        try await Harness.withApp { h, _ in
            try await h.member("jane@acme.test", totp: true)
            for _ in 0..<5 {
                #expect(
                    await h.attempt("jane@acme.test", password: "guess guess guess", from: "203.0.113.7")
                        == "invalid_credentials")
            }
            // The attacker's address waits, even with the right password, and the refusal is not counted.
            #expect(await h.attempt("jane@acme.test", from: "203.0.113.7") == "too_many_attempts")
            #expect(try await h.failures(.passwordFromAddress(email: "jane@acme.test", address: "203.0.113.7")) == 5)
            // Jane, elsewhere, signs in at once.
            #expect(await h.attempt("jane@acme.test", from: "198.51.100.20") == "ok")
            // The attacker keeps going: waits double up to 15 minutes, never more, never for good.
            var waits: [Int] = []
            for _ in 0..<12 {
                guard let wait = await h.retryAfter("jane@acme.test", from: "203.0.113.7") else { break }
                waits.append(wait)
                h.clock.advance(TimeInterval(wait))
                #expect(
                    await h.attempt("jane@acme.test", password: "guess guess guess", from: "203.0.113.7")
                        == "invalid_credentials")
            }
            #expect(waits == [30, 60, 120, 240, 480, 900, 900, 900, 900, 900, 900, 900])
            #expect(await h.attempt("jane@acme.test", from: "198.51.100.20") == "ok")
        }
    }

    @Test("an unknown email is throttled in the same words as a known one")
    func unknownEmail() async throws {
        try await Harness.withApp { h, client in
            try await h.member("jane@acme.test", totp: true)
            var answers: [String: TestResponse] = [:]
            for email in ["jane@acme.test", "nobody@acme.test"] {
                for _ in 0..<5 { _ = try await client.login(email, password: "guess guess guess") }
                answers[email] = try await client.login(email, password: "guess guess guess").1
            }
            let known = try #require(answers["jane@acme.test"])
            let unknown = try #require(answers["nobody@acme.test"])
            #expect(known.status == .tooManyRequests && unknown.status == .tooManyRequests)
            #expect(known.text == unknown.text)
            #expect(known.headers[.retryAfter] == unknown.headers[.retryAfter])
            #expect(known.text.contains("ask an administrator to unlock your sign-in"))
        }
    }

    @Test("a distributed attack meets the account-wide ceiling, which never touches the member's own place")
    func distributed() async throws {
        try await Harness.withApp { h, _ in
            let (id, secret) = try await h.member("olivia@acme.test", role: .owner, totp: true)
            // Olivia's usual place: one completed sign-in from it.
            var session = try await h.services.auth.login(
                email: "olivia@acme.test", password: Harness.password,
                meta: RequestMeta(requestID: "t", ip: "192.0.2.10", userAgent: "test"))
            let pending = try #require(
                try await h.services.sessions.load(token: session.token), "the pending session loads")
            _ = try await h.services.auth.completeSignIn(
                auth: pending, code: try h.code(secret!), recoveryCode: nil,
                meta: RequestMeta(requestID: "t", ip: "192.0.2.10", userAgent: "test"))
            h.clock.advance(30)
            // 20 addresses, 6 guesses each: 5 checked per address, 100 in all.
            for host in 1...20 {
                for _ in 0..<6 {
                    _ = await h.attempt("olivia@acme.test", password: "guess guess guess", from: "203.0.113.\(host)")
                }
            }
            #expect(try await h.failures(.passwordFromUnfamiliar(email: "olivia@acme.test")) == 100)
            #expect(try await h.auditEvents(action: .signInPassword).filter { $0.result == "failure" }.count == 100)
            // A fresh address now waits (one minute: the ceiling slows, it does not lock)...
            #expect(await h.retryAfter("olivia@acme.test", from: "203.0.113.99") == 60)
            #expect(await h.attempt("olivia@acme.test", from: "198.51.100.1") == "too_many_attempts")
            // ...while Olivia, from her own place, signs in at once.
            session = try await h.services.auth.login(
                email: "olivia@acme.test", password: Harness.password,
                meta: RequestMeta(requestID: "t", ip: "192.0.2.10", userAgent: "test"))
            #expect(session.state == .mfaPending)
            // The admin-visible lock: the Members table marks her Locked.
            #expect(
                try await h.services.throttles.lockedUntil(memberIDs: [id], now: h.clock.now)[id] != nil)
            // A quiet day and the account-wide count starts over.
            h.clock.advance(24 * 3600 + 1)
            #expect(
                await h.attempt("olivia@acme.test", password: "guess guess guess", from: "203.0.113.50")
                    == "invalid_credentials")
            #expect(try await h.failures(.passwordFromUnfamiliar(email: "olivia@acme.test")) == 1)
        }
    }

    @Test("a right password gives back its own claim; the account-wide count is not wiped by the member signing in")
    func release() async throws {
        try await Harness.withApp(requireMFA: false) { h, _ in
            try await h.member("sam@acme.test", totp: false)
            for host in 1...3 {
                _ = await h.attempt("sam@acme.test", password: "guess guess guess", from: "203.0.113.\(host)")
            }
            #expect(await h.attempt("sam@acme.test", from: "203.0.113.1") == "ok")
            #expect(try await h.failures(.passwordFromAddress(email: "sam@acme.test", address: "203.0.113.1")) == nil)
            #expect(try await h.failures(.passwordFromAddress(email: "sam@acme.test", address: "203.0.113.2")) == 1)
            #expect(try await h.failures(.passwordFromUnfamiliar(email: "sam@acme.test")) == 3)
            // 203.0.113.1 is now one of Sam's places: its failures no longer count account-wide.
            _ = await h.attempt("sam@acme.test", password: "guess guess guess", from: "203.0.113.1")
            #expect(try await h.failures(.passwordFromUnfamiliar(email: "sam@acme.test")) == 3)
        }
    }

    @Test("wrong codes after a right password: back-off, then a hard stop at 50 that only unlock or Reset MFA lifts")
    func secondFactorHardStop() async throws {
        try await Harness.withApp { h, client in
            let (id, secret) = try await h.member("jane@acme.test", totp: true)
            var (session, _) = try await client.login("jane@acme.test")
            let wrong = try h.code(secret!) == "000000" ? "111111" : "000000"
            var checked = 0
            while checked < 50 {
                let response = try await client.api(
                    .post, "/api/v1/auth/mfa", #"{"code":"\#(wrong)"}"#, session: &session)
                if response.status == .tooManyRequests {
                    h.clock.advance(TimeInterval(Int(response.headers[.retryAfter] ?? "1") ?? 1))
                    // Sessions waiting for a code expire after 15 minutes: start a new one as the member would.
                    (session, _) = try await client.login("jane@acme.test")
                    continue
                }
                #expect(response.status == .unauthorized)
                checked += 1
            }
            #expect(try await h.failures(.secondFactor(memberID: id)) == 50)
            h.clock.advance(3600 * 24 * 30)
            let (_, locked) = try await client.login("jane@acme.test")
            #expect(locked.status == .forbidden && locked.errorCode == "account_locked")
            #expect(try await h.auditEvents(action: .lockout).filter { $0.reason.contains("administrator") }.count == 1)
            // Reset MFA lifts it (and Jane enrolls again).
            let admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            var adminSession = admin.session
            let reset = try await client.api(
                .post, "/api/v1/members/\(id)/mfa/reset", "{}", session: &adminSession)
            #expect(reset.status == .ok, "\(reset.text)")
            #expect(try await h.failures(.secondFactor(memberID: id)) == nil)
            let (_, after) = try await client.login("jane@acme.test")
            #expect(after.json["status"] as? String == "enrollment_required")
        }
    }

    @Test("Reset MFA clears the second-factor count but leaves wrong-password counts alone")
    func resetClearsOnlySecondFactor() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", client: client)
            for _ in 0..<5 {
                _ = await h.attempt("jane@acme.test", password: "guess guess guess", from: "203.0.113.9")
            }
            var (pending, _) = try await client.login("jane@acme.test")
            let wrong = try h.code(jane.secret) == "000000" ? "111111" : "000000"
            _ = try await client.api(.post, "/api/v1/auth/mfa", #"{"code":"\#(wrong)"}"#, session: &pending)
            #expect(try await h.failures(.secondFactor(memberID: jane.id)) != nil)
            let reset = try await client.api(
                .post, "/api/v1/members/\(jane.id)/mfa/reset", "{}", session: &admin.session)
            #expect(reset.status == .ok)
            #expect(try await h.failures(.secondFactor(memberID: jane.id)) == nil)
            #expect(try await h.failures(.passwordFromAddress(email: "jane@acme.test", address: "203.0.113.9")) == 5)
            #expect(await h.attempt("jane@acme.test", from: "203.0.113.9") == "too_many_attempts")
        }
    }

    @Test("100 wrong codes at once on one session: exactly the free five are checked (one claim statement each)")
    func codeBurst() async throws {
        try await Harness.withApp { h, client in
            let (id, secret) = try await h.member("jane@acme.test", totp: true)
            let (session, _) = try await client.login("jane@acme.test")
            let wrong = try h.code(secret!) == "000000" ? "111111" : "000000"
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        var copy = session
                        return try await client.api(
                            .post, "/api/v1/auth/mfa", #"{"code":"\#(wrong)"}"#, session: &copy
                        ).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .unauthorized }.count == 5, "\(statuses)")
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 95)
            #expect(try await h.failures(.secondFactor(memberID: id)) == 5)
            #expect(try await h.auditEvents(action: .signInMFA).count == 5)
        }
    }
}

@Suite("Throttled pages say when to try again")
struct ThrottledPagesTests {
    @Test("My security: wrong codes for new recovery codes wait like any code, and the page answers 429 + Retry-After")
    func securityPage() async throws {
        try await Harness.withApp { h, client in
            let jane = try await h.enrolled("jane@acme.test", client: client)
            var session = jane.session
            let page = try await client.page("/security", session: &session)
            let csrf = try #require(csrfField(in: page.text))
            let wrong = try h.code(jane.secret) == "000000" ? "111111" : "000000"
            for _ in 0..<5 {
                let refused = try await client.form(
                    "/security/recovery-codes", ["_csrf": csrf, "code": wrong], session: &session)
                #expect(refused.status == .unauthorized)
            }
            let waiting = try await client.form(
                "/security/recovery-codes", ["_csrf": csrf, "code": try h.code(jane.secret)], session: &session)
            #expect(waiting.status == .tooManyRequests)
            #expect(waiting.headers[.retryAfter] == "30")
            #expect(waiting.text.contains("Too many sign-in attempts. Try again in 30 seconds."))
            #expect(try await h.failures(.secondFactor(memberID: jane.id)) == 5)
        }
    }
}
