import FluentKit
import Foundation
import LatchkeyCore
import LatchkeyStore
import SQLKit

/// Sign-in, second factors, enrollment, recovery codes and step-up.
struct AuthService: Sendable {
    let services: AppServices

    struct LoginOutcome: Sendable {
        var token: String
        var csrfToken: String
        var state: SessionState
    }

    // MARK: Password

    /// Checks email and password; on success opens a session in the state the account calls for.
    /// Unknown email, wrong password, suspended or locked account: one answer.
    func login(email rawEmail: String, password: String, meta: RequestMeta) async throws -> LoginOutcome {
        let email = rawEmail.trimmingCharacters(in: .whitespaces).lowercased()
        try Validation.email(email)
        guard !password.isEmpty, password.utf8.count <= 1024 else {
            throw LatchkeyError.badRequest("invalid_password", "Enter your password.")
        }
        let db = services.db
        let now = services.now
        guard let member = try await MemberModel.query(on: db).filter(\.$email == email).first(),
            let memberID = member.id
        else {
            _ = try await services.passwords.verify(password, hash: services.dummyPasswordHash)
            try await services.audit.append(
                AuditEntry(
                    organizationID: nil, actorEmail: email, action: .signInPassword, targetEmail: email,
                    result: .failure, reason: "unknown email", requestID: meta.requestID, ip: meta.ip,
                    userAgent: meta.userAgent), at: now, on: db)
            throw LatchkeyError.invalidCredentials
        }
        let locked = isLocked(member, now: now)
        let passwordOK = try await services.passwords.verify(password, hash: member.passwordHash)
        let entry = { (result: AuditResult, reason: String) in
            AuditEntry(
                organizationID: member.organizationID, actorID: memberID, actorEmail: email, action: .signInPassword,
                targetID: memberID, targetEmail: email, result: result, reason: reason, requestID: meta.requestID,
                ip: meta.ip, userAgent: meta.userAgent)
        }
        guard passwordOK, !locked, member.status == AccountStatus.active.rawValue else {
            let reason = locked ? "account locked" : (passwordOK ? "account suspended" : "wrong password")
            try await services.audit.append(entry(.failure, reason), at: now, on: db)
            if !passwordOK, !locked {
                try await recordFailure(
                    memberID: memberID, organizationID: member.organizationID, email: email, meta: meta)
            }
            throw LatchkeyError.invalidCredentials
        }
        guard let organization = try await OrganizationModel.find(member.organizationID, on: db) else {
            throw LatchkeyError.invalidCredentials
        }
        let hasMFA = try await confirmedCredential(memberID: memberID, on: db) != nil
        let state: SessionState =
            hasMFA ? .mfaPending : (organization.requireMFA ? .enrollmentRequired : .signedIn)
        let (token, csrf) = try await services.sessions.create(
            memberID: memberID, organizationID: member.organizationID, state: state, mfaVerified: false,
            lifetime: TimeInterval(organization.sessionLifetimeSeconds), meta: meta, on: db)
        if state == .signedIn { try await markSignedIn(memberID: memberID, on: db) }
        if state == .enrollmentRequired {
            _ = try await beginEnrollment(memberID: memberID, email: email, organizationName: organization.name)
        }
        try await services.audit.append(
            entry(.success, state == .signedIn ? "signed in without MFA (optional)" : "second step: \(state.rawValue)"),
            at: now, on: db)
        return LoginOutcome(token: token, csrfToken: csrf, state: state)
    }

    // MARK: Second factor

    /// Completes sign-in with a TOTP code or a recovery code. Returns the session's new token.
    func completeSignIn(auth: AuthState, code: String?, recoveryCode: String?, meta: RequestMeta) async throws -> String
    {
        guard auth.state == .mfaPending else {
            throw LatchkeyError(.conflict, "not_pending", "This session is not waiting for a verification code.")
        }
        let db = services.db
        if let code {
            try await verifyTOTP(auth: auth, code: code, action: .signInMFA, meta: meta)
        } else if let recoveryCode {
            try await useRecoveryCode(auth: auth, input: recoveryCode, meta: meta)
        } else {
            throw LatchkeyError.badRequest("missing_code", "Enter a verification code or a recovery code.")
        }
        let token = try await services.sessions.promote(auth.sessionID, to: .signedIn, mfaVerified: true, on: db)
        try await markSignedIn(memberID: auth.memberID, on: db)
        return token
    }

    /// Re-verifies a signed-in member with a fresh TOTP code (step-up).
    func stepUp(auth: AuthState, code: String, meta: RequestMeta) async throws {
        try await verifyTOTP(auth: auth, code: code, action: .stepUp, meta: meta)
        try await SessionModel.query(on: services.db).filter(\.$id == auth.sessionID)
            .set(\.$mfaVerifiedAt, to: services.now).update()
    }

