import Foundation
import LatchkeyCore
import LatchkeyStore

/// Sign-in, second factors, enrollment, recovery codes and step-up.
struct AuthService: Sendable {
    let services: AppServices

    var store: Store { services.store }
    var sessions: SessionService { SessionService(services: services) }

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
        let now = services.now
        let member = try await store.members.signInAccount(email: email)
        let address = ClientAddress.throttleKey(meta.ip)
        // From a place the member signs in from, only the per-address bucket applies.
        var familiar = false
        if let member {
            familiar = try await store.knownAddresses.isFamiliar(memberID: member.id, address: address, now: now)
        }
        let buckets: [SignInBucket] =
            [.passwordFromAddress(email: email, address: address)]
            + (familiar ? [] : [.passwordFromUnfamiliar(email: email)])
        let subject = SignInThrottles.Subject(
            email: email, memberID: member?.id, organizationID: member?.organizationID)
        let claims = try await claim(buckets, for: subject, now: now)

        let passwordOK = try await services.passwords.verify(
            password, hash: member?.passwordHash ?? services.dummyPasswordHash)
        guard let member else {
            try await auditFailure(
                AuditEntry(
                    organizationID: nil, actorEmail: email, action: .signInPassword, targetEmail: email,
                    result: .failure, reason: "unknown email", meta: meta), claims: claims, meta: meta)
            throw LatchkeyError.invalidCredentials
        }
        let memberID = member.id
        let entry = { @Sendable (result: AuditResult, reason: String) in
            AuditEntry(
                organizationID: member.organizationID, actorID: memberID, actorEmail: email, action: .signInPassword,
                targetID: memberID, targetEmail: email, result: result, reason: reason, meta: meta)
        }
        guard passwordOK else {
            try await auditFailure(entry(.failure, "wrong password"), claims: claims, meta: meta)
            throw LatchkeyError.invalidCredentials
        }
        // The password was right: this attempt is no failure, whatever follows.
        guard member.isActive, let organization = try await store.organizations.find(member.organizationID) else {
            try await store.transaction { tx in
                try await tx.throttles.release(buckets)
                try await tx.audit.append(entry(.failure, "account suspended"), at: now)
            }
            throw LatchkeyError.invalidCredentials
        }
        if let until = try await store.throttles.lockedUntil(memberIDs: [memberID], now: now)[memberID],
            until == .distantFuture
        {
            // Second factors hit the hard stop: only the password was proven, so say so now.
            try await store.transaction { tx in
                try await tx.throttles.release(buckets)
                try await tx.audit.append(entry(.denied, "sign-in locked after too many wrong codes"), at: now)
            }
            throw Self.hardStop
        }
        let hasMFA = try await store.credentials.confirmedTOTP(memberID: memberID) != nil
        let state: SessionState =
            hasMFA ? .mfaPending : (organization.settings.requireMFA ? .enrollmentRequired : .signedIn)
        let (token, csrf) = try await store.transaction { tx in
            try await tx.members.lock([memberID])
            try await tx.throttles.release(buckets)
            let opened = try await self.sessions.create(
                memberID: memberID, organizationID: member.organizationID, state: state, mfaVerified: false,
                lifetime: TimeInterval(organization.settings.sessionLifetimeSeconds), meta: meta, in: tx)
            if state == .signedIn { try await self.markSignedIn(memberID: memberID, meta: meta, in: tx) }
            if state == .enrollmentRequired {
                _ = try await self.beginEnrollment(
                    memberID: memberID, email: email, organizationName: organization.name, in: tx)
            }
            try await tx.audit.append(
                entry(
                    .success, state == .signedIn ? "signed in without MFA (optional)" : "second step: \(state.rawValue)"
                ),
                at: now)
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
        let signIn = { @Sendable (tx: Store) async throws -> String in
            try await self.sessions.promote(
                auth.sessionID, to: .signedIn, mfaVerified: true, signedInFrom: meta, in: tx)
        }
        if let code {
            // On PostgreSQL a right code is accepted in one statement when it can be (`SecondFactorAcceptance`).
            let atOnce = { @Sendable (step: Int64, credentialID: UUID, now: Date) async throws -> String? in
                try await self.sessions.signInAtOnce(auth, step: step, credentialID: credentialID, meta: meta, now: now)
            }
            return try await verifyTOTP(
                auth: auth, code: code, action: .signInMFA, meta: meta, onSuccess: signIn, atOnce: atOnce)
        } else if let recoveryCode {
            return try await useRecoveryCode(auth: auth, input: recoveryCode, meta: meta, onSuccess: signIn)
        }
        throw LatchkeyError.badRequest("missing_code", "Enter a verification code or a recovery code.")
    }

