import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
import SQLKit
import Testing

@testable import LatchkeyApp

@Suite("Mandatory enrollment and recovery codes")
struct EnrollmentTests {
    /// The secret in an `otpauth://` URI.
    func secret(fromURI uri: String) -> [UInt8]? {
        guard let components = URLComponents(string: uri),
            let value = components.queryItems?.first(where: { $0.name == "secret" })?.value
        else { return nil }
        return Base32.decode(value)
    }

    @Test("a member with no MFA is held in enrollment: every other page and API refuses until it completes")
    func enrollmentEnforced() async throws {
        try await Harness.withApp { h, client in
            let (id, _) = try await h.member("sam@acme.test", name: "Sam Lee", totp: false)
            var (session, response) = try await client.login("sam@acme.test")
            #expect(response.json["status"] as? String == "enrollment_required")

            // Pages send the member back to enrollment; APIs answer 403; a forged state change is refused.
            for path in ["/", "/security"] {
                let page = try await client.page(path, session: &session)
                #expect(page.status == .found)
                #expect(page.location == "/enroll")
            }
            let stepUp = try await client.api(.post, "/api/v1/auth/step-up", #"{"code":"123456"}"#, session: &session)
            #expect(stepUp.status == .forbidden)
            #expect(stepUp.errorCode == "enrollment_required")
            let revoke = try await client.form(
                "/security/recovery-codes", ["_csrf": session.csrf!, "code": "123456"], session: &session)
            #expect(revoke.status == .forbidden)
            let mfa = try await client.api(.post, "/api/v1/auth/mfa", #"{"code":"123456"}"#, session: &session)
            #expect(mfa.status == .conflict)

            // The enrollment page shows a QR code, the key in groups, and the URI.
            let page = try await client.page("/enroll", session: &session)
            #expect(page.status == .ok)
            #expect(page.text.contains("<svg"))
            #expect(page.text.contains("Can't scan? Enter this key:"))
            #expect(page.text.contains("otpauth://totp/"))

            // A wrong code does not complete enrollment.
            let begun = try await client.api(.post, "/api/v1/auth/enrollment", session: &session)
            #expect(begun.status == .ok)
            let uri = try #require(begun.json["otpauthUri"] as? String)
            let secret = try #require(self.secret(fromURI: uri))
            #expect(secret.count == 20)
            #expect(Base32.encode(secret) == begun.json["secret"] as? String)
            let wrongCode = try h.code(secret) == "000000" ? "111111" : "000000"
            let wrong = try await client.api(
                .post, "/api/v1/auth/enrollment/confirm", #"{"code":"\#(wrongCode)"}"#, session: &session)
            #expect(wrong.status == .unauthorized)
            #expect(try await MemberModel.find(id, on: h.db)?.mfa == .notSetUp)
            #expect(try await client.page("/", session: &session).location == "/enroll")

            // The right code from oathtool completes it and returns ten recovery codes once.
            let confirmed = try await client.api(
                .post, "/api/v1/auth/enrollment/confirm", #"{"code":"\#(try h.code(secret))"}"#, session: &session)
            #expect(confirmed.status == .ok)
            let codes = try #require(confirmed.json["recoveryCodes"] as? [String])
            #expect(codes.count == 10)
            #expect(try await MemberModel.find(id, on: h.db)?.mfa == .enabled)
            #expect(try await RecoveryCodeModel.query(on: h.db).filter(\.$memberID == id).count() == 10)
            #expect(try await client.page("/", session: &session).status == .ok)
            // The wrong code was audited too (it guesses nothing, so it counts toward no lock).
            #expect(try await h.auditEvents(action: .mfaEnrolled).map(\.result) == ["failure", "success"])
        }
    }

    @Test("web enrollment: QR page, confirm, recovery codes shown once, acknowledgement required")
    func webEnrollment() async throws {
        try await Harness.withApp { h, client in
            try await h.member("sam@acme.test", name: "Sam Lee", totp: false)
            var (browser, _) = try await client.login("sam@acme.test")
            let page = try await client.page("/enroll", session: &browser)
            let csrf = try #require(csrfField(in: page.text))
            let uri = try #require(
                page.text.range(of: "otpauth://totp/[^<\"]+", options: .regularExpression).map { String(page.text[$0]) }
            )
            let secret = try #require(self.secret(fromURI: uri.replacingOccurrences(of: "&amp;", with: "&")))

            let codesPage = try await client.form(
                "/enroll/confirm", ["_csrf": csrf, "code": try h.code(secret)], session: &browser)
            #expect(codesPage.status == .ok)
            #expect(codesPage.text.contains("Save your recovery codes"))
            #expect(codesPage.text.contains("I have saved these codes"))
            // Until acknowledged, pages lead back to the recovery-code step, which cannot show the codes again.
            let held = try await client.page("/", session: &browser)
            #expect(held.location == "/enroll/recovery-codes")
            let lost = try await client.page("/enroll/recovery-codes", session: &browser)
            #expect(lost.text.contains("cannot be shown again"))
            let notAcknowledged = try await client.form("/enroll/ack", ["_csrf": csrf], session: &browser)
            #expect(notAcknowledged.status == .badRequest)
            let acknowledged = try await client.form("/enroll/ack", ["_csrf": csrf, "saved": "yes"], session: &browser)
            #expect(acknowledged.location == "/")
            #expect(try await client.page("/", session: &browser).status == .ok)
        }
    }

    @Test("a recovery code signs in once, then never again")
    func recoveryCodeSingleUse() async throws {
        try await Harness.withApp { h, client in
            try await h.member("sam@acme.test", totp: false)
            var (session, _) = try await client.login("sam@acme.test")
            let begun = try await client.api(.post, "/api/v1/auth/enrollment", session: &session)
            let secret = try #require(Base32.decode(begun.json["secret"] as! String))
            let confirmed = try await client.api(
                .post, "/api/v1/auth/enrollment/confirm", #"{"code":"\#(try h.code(secret))"}"#, session: &session)
            let code = try #require((confirmed.json["recoveryCodes"] as? [String])?.first)
            _ = try await client.api(.post, "/api/v1/auth/logout", session: &session)

            var (first, _) = try await client.login("sam@acme.test")
            let used = try await client.api(
                .post, "/api/v1/auth/mfa", #"{"recoveryCode":"\#(code.uppercased())"}"#, session: &first)
            #expect(used.status == .ok)
            let left = try await RecoveryCodeModel.query(on: h.db).filter(\.$usedAt == nil).count()
            #expect(left == 9)

            var (second, _) = try await client.login("sam@acme.test")
            let again = try await client.api(
                .post, "/api/v1/auth/mfa", #"{"recoveryCode":"\#(code)"}"#, session: &second)
            #expect(again.status == .unauthorized)
            #expect(again.errorCode == "invalid_recovery_code")
            #expect(
                try await client.api(.get, "/api/v1/auth/session", session: &second).json["status"] as? String
                    == "mfa_required")
        }
    }

    @Test("the database holds no plaintext TOTP secret and no plaintext recovery code")
    func secretsAtRest() async throws {
        try await Harness.withApp { h, client in
            try await h.member("sam@acme.test", totp: false)
            var (session, _) = try await client.login("sam@acme.test")
            let begun = try await client.api(.post, "/api/v1/auth/enrollment", session: &session)
            let base32 = try #require(begun.json["secret"] as? String)
            let secret = try #require(Base32.decode(base32))
            let confirmed = try await client.api(
                .post, "/api/v1/auth/enrollment/confirm", #"{"code":"\#(try h.code(secret))"}"#, session: &session)
            let codes = try #require(confirmed.json["recoveryCodes"] as? [String])

            let rows = try await h.sql.raw("SELECT secret_ciphertext FROM totp_credentials").all()
            #expect(rows.count == 1)
            let stored = try rows[0].decode(column: "secret_ciphertext", as: String.self)
            #expect(!stored.contains(base32))
            #expect(!stored.lowercased().contains(hex(secret)))
            #expect(Data(base64Encoded: stored).map { !Array($0).contains(subsequence: secret) } == true)
            let hashes = try await h.sql.raw("SELECT code_hash FROM recovery_codes").all()
                .map { try $0.decode(column: "code_hash", as: String.self) }
            #expect(hashes.count == 10)
            for code in codes {
                #expect(
                    !hashes.contains { $0.contains(code) || $0.contains(code.replacingOccurrences(of: "-", with: "")) })
            }
        }
    }

    @Test("replacing the authenticator needs a code from the current one")
    func replaceNeedsCurrentFactor() async throws {
        try await Harness.withApp { h, client in
            let (id, secret) = try await h.member("jane@acme.test", totp: true)
            var session = try await client.signIn("jane@acme.test", code: try h.code(secret!))
            let missing = try await client.api(.post, "/api/v1/auth/enrollment", "{}", session: &session)
            #expect(missing.status == .badRequest)
            #expect(missing.errorCode == "current_code_required")
            #expect(try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID == id).count() == 1)
            h.clock.advance(30)
            let begun = try await client.api(
                .post, "/api/v1/auth/enrollment", #"{"currentCode":"\#(try h.code(secret!))"}"#, session: &session)
            #expect(begun.status == .ok)
            let newSecret = try #require(Base32.decode(begun.json["secret"] as! String))
            // The old authenticator keeps working until the new one is confirmed.
            #expect(
                try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID == id).filter(\.$confirmed == true)
                    .count() == 1)
            let confirmed = try await client.api(
                .post, "/api/v1/auth/enrollment/confirm", #"{"code":"\#(try h.code(newSecret))"}"#, session: &session)
            #expect(confirmed.status == .ok)
            let remaining = try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID == id).all()
            #expect(remaining.count == 1)
            #expect(try h.services.serverKey.open(remaining[0].secretCiphertext, context: id.uuidString) == newSecret)
            #expect(try await h.auditEvents(action: .mfaReplaced).count == 1)
        }
    }
}

extension Array where Element: Equatable {
    func contains(subsequence: [Element]) -> Bool {
        guard !subsequence.isEmpty, subsequence.count <= count else { return false }
        return (0...(count - subsequence.count)).contains { Array(self[$0..<$0 + subsequence.count]) == subsequence }
    }
}

@Suite("QR code")
struct QRCodeTests {
    /// Rasterises the page's SVG QR code (its `M x,y` module squares) to a PGM image for zbarimg.
    static func decode(svg: String) throws -> String {
        guard
            let size = svg.range(of: #"width="(\d+)""#, options: .regularExpression).map({
                svg[$0].dropFirst(7).dropLast()
            }),
            let pixels = Int(size)
        else { return "" }
        let module = 6
        var image = [UInt8](repeating: 255, count: pixels * pixels)
        let pattern = try NSRegularExpression(pattern: #"M(\d+),(\d+)h"#)
        for match in pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)) {
            let x = Int(svg[Range(match.range(at: 1), in: svg)!])!
            let y = Int(svg[Range(match.range(at: 2), in: svg)!])!
            for dy in 0..<module { for dx in 0..<module { image[(y + dy) * pixels + x + dx] = 0 } }
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("qr-\(UUID().uuidString).pgm")
        var data = Data("P5\n\(pixels) \(pixels)\n255\n".utf8)
        data.append(contentsOf: image)
        try data.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["zbarimg", "-q", "--raw", file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("the enrollment page's QR code decodes (zbarimg) to the otpauth URI whose secret works with oathtool")
    func qrDecodes() async throws {
        try await Harness.withApp { h, client in
            try await h.member("sam@acme.test", name: "Sam Lee", totp: false)
            var (session, _) = try await client.login("sam@acme.test")
            let page = try await client.page("/enroll", session: &session)
            let svg = try #require(
                page.text.range(of: "<svg[^>]*>.*?</svg>", options: .regularExpression).map { String(page.text[$0]) })
            let uri = try Self.decode(svg: svg)
            #expect(uri.hasPrefix("otpauth://totp/"))
            #expect(uri.contains("issuer="))
            let secretText = try #require(URLComponents(string: uri)?.queryItems?.first { $0.name == "secret" }?.value)
            let secret = try #require(Base32.decode(secretText))
            #expect(secret.count == 20)
            let confirmed = try await client.api(
                .post, "/api/v1/auth/enrollment/confirm", #"{"code":"\#(try h.code(secret))"}"#, session: &session)
            #expect(confirmed.status == .ok)
            #expect((confirmed.json["recoveryCodes"] as? [String])?.count == 10)
        }
    }
}
