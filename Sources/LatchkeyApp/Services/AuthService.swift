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
    ///
    /// The attempt first claims its throttle buckets (per account and client address, and per account from
    /// addresses the member has not signed in from lately): while one is locked the attempt is refused with
    /// 429 before anything is checked, in the same words whether or not the email has an account. Unknown
    /// email, wrong password and suspended account give one answer.
    func login(email rawEmail: String, password: String, meta: RequestMeta) async throws -> LoginOutcome {
        let email = rawEmail.trimmingCharacters(in: .whitespaces).lowercased()
        try Validation.email(email)
        guard !password.isEmpty, password.utf8.count <= 1024 else {
            throw LatchkeyError.badRequest("invalid_password", "Enter your password.")
        }
        let db = services.db
        let now = services.now
        let member = try await MemberModel.query(on: db).filter(\.$email == email).first()
        let address = ClientAddress.throttleKey(meta.ip)
        // From a place the member signs in from, only the per-address bucket applies.
        var familiar = false
        if let member {
            familiar = try await services.knownAddresses.isFamiliar(
                memberID: member.id!, address: address, now: now, on: db)
        }
        let buckets: [SignInBucket] =
            [.passwordFromAddress(email: email, address: address)]
            + (familiar ? [] : [.passwordFromUnfamiliar(email: email)])
        let subject = SignInThrottles.Subject(
            email: email, memberID: member?.id, organizationID: member?.organizationID)
        let claims = try await claim(buckets, for: subject, now: now)

        let passwordOK = try await services.passwords.verify(
            password, hash: member?.passwordHash ?? services.dummyPasswordHash)
        guard let member, let memberID = member.id else {
            try await auditFailure(
                AuditEntry(
                    organizationID: nil, actorEmail: email, action: .signInPassword, targetEmail: email,
                    result: .failure, reason: "unknown email", requestID: meta.requestID, ip: meta.ip,
                    userAgent: meta.userAgent), claims: claims, meta: meta)
            throw LatchkeyError.invalidCredentials
        }
        let entry = { @Sendable (result: AuditResult, reason: String) in
            AuditEntry(
                organizationID: member.organizationID, actorID: memberID, actorEmail: email, action: .signInPassword,
                targetID: memberID, targetEmail: email, result: result, reason: reason, requestID: meta.requestID,
                ip: meta.ip, userAgent: meta.userAgent)
        }
        guard passwordOK else {
            try await auditFailure(entry(.failure, "wrong password"), claims: claims, meta: meta)
            throw LatchkeyError.invalidCredentials
        }
        // The password was right: this attempt is no failure, whatever follows.
        guard member.status == AccountStatus.active.rawValue,
            let organization = try await OrganizationModel.find(member.organizationID, on: db)
        else {
            try await db.transaction { tx in
                try await self.services.throttles.release(buckets, on: tx)
                try await self.services.audit.append(entry(.failure, "account suspended"), at: now, on: tx)
            }
            throw LatchkeyError.invalidCredentials
        }
        if let until = try await services.throttles.lockedUntil(memberIDs: [memberID], now: now, on: db)[memberID],
            until == .distantFuture
        {
            // Second factors hit the hard stop: only the password was proven, so say so now.
            try await db.transaction { tx in
                try await self.services.throttles.release(buckets, on: tx)
                try await self.services.audit.append(
                    entry(.denied, "sign-in locked after too many wrong codes"), at: now, on: tx)
            }
            throw Self.hardStop
        }
        let hasMFA = try await confirmedCredential(memberID: memberID, on: db) != nil
        let state: SessionState =
            hasMFA ? .mfaPending : (organization.requireMFA ? .enrollmentRequired : .signedIn)
        let (token, csrf) = try await db.transaction { tx in
            try await RowLocks.members([memberID], on: tx)
            try await self.services.throttles.release(buckets, on: tx)
            let opened = try await self.services.sessions.create(
                memberID: memberID, organizationID: member.organizationID, state: state, mfaVerified: false,
                lifetime: TimeInterval(organization.sessionLifetimeSeconds), meta: meta, on: tx)
            if state == .signedIn { try await self.markSignedIn(memberID: memberID, meta: meta, on: tx) }
            if state == .enrollmentRequired {
                _ = try await self.beginEnrollment(
                    memberID: memberID, email: email, organizationName: organization.name, on: tx)
            }
            try await self.services.audit.append(
                entry(
                    .success, state == .signedIn ? "signed in without MFA (optional)" : "second step: \(state.rawValue)"
                ),
                at: now, on: tx)
            return opened
        }
        return LoginOutcome(token: token, csrfToken: csrf, state: state)
    }

    // MARK: Second factor

    /// Completes sign-in with a TOTP code or a recovery code. Returns the session's new token.
    func completeSignIn(auth: AuthState, code: String?, recoveryCode: String?, meta: RequestMeta) async throws -> String
    {
        guard auth.state == .mfaPending else {
            throw LatchkeyError(.conflict, "not_pending", "This session is not waiting for a verification code.")
        }
        let signIn = { @Sendable (tx: any Database) async throws -> String in
            let token = try await self.services.sessions.promote(
                auth.sessionID, to: .signedIn, mfaVerified: true, on: tx)
            try await self.markSignedIn(memberID: auth.memberID, meta: meta, on: tx)
            return token
        }
        if let code {
            return try await verifyTOTP(auth: auth, code: code, action: .signInMFA, meta: meta, onSuccess: signIn)
        } else if let recoveryCode {
            return try await useRecoveryCode(auth: auth, input: recoveryCode, meta: meta, onSuccess: signIn)
        }
        throw LatchkeyError.badRequest("missing_code", "Enter a verification code or a recovery code.")
    }

    /// Re-verifies a signed-in member with a fresh TOTP code (step-up).
    func stepUp(auth: AuthState, code: String, meta: RequestMeta) async throws {
        let now = services.now
        try await verifyTOTP(auth: auth, code: code, action: .stepUp, meta: meta) { tx in
            try await SessionModel.query(on: tx).filter(\.$id == auth.sessionID).set(\.$mfaVerifiedAt, to: now).update()
        }
    }

    /// Verifies a TOTP code against the member's confirmed authenticator.
    func verifyTOTP(auth: AuthState, code: String, action: AuditAction, meta: RequestMeta) async throws {
        try await verifyTOTP(auth: auth, code: code, action: action, meta: meta) { _ in }
    }

    /// Verifies a TOTP code against the member's confirmed authenticator and, when it is right, runs
    /// `onSuccess` in the transaction that records the success.
    ///
    /// The attempt claims the member's second-factor bucket before the code is checked (429 while it is
    /// waiting, 403 at the hard stop); each time step is accepted once per authenticator (atomic
    /// compare-and-set); success, failure and reuse are audited.
    func verifyTOTP<T: Sendable>(
        auth: AuthState, code: String, action: AuditAction, meta: RequestMeta,
        onSuccess: @escaping @Sendable (any Database) async throws -> T
    ) async throws -> T {
        try Validation.sixDigits(code)
        let db = services.db
        let now = services.now
        guard let credential = try await confirmedCredential(memberID: auth.memberID, on: db),
            let credentialID = credential.id
        else {
            throw LatchkeyError.badRequest("no_authenticator", "No authenticator app is set up for this account.")
        }
        let bucket = SignInBucket.secondFactor(memberID: auth.memberID)
        let claims = try await claim([bucket], for: subject(auth), now: now)
        let secret = try services.serverKey.open(credential.secretCiphertext, context: auth.memberID.uuidString)
        let unix = Int64(now.timeIntervalSince1970.rounded(.down))
        if let step = services.totp.matchingStep(code: code, secret: secret, at: unix, after: credential.lastUsedStep) {
            let accepted = try await accept(auth: auth, action: action, meta: meta, now: now, onSuccess: onSuccess) {
                tx in
                let claimed = try await (tx as! any SQLDatabase).raw(
                    """
                    UPDATE totp_credentials SET last_used_step = \(bind: step)
                    WHERE id = \(bind: credentialID) AND (last_used_step IS NULL OR last_used_step < \(bind: step))
                    RETURNING id
                    """
                ).all()
                return claimed.isEmpty ? nil : ""
            }
            if let accepted { return accepted }
        }
        if services.totp.matchesIgnoringReplay(code: code, secret: secret, at: unix) {
            try await auditFailure(
                auth.actor(action: .codeReuse, result: .denied, reason: "code already used", request: meta),
                claims: claims, meta: meta)
            throw LatchkeyError.unauthorized(
                "code_reused", "That code was already used. Wait for the next code and try again.")
        }
        try await auditFailure(
            auth.actor(action: action, result: .failure, reason: "wrong code", request: meta), claims: claims,
            meta: meta)
        throw LatchkeyError.unauthorized(
            "invalid_code", "That code is not correct. Check your authenticator app and try again.")
    }

    /// Spends one recovery code (atomically: two concurrent uses of one code cannot both pass) and runs
    /// `onSuccess` in the same transaction. Counts toward the second-factor throttle like a TOTP code.
    func useRecoveryCode<T: Sendable>(
        auth: AuthState, input: String, meta: RequestMeta,
        onSuccess: @escaping @Sendable (any Database) async throws -> T
    ) async throws -> T {
        guard input.utf8.count <= 64, let normalized = RecoveryCodes.normalize(input) else {
            throw LatchkeyError.badRequest("invalid_recovery_code_format", "A recovery code looks like abcde-fghjk.")
        }
        let now = services.now
        let bucket = SignInBucket.secondFactor(memberID: auth.memberID)
        let claims = try await claim([bucket], for: subject(auth), now: now)
        let hash = services.serverKey.hashRecoveryCode(normalized)
        let accepted = try await accept(
            auth: auth, action: .signInRecoveryCode, meta: meta, now: now, onSuccess: onSuccess
        ) { tx in
            let used = try await (tx as! any SQLDatabase).raw(
                """
                UPDATE recovery_codes SET used_at = \(bind: now)
                WHERE member_id = \(bind: auth.memberID) AND code_hash = \(bind: hash) AND used_at IS NULL
                RETURNING id
                """
            ).all()
            guard !used.isEmpty else { return nil }
            let left = try await RecoveryCodeModel.query(on: tx).filter(\.$memberID == auth.memberID)
                .filter(\.$usedAt == nil).count()
            return "\(left) recovery codes left"
        }
        if let accepted { return accepted }
        try await auditFailure(
            auth.actor(
                action: .signInRecoveryCode, result: .failure, reason: "wrong or used recovery code", request: meta),
            claims: claims, meta: meta)
        throw LatchkeyError.unauthorized(
            "invalid_recovery_code", "That recovery code is not valid or was already used.")
    }

    /// Accepts a second factor in one transaction: the member's row locked, `spend` takes the factor (nil when
    /// it is not there to take — a used step or code — else the success event's reason), the attempt's claim
    /// given back, `onSuccess` run and the success audited. Nil when nothing was spent.
    private func accept<T: Sendable>(
        auth: AuthState, action: AuditAction, meta: RequestMeta, now: Date,
        onSuccess: @escaping @Sendable (any Database) async throws -> T,
        spend: @escaping @Sendable (any Database) async throws -> String?
    ) async throws -> T? {
        try await services.db.transaction { tx -> T? in
            try await RowLocks.members([auth.memberID], on: tx)
            guard let reason = try await spend(tx) else { return nil }
            try await self.services.throttles.release([.secondFactor(memberID: auth.memberID)], on: tx)
            let value = try await onSuccess(tx)
            try await self.services.audit.append(
                auth.actor(action: action, result: .success, reason: reason, request: meta), at: now, on: tx)
            return value
        }
    }

    // MARK: Throttles

    /// The answer to an attempt refused at the second factor's hard stop.
    static let hardStop = LatchkeyError(
        .forbidden, "account_locked",
        "Sign-in is locked after too many wrong codes. Ask an administrator to unlock your sign-in.")

    func subject(_ auth: AuthState) -> SignInThrottles.Subject {
        .init(email: auth.memberEmail, memberID: auth.memberID, organizationID: auth.organizationID)
    }

    /// Claims the attempt's buckets, or refuses it unchecked: 429 with the wait (the same words for every
    /// email), or 403 at the second factor's hard stop.
    func claim(_ buckets: [SignInBucket], for subject: SignInThrottles.Subject, now: Date) async throws
        -> [SignInThrottles.Claim]
    {
        do {
            return try await services.throttles.claim(buckets, for: subject, now: now, on: services.db)
        } catch let refusal as SignInThrottles.Refusal {
            guard let until = refusal.until else { throw Self.hardStop }
            throw Self.tooManyAttempts(seconds: max(1, Int(until.timeIntervalSince(now).rounded(.up))))
        }
    }

    static func tooManyAttempts(seconds: Int) -> LatchkeyError {
        let wait = seconds < 90 ? "\(seconds) seconds" : "\(Int((Double(seconds) / 60).rounded(.up))) minutes"
        return LatchkeyError(
            .tooManyRequests(retryAfterSeconds: seconds), "too_many_attempts",
            "Too many sign-in attempts. Try again in \(wait). If this keeps happening, ask an administrator to unlock your sign-in."
        )
    }

    /// Audits a failed check and, when its claim started a wait or reached the hard stop, the lockout too.
    func auditFailure(_ entry: AuditEntry, claims: [SignInThrottles.Claim], meta: RequestMeta) async throws {
        var entries = [entry]
        for claim in claims where claim.startsLock {
            let scope =
                switch claim.bucket {
                case .passwordFromAddress: "wrong passwords from \(meta.ip)"
                case .passwordFromUnfamiliar: "wrong passwords from unfamiliar addresses"
                case .secondFactor: "wrong second factors"
                }
            let stop =
                claim.failures == claim.bucket.policy.hardLimit ? "; locked until an administrator unlocks it" : ""
            var lockout = entry
            lockout.action = .lockout
            lockout.result = .denied
            lockout.reason = "\(claim.failures) consecutive \(scope)\(stop)"
            entries.append(lockout)
        }
        try await services.audit.appendAll(entries, at: services.now, on: services.db)
    }

    // MARK: Enrollment

    struct Enrollment: Sendable {
        var secret: String
        var otpauthURI: String
    }

    /// Starts (or restarts) authenticator enrollment with a fresh 160-bit secret, replacing any earlier
    /// unfinished one. The confirmed authenticator, if any, keeps working until the new one is confirmed.
    func beginEnrollment(memberID: UUID, email: String, organizationName: String) async throws -> Enrollment {
        try await beginEnrollment(memberID: memberID, email: email, organizationName: organizationName, on: services.db)
    }

    func beginEnrollment(memberID: UUID, email: String, organizationName: String, on db: any Database) async throws
        -> Enrollment
    {
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
        guard
            let pending = try await TOTPCredentialModel.query(on: db).filter(\.$memberID == auth.memberID)
                .filter(\.$confirmed == false).first(), let pendingID = pending.id
        else {
            throw LatchkeyError(.conflict, "no_enrollment", "Start setting up your authenticator first.")
        }
        let secret = try services.serverKey.open(pending.secretCiphertext, context: auth.memberID.uuidString)
        let unix = Int64(now.timeIntervalSince1970.rounded(.down))
        // The code proves the member copied a secret this session was just shown, not knowledge of an
        // existing one: a wrong code is audited but guesses nothing, so it does not count toward a lock.
        guard let step = services.totp.matchingStep(code: code, secret: secret, at: unix, after: nil) else {
            try await services.audit.append(
                auth.actor(action: .mfaEnrolled, result: .failure, reason: "wrong code", request: meta), at: now,
                on: db)
            throw LatchkeyError.unauthorized(
                "invalid_code", "That code is not correct. Check the time on your phone and try again.")
        }
        let codes = RecoveryCodes.generate(using: services.random)
        let hashes = codes.map { services.serverKey.hashRecoveryCode(RecoveryCodes.normalize($0)!) }
        let memberID = auth.memberID
        let token = try await db.transaction { tx -> String in
            try await RowLocks.members([memberID], on: tx)
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
            try await MemberModel.query(on: tx).filter(\.$id == memberID)
                .set(\.$mfaStatus, to: MFAStatus.enabled.rawValue).update()
            let token = try await self.services.sessions.promote(
                auth.sessionID, to: nextState, mfaVerified: true, on: tx)
            if nextState == .signedIn || auth.state == .enrollmentRequired {
                try await self.markSignedIn(memberID: memberID, meta: meta, on: tx)
            }
            try await self.services.audit.append(
                auth.actor(action: previous > 0 ? .mfaReplaced : .mfaEnrolled, result: .success, request: meta),
                at: now, on: tx)
            return token
        }
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
            try await RowLocks.members([memberID], on: tx)
            try await Self.replaceRecoveryCodes(memberID: memberID, hashes: hashes, now: now, on: tx)
            try await self.services.audit.append(
                auth.actor(action: .recoveryCodesRegenerated, result: .success, request: meta), at: now, on: tx)
        }
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

    /// Records a completed sign-in: its time, and its client address as one the member uses.
    func markSignedIn(memberID: UUID, meta: RequestMeta, on db: any Database) async throws {
        let now = services.now
        try await MemberModel.query(on: db).filter(\.$id == memberID).set(\.$lastSignInAt, to: now).update()
        try await services.knownAddresses.remember(
            memberID: memberID, address: ClientAddress.throttleKey(meta.ip), now: now, on: db)
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
