import FluentKit
import Foundation
import LatchkeyCore
import PostgresKit
import PostgresNIO
import SQLKit
import Synchronization

/// A sign-in's TOTP code, already compared and right, accepted in one statement on PostgreSQL.
///
/// The transaction that accepts a second factor (`AuthService.accept`) is `BEGIN`, the member's row locked with
/// their second-factor bucket, the code's time step taken, the bucket cleared, the session promoted with the member's
/// sign-in time and address, the audit event linked after the chain's head, `COMMIT`: six round trips, each
/// about a tenth of a millisecond of Latchkey's CPU on PostgreSQL (its own statements cost microseconds). Here they
/// are one data-modifying `WITH`, which PostgreSQL runs as one transaction: every change after the member's lock
/// happens only if the step was taken while the bucket was open, in the same order of locks as the transaction
/// (the member, the authenticator, the bucket, the session, the member's sign-in, the address, the chain's head
/// last). The audit event is linked in the process, with the chain's key, after the head this process left the
/// chain at (`AuditSetup`): if the head moved meanwhile, `audit_head_moved` (M031) ends the statement with an error,
/// so nothing it changed stays, and names the head found; the statement is then tried again after that head.
///
/// Nothing is written unchecked: the step, the bucket and the head are each checked on the newest row, after any
/// concurrent writer of it commits. When the statement does not accept (no head remembered yet, a step already
/// used, a bucket locked, the member or session gone, the head moved three times running), it has changed nothing,
/// and the caller goes the transaction's way, which answers each of those as before.
///
/// SQLite's writer runs in process, where a statement costs microseconds: there this is not used.
public struct SecondFactorAcceptance: Sendable {
    public var memberID: UUID
    public var credentialID: UUID
    /// The time step the code matched, later than the authenticator's last.
    public var step: Int64
    public var sessionID: UUID
    /// The hash of the session's new token.
    public var tokenHash: String
    /// The client address the member signs in from (`KnownAddresses`).
    public var address: String
    /// The success's audit event.
    public var event: AuditEntry
    public var now: Date

    public init(
        memberID: UUID, credentialID: UUID, step: Int64, sessionID: UUID, tokenHash: String, address: String,
        event: AuditEntry, now: Date
    ) {
        (self.memberID, self.credentialID, self.step, self.sessionID) = (memberID, credentialID, step, sessionID)
        (self.tokenHash, self.address, self.event, self.now) = (tokenHash, address, event, now)
    }

    /// How many times a statement that found the head moved is tried again after the head it found.
    static let attempts = 3

    /// The statement, its event linked after `head`, and the head it leaves.
    func statement(after head: AuditStore.Head, chainKey: [UInt8]?) -> (SQLQueryString, AuditStore.Head) {
        let chain = AuditStore.chainName(event.organizationID)
        let bucket = SignInBucket.secondFactor(memberID: memberID).key
        let update = SessionRepository.promoting(
            sessionID, to: .signedIn, tokenHash: tokenHash, now: now, mfaVerified: true,
            when: "EXISTS (SELECT 1 FROM step)")
        let audit = AuditStore.continuing(
            [event], chain: chain, from: head, at: now, key: chainKey,
            when: "EXISTS (SELECT 1 FROM done WHERE accepted = 1)")
        // `done` is read whole, its columns left to right, before the head is moved: that takes the locks in the
        // transaction's order (the member and the step through `cleared`, the session and the member's sign-in
        // through `signed_in`, then the address), and the head's last.
        let statement: SQLQueryString = """
            WITH member AS (\(SignInThrottles.lockingMember(memberID, readingBucket: bucket))),
            step AS (
              \(CredentialRepository.claimingStep(step, of: credentialID)) AND EXISTS (
                SELECT 1 FROM member WHERE locked_until IS NULL OR locked_until <= \(bind: SignInThrottles.millis(now))
              ) RETURNING id
            ),
            cleared AS (DELETE FROM sign_in_throttles WHERE key = \(bind: bucket) AND EXISTS (SELECT 1 FROM step) RETURNING key),
            \(SessionRepository.signingIn(promoting: update, from: address, at: now)),
            done AS (
              SELECT (SELECT count(*) FROM cleared) AS cleared, (SELECT count(*) FROM signed_in) AS signed_in,
                (SELECT count(*) FROM known) AS known, (SELECT count(*) FROM promoted) AS accepted
            ),
            \(audit.items)
            SELECT accepted, moved, CASE WHEN accepted = 1 AND moved = 0 THEN audit_head_moved(\(bind: chain)) END AS ended
            FROM (SELECT accepted, (SELECT count(*) FROM moved) AS moved FROM done OFFSET 0) AS answer
            """
        return (statement, audit.head)
    }

    /// The head named by `audit_head_moved`'s error, if `error` is one.
    static func headFound(in error: any Error) -> AuditStore.Head? {
        guard let error = error as? PSQLError, let info = error.serverInfo, info[.sqlState] == "LA001",
            let detail = info[.detail]
        else { return nil }
        let parts = detail.split(separator: " ")
        guard parts.count == 2, let seq = Int64(parts[0]) else { return nil }
        return AuditStore.Head(seq: seq, hash: String(parts[1]))
    }
}

extension Store {
    /// Accepts a sign-in's second factor in one statement on PostgreSQL (`SecondFactorAcceptance`). True when it
    /// did, its event written and told; false, having changed nothing, when it did not or cannot here (SQLite, a
    /// transaction under way, no head remembered for the chain yet, too many waiting for the chain), and the caller
    /// accepts it in a transaction instead.
    public func acceptAtOnce(_ acceptance: SecondFactorAcceptance) async throws -> Bool {
        guard let setup, !db.inTransaction, let postgres = db as? any Database & PostgresDatabase else { return false }
        let chain = AuditStore.chainName(acceptance.event.organizationID)
        guard setup.head(of: chain) != nil else { return false }
        let accepted = try await setup.inTurn(on: chain) { () async throws -> Bool in
            for _ in 0..<SecondFactorAcceptance.attempts {
                guard let head = setup.head(of: chain) else { return false }
                let (statement, next) = acceptance.statement(after: head, chainKey: setup.chainKey)
                let answer: Int
                do {
                    answer = try await PostgresTransaction.alone(on: postgres) { sql in
                        guard let row = try await sql.raw(statement).first() else { return 0 }
                        return try row.decode(column: "accepted", as: Int.self)
                    }
                } catch {
                    guard let found = SecondFactorAcceptance.headFound(in: error) else { throw error }
                    setup.atOnceHeadMoved.add(1, ordering: .relaxed)
                    setup.remember(found, of: chain)
                    continue
                }
                guard answer == 1 else { return false }
                setup.remember(next, of: chain)
                setup.acceptedAtOnce.add(1, ordering: .relaxed)
                return true
            }
            return false
        }
        guard accepted == true else { return false }
        setup.report([acceptance.event])
        return true
    }
}