    /// Verifies a TOTP code against the member's confirmed authenticator, accepting each step once
    /// (atomic compare-and-set), counting failures and auditing success, failure and reuse.
    func verifyTOTP(auth: AuthState, code: String, action: AuditAction, meta: RequestMeta) async throws {
        try Validation.sixDigits(code)
        let db = services.db
        let now = services.now
        guard let member = try await MemberModel.find(auth.memberID, on: db) else {
            throw LatchkeyError.unauthorized("not_signed_in", "Sign in again.")
        }
        try throwIfLocked(member, now: now)
        guard let credential = try await confirmedCredential(memberID: auth.memberID, on: db),
            let credentialID = credential.id
        else {
            throw LatchkeyError.badRequest("no_authenticator", "No authenticator app is set up for this account.")
        }
        let secret = try services.serverKey.open(credential.secretCiphertext, context: auth.memberID.uuidString)
        let unix = Int64(now.timeIntervalSince1970.rounded(.down))
        var accepted = false
        if let step = services.totp.matchingStep(code: code, secret: secret, at: unix, after: credential.lastUsedStep) {
            let claimed = try await services.sql.raw(
                """
                UPDATE totp_credentials SET last_used_step = \(bind: step)
                WHERE id = \(bind: credentialID) AND (last_used_step IS NULL OR last_used_step < \(bind: step))
                RETURNING id
                """
            ).all()
            accepted = !claimed.isEmpty
        }
        if accepted {
            try await services.audit.append(
                auth.actor(action: action, result: .success, request: meta), at: now, on: db)
            return
        }
        if services.totp.matchesIgnoringReplay(code: code, secret: secret, at: unix) {
            try await services.audit.append(
                auth.actor(action: .codeReuse, result: .denied, reason: "code already used", request: meta), at: now,
                on: db)
            try await recordFailure(
                memberID: auth.memberID, organizationID: auth.organizationID, email: auth.memberEmail, meta: meta)
            throw LatchkeyError.unauthorized(
                "code_reused", "That code was already used. Wait for the next code and try again.")
        }
        try await services.audit.append(
            auth.actor(action: action, result: .failure, reason: "wrong code", request: meta), at: now, on: db)
        try await recordFailure(
            memberID: auth.memberID, organizationID: auth.organizationID, email: auth.memberEmail, meta: meta)
        throw LatchkeyError.unauthorized(
            "invalid_code", "That code is not correct. Check your authenticator app and try again.")
    }

    /// Spends one recovery code (atomically: two concurrent uses of one code cannot both pass).
    func useRecoveryCode(auth: AuthState, input: String, meta: RequestMeta) async throws {
        guard input.utf8.count <= 64, let normalized = RecoveryCodes.normalize(input) else {
            throw LatchkeyError.badRequest("invalid_recovery_code_format", "A recovery code looks like abcde-fghjk.")
        }
        let db = services.db
        let now = services.now
        guard let member = try await MemberModel.find(auth.memberID, on: db) else {
            throw LatchkeyError.unauthorized("not_signed_in", "Sign in again.")
        }
        try throwIfLocked(member, now: now)
        let hash = services.serverKey.hashRecoveryCode(normalized)
        let used = try await services.sql.raw(
            """
            UPDATE recovery_codes SET used_at = \(bind: now)
            WHERE member_id = \(bind: auth.memberID) AND code_hash = \(bind: hash) AND used_at IS NULL
            RETURNING id
            """
        ).all()
        guard !used.isEmpty else {
            try await services.audit.append(
                auth.actor(
                    action: .signInRecoveryCode, result: .failure, reason: "wrong or used recovery code", request: meta),
                at: now, on: db)
            try await recordFailure(
                memberID: auth.memberID, organizationID: auth.organizationID, email: auth.memberEmail, meta: meta)
            throw LatchkeyError.unauthorized(
                "invalid_recovery_code", "That recovery code is not valid or was already used.")
        }
        let left = try await RecoveryCodeModel.query(on: db).filter(\.$memberID == auth.memberID).filter(
            \.$usedAt == nil
        ).count()
        try await services.audit.append(
            auth.actor(
                action: .signInRecoveryCode, result: .success, reason: "\(left) recovery codes left", request: meta),
            at: now, on: db)
    }

    // MARK: Enrollment

    struct Enrollment: Sendable {
        var secret: String
        var otpauthURI: String
    }

