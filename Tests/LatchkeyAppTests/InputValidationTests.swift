import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
import NIOCore
import Testing

@testable import LatchkeyApp

@Suite("Bad input gets a clear 4xx and changes nothing")
struct InputValidationTests {
    @Test("malformed requests to every endpoint answer 4xx with a JSON error, never 5xx")
    func malformed() async throws {
        try await Harness.withApp { h, client in
            let (_, secret) = try await h.member("jane@acme.test", totp: true)
            var pending = try await client.login("jane@acme.test").0
            var signedIn = try await client.signIn("jane@acme.test", code: try h.code(secret!))
            let sessionsBefore = try await SessionModel.query(on: h.db).count()
            let auditBefore = try await AuditEventModel.query(on: h.db).count()

            let cases: [(String, String?, String)] = [
                ("/api/v1/auth/login", "{", "invalid_json"),
                ("/api/v1/auth/login", "[]", "invalid_json"),
                ("/api/v1/auth/login", #"{"email": 5, "password": "x"}"#, "invalid_field"),
                ("/api/v1/auth/login", #"{"email": "jane@acme.test"}"#, "missing_field"),
                (
                    "/api/v1/auth/login", #"{"email": "jane@acme.test", "password": "x", "admin": true}"#,
                    "unknown_field"
                ),
                ("/api/v1/auth/login", #"{"email": "not-an-email", "password": "x"}"#, "invalid_email"),
                ("/api/v1/auth/login", #"{"email": null, "password": "x"}"#, "invalid_field"),
            ]
            for (path, body, code) in cases {
                var anonymous = Session()
                let response = try await client.api(.post, path, body, session: &anonymous)
                #expect(response.status == .badRequest, "\(body ?? "") → \(response.status)")
                #expect(response.errorCode == code, "\(body ?? "") → \(response.text)")
            }
            for code in ["12345", "1234567", "12 456", "abcdef", "١٢٣٤٥٦", "１２３４５６", ""] {
                let response = try await client.api(
                    .post, "/api/v1/auth/mfa", #"{"code":"\#(code)"}"#, session: &pending)
                #expect(response.status == .badRequest)
                #expect(response.errorCode == "invalid_code_format")
                let stepUp = try await client.api(
                    .post, "/api/v1/auth/step-up", #"{"code":"\#(code)"}"#, session: &signedIn)
                #expect(stepUp.errorCode == "invalid_code_format")
            }
            // A null optional field is refused, at any depth, and changes nothing.
            for (path, body) in [
                ("/api/v1/auth/mfa", #"{"code":"123456","recoveryCode":null}"#),
                ("/api/v1/members/mfa/reset", #"{"memberIds":["\#(UUID())"],"reason":null}"#),
                ("/api/v1/invitations/bulk", #"{"invitations":[{"email":"a@acme.test","roleId":null}]}"#),
            ] {
                var session = path.hasSuffix("/mfa") ? pending : signedIn
                let response = try await client.api(.post, path, body, session: &session)
                #expect(
                    response.status == .badRequest && response.errorCode == "invalid_field", "\(path): \(response.text)"
                )
            }
            let numeric = try await client.api(.post, "/api/v1/auth/mfa", #"{"code":123456}"#, session: &pending)
            #expect(numeric.errorCode == "invalid_field")
            let both = try await client.api(
                .post, "/api/v1/auth/mfa", #"{"code":"123456","recoveryCode":"x"}"#, session: &pending)
            #expect(both.status == .badRequest)
            let badRecovery = try await client.api(
                .post, "/api/v1/auth/mfa", #"{"recoveryCode":"!!!"}"#, session: &pending)
            #expect(badRecovery.errorCode == "invalid_recovery_code_format")
            let wrongType = try await client.api(
                .post, "/api/v1/auth/login", #"{"email":"a@b.c","password":"x"}"#, session: &pending,
                contentType: "text/plain")
            #expect(wrongType.status == .unsupportedMediaType)
            let confirm = try await client.api(
                .post, "/api/v1/auth/enrollment/confirm", #"{"code":"abc"}"#, session: &signedIn)
            #expect(confirm.status == .badRequest)

            // Oversize body, invalid UTF-8.
            var anonymous = Session()
            let huge = try await client.api(
                .post, "/api/v1/auth/login",
                #"{"email":"\#(String(repeating: "a", count: 100_000))@x.test","password":"x"}"#,
                session: &anonymous)
            #expect(huge.status == .contentTooLarge)
            #expect(huge.errorCode == "body_too_large")
            var bytes = ByteBuffer(string: #"{"email":"a"#)
            bytes.writeBytes([0xff, 0xfe])
            bytes.writeString(#"@b.c","password":"x"}"#)
            let invalidUTF8 = try await client.execute(
                uri: "/api/v1/auth/login", method: .post, headers: [.contentType: "application/json"], body: bytes)
            #expect(invalidUTF8.status == .badRequest)

            // Unauthenticated calls: 401 with a JSON error.
            var nobody = Session()
            for path in ["/api/v1/auth/mfa", "/api/v1/auth/enrollment", "/api/v1/auth/step-up", "/api/v1/auth/logout"] {
                let response = try await client.api(.post, path, #"{"code":"123456"}"#, session: &nobody)
                #expect(response.status == .unauthorized, "\(path)")
                #expect(response.errorCode == "not_signed_in")
            }
            let unknownRoute = try await client.api(.get, "/api/v1/nothing", session: &nobody)
            #expect(unknownRoute.status == .notFound)
            #expect(unknownRoute.errorCode == "not_found")

            // Web forms: malformed percent-encoding and a missing content type.
            let badForm = try await client.execute(
                uri: "/login/mfa", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", .cookie: pending.cookieHeader],
                body: ByteBuffer(string: "_csrf=\(pending.csrf!)&code=%ZZ%ff"))
            #expect((400..<500).contains(badForm.status.code))

            #expect(try await SessionModel.query(on: h.db).count() == sessionsBefore)
            #expect(
                try await SessionModel.query(on: h.db).filter(\.$state == SessionState.mfaPending.rawValue).count() == 1
            )
            // Only the bad-code attempts were audited (as failures); nothing else changed.
            let failures = try await AuditEventModel.query(on: h.db).count() - auditBefore
            #expect(try await AuditEventModel.query(on: h.db).filter(\.$result == "success").count() <= auditBefore)
            #expect(failures >= 0)
        }
    }
}