    /// Re-verifies a signed-in member with a fresh TOTP code (step-up).
    func stepUp(auth: AuthState, code: String, meta: RequestMeta) async throws {
        let now = services.now
        try await verifyTOTP(auth: auth, code: code, action: .stepUp, meta: meta) { tx in
            try await tx.sessions.markMFAVerified(auth.sessionID, at: now)
        }
    }

    /// Verifies a TOTP code against the member's confirmed authenticator.
    func verifyTOTP(auth: AuthState, code: String, action: AuditAction, meta: RequestMeta) async throws {
        try await verifyTOTP(auth: auth, code: code, action: action, meta: meta) { _ in }
    }

    /// Verifies a TOTP code against the member's confirmed authenticator and, when it is right, runs
    /// `onSuccess` in the transaction that records the success.
    ///
    /// A wrong or reused code claims the member's second-factor bucket before anything about it is answered
    /// (429 while it is waiting, 403 at the hard stop), so parallel guesses meet the same schedule as serial ones.
    /// A right code is refused the same way while the bucket is locked, but is not counted: its success would
    /// give the claim straight back (and a sign-in writes no throttle row at all). Each time step is accepted
    /// once per authenticator (atomic compare-and-set); success, failure and reuse are audited.
    ///
    /// `atOnce`, when given, is tried first with a right code's time step, its authenticator and the time: its
    /// answer, unless nil (nothing changed), is the success's.
    func verifyTOTP<T: Sendable>(
        auth: AuthState, code: String, action: AuditAction, meta: RequestMeta,
        onSuccess: @escaping @Sendable (Store) async throws -> T,
        atOnce: (@Sendable (_ step: Int64, _ credentialID: UUID, _ now: Date) async throws -> T?)? = nil
    ) async throws -> T {
        try Validation.sixDigits(code)
        let now = services.now
        // At sign-in the authenticator came with the session (`LoadedSession.pendingAuthenticator`).
        var credential = auth.state == .mfaPending ? auth.pendingAuthenticator : nil
        if credential == nil { credential = try await store.credentials.confirmedTOTP(memberID: auth.memberID) }
        guard let credential else {
            throw LatchkeyError.badRequest("no_authenticator", "No authenticator app is set up for this account.")
        }
        let bucket = SignInBucket.secondFactor(memberID: auth.memberID)
        let secret = try services.serverKey.open(credential.secretCiphertext, context: auth.memberID.uuidString)
        let unix = Int64(now.timeIntervalSince1970.rounded(.down))
        if let step = services.totp.matchingStep(code: code, secret: secret, at: unix, after: credential.lastUsedStep) {
            if let atOnce, let accepted = try await atOnce(step, credential.id, now) { return accepted }
            let accepted = try await accept(
                auth: auth, action: action, meta: meta, now: now, refuseIfLocked: true, onSuccess: onSuccess
            ) { tx in try await tx.credentials.claimStep(step, of: credential.id) ? "" : nil }
            if let accepted { return accepted }
        }
        // Wrong, or taken by a concurrent request with the same code: counted before it is answered.
        let claims = try await claim([bucket], for: subject(auth), now: now)
        if services.totp.matchesIgnoringReplay(code: code, secret: secret, at: unix) {
            try await auditFailure(
                auth.event(.codeReuse, .denied, reason: "code already used", meta: meta),
                claims: claims, meta: meta)
            throw LatchkeyError.unauthorized(
                "code_reused", "That code was already used. Wait for the next code and try again.")
        }
        try await auditFailure(
            auth.event(action, .failure, reason: "wrong code", meta: meta), claims: claims,
            meta: meta)
        throw LatchkeyError.unauthorized(
            "invalid_code", "That code is not correct. Check your authenticator app and try again.")
    }