    /// Starts (or restarts) authenticator enrollment with a fresh 160-bit secret, replacing any earlier
    /// unfinished one. The confirmed authenticator, if any, keeps working until the new one is confirmed.
    func beginEnrollment(memberID: UUID, email: String, organizationName: String) async throws -> Enrollment {
        let db = services.db
        let secret = services.random.bytes(20)
        try await TOTPCredentialModel.query(on: db).filter(\.$memberID == memberID).filter(\.$confirmed == false)
            .delete()
        let sealed = try services.serverKey.seal(secret, context: memberID.uuidString)
        try await TOTPCredentialModel(
            memberID: memberID, secretCiphertext: sealed, confirmed: false, createdAt: services.now
        )
        .create(on: db)
        return Self.enrollment(secret: secret, email: email, organizationName: organizationName)
    }

    /// The unfinished enrollment of a member, if there is one.
    func pendingEnrollment(memberID: UUID, email: String, organizationName: String) async throws -> Enrollment? {
        guard
            let pending = try await TOTPCredentialModel.query(on: services.db).filter(\.$memberID == memberID)
                .filter(\.$confirmed == false).first()
        else { return nil }
        let secret = try services.serverKey.open(pending.secretCiphertext, context: memberID.uuidString)
        return Self.enrollment(secret: secret, email: email, organizationName: organizationName)
    }

    static func enrollment(secret: [UInt8], email: String, organizationName: String) -> Enrollment {
        let encoded = Base32.encode(secret)
        let issuer = "Latchkey (\(organizationName))"
        let label =
            "\(issuer):\(email)".addingPercentEncoding(
                withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "@.-_"))) ?? email
        let issuerParam = issuer.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "Latchkey"
        return Enrollment(
            secret: encoded,
            otpauthURI:
                "otpauth://totp/\(label)?secret=\(encoded)&issuer=\(issuerParam)&algorithm=SHA1&digits=6&period=30")
    }

    /// Confirms the unfinished enrollment with a code from the new authenticator: it replaces any earlier
    /// authenticator and all recovery codes, in one transaction. Returns the new recovery codes (shown once)
    /// and the session's new token.
    func confirmEnrollment(auth: AuthState, code: String, nextState: SessionState, meta: RequestMeta) async throws -> (
        codes: [String], token: String
    ) {
        try Validation.sixDigits(code)
        let db = services.db
        let now = services.now
        guard let member = try await MemberModel.find(auth.memberID, on: db) else {
            throw LatchkeyError.unauthorized("not_signed_in", "Sign in again.")
        }
        try throwIfLocked(member, now: now)
        guard
            let pending = try await TOTPCredentialModel.query(on: db).filter(\.$memberID == auth.memberID)
                .filter(\.$confirmed == false).first(), let pendingID = pending.id
        else {
            throw LatchkeyError(.conflict, "no_enrollment", "Start setting up your authenticator first.")
        }
        let secret = try services.serverKey.open(pending.secretCiphertext, context: auth.memberID.uuidString)
        let unix = Int64(now.timeIntervalSince1970.rounded(.down))
        guard let step = services.totp.matchingStep(code: code, secret: secret, at: unix, after: nil) else {
            try await recordFailure(
                memberID: auth.memberID, organizationID: auth.organizationID, email: auth.memberEmail, meta: meta)
            throw LatchkeyError.unauthorized(
                "invalid_code", "That code is not correct. Check the time on your phone and try again.")
        }
        let codes = RecoveryCodes.generate(using: services.random)
        let hashes = codes.map { services.serverKey.hashRecoveryCode(RecoveryCodes.normalize($0)!) }
        let memberID = auth.memberID
        let replaced = try await db.transaction { tx -> Bool in
            let sql = tx as! any SQLDatabase
            let claimed = try await sql.raw(
                """
                UPDATE totp_credentials SET confirmed = \(bind: true), last_used_step = \(bind: step)
                WHERE id = \(bind: pendingID) AND confirmed = \(bind: false) RETURNING id
                """
            ).all()
            guard !claimed.isEmpty else {
                throw LatchkeyError(.conflict, "no_enrollment", "This setup was already completed.")
            }
            let previous = try await TOTPCredentialModel.query(on: tx).filter(\.$memberID == memberID)
                .filter(\.$confirmed == true).filter(\.$id != pendingID).count()
            try await TOTPCredentialModel.query(on: tx).filter(\.$memberID == memberID).filter(\.$confirmed == true)
                .filter(\.$id != pendingID).delete()
            try await Self.replaceRecoveryCodes(memberID: memberID, hashes: hashes, now: now, on: tx)
            try await MemberModel.query(on: tx).filter(\.$id == memberID).set(
                \.$mfaStatus, to: MFAStatus.enabled.rawValue
            )
            .set(\.$failedAttempts, to: 0).update()
            return previous > 0
        }
        let token = try await services.sessions.promote(auth.sessionID, to: nextState, mfaVerified: true, on: db)
        if nextState == .signedIn || auth.state == .enrollmentRequired {
            try await markSignedIn(memberID: memberID, on: db)
        }
        try await services.audit.append(
            auth.actor(action: replaced ? .mfaReplaced : .mfaEnrolled, result: .success, request: meta), at: now, on: db
        )
        return (codes, token)
    }

    /// After the recovery codes were shown: the member confirms they saved them.
    func acknowledgeRecoveryCodes(auth: AuthState) async throws -> String? {
        guard auth.state == .recoveryCodesPending else { return nil }
        return try await services.sessions.promote(auth.sessionID, to: .signedIn, mfaVerified: false, on: services.db)
    }

    /// Replaces all recovery codes with ten new ones (the caller has verified a factor).
    func regenerateRecoveryCodes(auth: AuthState, meta: RequestMeta) async throws -> [String] {
        let codes = RecoveryCodes.generate(using: services.random)
        let hashes = codes.map { services.serverKey.hashRecoveryCode(RecoveryCodes.normalize($0)!) }
        let now = services.now
        let memberID = auth.memberID
        try await services.db.transaction { tx in
            try await Self.replaceRecoveryCodes(memberID: memberID, hashes: hashes, now: now, on: tx)
        }
        try await services.audit.append(
            auth.actor(action: .recoveryCodesRegenerated, result: .success, request: meta), at: now, on: services.db)
        return codes
    }

    static func replaceRecoveryCodes(memberID: UUID, hashes: [String], now: Date, on db: any Database) async throws {
        try await RecoveryCodeModel.query(on: db).filter(\.$memberID == memberID).delete()
        try await hashes.map { RecoveryCodeModel(memberID: memberID, codeHash: $0, createdAt: now) }.create(on: db)
    }

    // MARK: Helpers

    func confirmedCredential(memberID: UUID, on db: any Database) async throws -> TOTPCredentialModel? {
        try await TOTPCredentialModel.query(on: db).filter(\.$memberID == memberID).filter(\.$confirmed == true).first()
    }

    func isLocked(_ member: MemberModel, now: Date) -> Bool {
        guard let last = member.lastFailedAt,
            let until = services.lockout.lockedUntil(failures: member.failedAttempts, lastFailure: last)
        else { return false }
        return until > now
    }

    func throwIfLocked(_ member: MemberModel, now: Date) throws {
        guard let last = member.lastFailedAt,
            let until = services.lockout.lockedUntil(failures: member.failedAttempts, lastFailure: last), until > now
        else { return }
        if until == .distantFuture {
            throw LatchkeyError(
                .forbidden, "account_locked",
                "Too many failed attempts. Ask an administrator to reset your MFA.")
        }
        let seconds = Int(until.timeIntervalSince(now).rounded(.up))
        throw LatchkeyError(
            .tooManyRequests(retryAfterSeconds: seconds), "too_many_attempts",
            "Too many failed attempts. Try again in \(seconds) seconds.")
    }

    /// Counts one failed factor atomically and audits a lockout when this failure starts one.
    func recordFailure(memberID: UUID, organizationID: UUID, email: String, meta: RequestMeta) async throws {
        let now = services.now
        let rows = try await services.sql.raw(
            """
            UPDATE members SET failed_attempts = failed_attempts + 1, last_failed_at = \(bind: now)
            WHERE id = \(bind: memberID) RETURNING failed_attempts
            """
        ).all()
        guard let failures = try rows.first?.decode(column: "failed_attempts", as: Int.self) else { return }
        if failures == services.lockout.freeAttempts || failures == services.lockout.hardLimit {
            try await services.audit.append(
                AuditEntry(
                    organizationID: organizationID, actorID: memberID, actorEmail: email, action: .lockout,
                    targetID: memberID, targetEmail: email, result: .denied,
                    reason: "\(failures) consecutive failures", requestID: meta.requestID, ip: meta.ip,
                    userAgent: meta.userAgent), at: now, on: services.db)
        }
    }

    func markSignedIn(memberID: UUID, on db: any Database) async throws {
        try await MemberModel.query(on: db).filter(\.$id == memberID).set(\.$lastSignInAt, to: services.now)
            .set(\.$failedAttempts, to: 0).set(\.$lastFailedAt, to: nil).update()
    }
}

/// Input checks shared by the web and JSON routes.
enum Validation {
    static func sixDigits(_ code: String) throws {
        guard OTPCodeFormat.isSixDigits(code) else {
            throw LatchkeyError.badRequest("invalid_code_format", "Enter the 6-digit code from your authenticator app.")
        }
    }

    static func email(_ email: String) throws {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
            !email.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 })
        else {
            throw LatchkeyError.badRequest("invalid_email", "Enter a valid email address.")
        }
    }
}