    /// Spends one recovery code (atomically: two concurrent uses of one code cannot both pass) and runs
    /// `onSuccess` in the same transaction. Counts toward the second-factor throttle like a TOTP code.
    func useRecoveryCode<T: Sendable>(
        auth: AuthState, input: String, meta: RequestMeta,
        onSuccess: @escaping @Sendable (Store) async throws -> T
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
            guard try await tx.credentials.spendRecoveryCode(memberID: auth.memberID, hash: hash, now: now) else {
                return nil
            }
            return "\(try await tx.credentials.recoveryCodesLeft(memberID: auth.memberID)) recovery codes left"
        }
        if let accepted { return accepted }
        try await auditFailure(
            auth.event(.signInRecoveryCode, .failure, reason: "wrong or used recovery code", meta: meta),
            claims: claims, meta: meta)
        throw LatchkeyError.unauthorized(
            "invalid_recovery_code", "That recovery code is not valid or was already used.")
    }

    /// Accepts a second factor in one transaction: the member's row locked and their second-factor bucket read
    /// (one statement), the attempt refused unchecked if `refuseIfLocked` (the attempt did not claim the bucket)
    /// and the bucket is locked, `spend` takes the factor (nil when it is not there to take — a used step or
    /// code — else the success event's reason), the bucket cleared when it has a row (a success ends a run of
    /// failures, and gives back the attempt's claim), `onSuccess` run and the success audited. Nil when nothing
    /// was spent.
    private func accept<T: Sendable>(
        auth: AuthState, action: AuditAction, meta: RequestMeta, now: Date, refuseIfLocked: Bool = false,
        onSuccess: @escaping @Sendable (Store) async throws -> T,
        spend: @escaping @Sendable (Store) async throws -> String?
    ) async throws -> T? {
        try await refusingLocked(now: now) {
            try await store.transaction { tx -> T? in
                let hasBucket = try await tx.throttles.lockMember(
                    auth.memberID, readingBucketRefusing: refuseIfLocked, now: now)
                guard let reason = try await spend(tx) else { return nil }
                if hasBucket { try await tx.throttles.release([.secondFactor(memberID: auth.memberID)]) }
                let value = try await onSuccess(tx)
                try await tx.audit.append(auth.event(action, .success, reason: reason, meta: meta), at: now)
                return value
            }
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
        try await refusingLocked(now: now) { try await store.throttles.claim(buckets, for: subject, now: now) }
    }

    /// Runs `body`, answering a throttle's refusal as the attempt's answer: 429 with the wait (the same words for
    /// every email), or 403 at the second factor's hard stop.
    func refusingLocked<T>(now: Date, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
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
        try await store.audit.appendAll(entries, at: services.now)
    }

    // MARK: Enrollment

    struct Enrollment: Sendable {
        var secret: String
        var otpauthURI: String
    }

    /// Starts (or restarts) authenticator enrollment with a fresh 160-bit secret, replacing any earlier
    /// unfinished one. The confirmed authenticator, if any, keeps working until the new one is confirmed.
    func beginEnrollment(memberID: UUID, email: String, organizationName: String, in store: Store? = nil)
        async throws -> Enrollment
    {
        let secret = services.random.bytes(20)
        let sealed = try services.serverKey.seal(secret, context: memberID.uuidString)
        try await (store ?? self.store).credentials.replacePending(
            memberID: memberID, sealedSecret: sealed, now: services.now)
        return Self.enrollment(secret: secret, email: email, organizationName: organizationName)
    }

    /// The unfinished enrollment of a member, if there is one.
    func pendingEnrollment(memberID: UUID, email: String, organizationName: String) async throws -> Enrollment? {
        guard let pending = try await store.credentials.pendingTOTP(memberID: memberID) else { return nil }
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
        let now = services.now
        guard let pending = try await store.credentials.pendingTOTP(memberID: auth.memberID) else {
            throw LatchkeyError(.conflict, "no_enrollment", "Start setting up your authenticator first.")
        }
        let secret = try services.serverKey.open(pending.secretCiphertext, context: auth.memberID.uuidString)
        let unix = Int64(now.timeIntervalSince1970.rounded(.down))
        // The code proves the member copied a secret this session was just shown, not knowledge of an
        // existing one: a wrong code is audited but guesses nothing, so it does not count toward a lock.
        guard let step = services.totp.matchingStep(code: code, secret: secret, at: unix, after: nil) else {
            try await store.audit.append(auth.event(.mfaEnrolled, .failure, reason: "wrong code", meta: meta), at: now)
            throw LatchkeyError.unauthorized(
                "invalid_code", "That code is not correct. Check the time on your phone and try again.")
        }
        let codes = RecoveryCodes.generate(using: services.random)
        let hashes = codes.map { services.serverKey.hashRecoveryCode(RecoveryCodes.normalize($0)!) }
        let memberID = auth.memberID
        let token = try await store.transaction { tx -> String in
            try await tx.members.lock([memberID])
            guard try await tx.credentials.confirm(pending.id, step: step) else {
                throw LatchkeyError(.conflict, "no_enrollment", "This setup was already completed.")
            }
            let previous = try await tx.credentials.removeConfirmed(memberID: memberID, except: pending.id)
            try await tx.credentials.replaceRecoveryCodes(memberID: memberID, hashes: hashes, now: now)
            try await tx.members.setMFAStatus(.enabled, of: memberID)
            let signsIn = nextState == .signedIn || auth.state == .enrollmentRequired
            let token = try await self.sessions.promote(
                auth.sessionID, to: nextState, mfaVerified: true, signedInFrom: signsIn ? meta : nil, in: tx)
            try await tx.audit.append(
                auth.event(previous > 0 ? .mfaReplaced : .mfaEnrolled, .success, meta: meta), at: now)
            return token
        }
        return (codes, token)
    }

    /// After the recovery codes were shown: the member confirms they saved them.
    func acknowledgeRecoveryCodes(auth: AuthState) async throws -> String? {
        guard auth.state == .recoveryCodesPending else { return nil }
        return try await sessions.promote(auth.sessionID, to: .signedIn, mfaVerified: false, in: store)
    }

    /// Replaces all recovery codes with ten new ones (the caller has verified a factor).
    func regenerateRecoveryCodes(auth: AuthState, meta: RequestMeta) async throws -> [String] {
        let codes = RecoveryCodes.generate(using: services.random)
        let hashes = codes.map { services.serverKey.hashRecoveryCode(RecoveryCodes.normalize($0)!) }
        let now = services.now
        let memberID = auth.memberID
        try await store.transaction { tx in
            try await tx.members.lock([memberID])
            try await tx.credentials.replaceRecoveryCodes(memberID: memberID, hashes: hashes, now: now)
            try await tx.audit.append(auth.event(.recoveryCodesRegenerated, .success, meta: meta), at: now)
        }
        return codes
    }

    // MARK: Helpers

    /// Whether the member has a confirmed authenticator.
    func hasAuthenticator(memberID: UUID) async throws -> Bool {
        try await store.credentials.confirmedTOTP(memberID: memberID) != nil
    }

    /// Records a completed sign-in: its time, and its client address as one the member uses.
    func markSignedIn(memberID: UUID, meta: RequestMeta, in store: Store) async throws {
        try await store.members.recordSignIn(
            of: memberID, from: ClientAddress.throttleKey(meta.ip), at: services.now)
    }
}
