import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// The sign-in throttles: one row per `SignInBucket` that has failures, shared by every server instance.
///
/// An attempt *claims* its buckets before the password or code is checked: one conditional statement per
/// bucket counts the attempt as a failure unless the bucket is locked, so parallel attempts meet the same
/// schedule as serial ones and nothing is checked while locked. A check that passes then *releases* its
/// claims. Times are stored as milliseconds since 1970, so the schedule is plain integer arithmetic on
/// both databases.
public struct SignInThrottles: Sendable {
    let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// `locked_until` of a bucket at its hard stop: lifted only by an administrator or a Reset MFA.
    public static let lockedForGood: Int64 = 253_402_300_799_000  // 9999-12-31

    /// Whose buckets these are. `memberID` and `organizationID` are nil for an email no account has.
    public struct Subject: Sendable {
        public var email: String
        public var memberID: UUID?
        public var organizationID: UUID?

        public init(email: String, memberID: UUID?, organizationID: UUID?) {
            self.email = email
            self.memberID = memberID
            self.organizationID = organizationID
        }
    }

    /// One granted claim: the failure count the bucket reached by counting this attempt.
    public struct Claim: Sendable, Equatable {
        public var bucket: SignInBucket
        public var failures: Int

        /// True when, should this attempt fail, it starts a wait or reaches the hard stop (worth its own
        /// `auth.lockout` audit event).
        public var startsLock: Bool {
            failures == bucket.policy.freeFailures || failures == bucket.policy.hardLimit
        }
    }

    /// Why an attempt is refused without being checked.
    public struct Refusal: Error, Sendable, Equatable {
        public var bucket: SignInBucket
        /// When the bucket opens again; nil at the hard stop.
        public var until: Date?
    }

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    /// Claims every bucket for one attempt, in one transaction and in key order; throws `Refusal` (and counts
    /// nothing) if any of them is locked.
    public func claim(_ buckets: [SignInBucket], for subject: Subject, now: Date) async throws
        -> [Claim]
    {
        // One bucket (the second factor's) is one statement: atomic on its own, no transaction to open and close.
        if buckets.count == 1 { return [try await Self.claim(buckets[0], for: subject, now: now, on: db)] }
        return try await db.atomically { tx in
            var claims: [Claim] = []
            for bucket in buckets.sorted(by: { $0.key < $1.key }) {
                claims.append(try await Self.claim(bucket, for: subject, now: now, on: tx))
            }
            return claims
        }
    }

    private static func claim(_ bucket: SignInBucket, for subject: Subject, now: Date, on db: any Database)
        async throws -> Claim
    {
        let sql = db as! any SQLDatabase
        let policy = bucket.policy
        let nowMillis = millis(now)
        let current: SQLQueryString = "sign_in_throttles.failures"
        let next: SQLQueryString =
            policy.forgetAfter.map { seconds in
                "CASE WHEN sign_in_throttles.last_failed_at < \(bind: nowMillis - Int64(seconds) * 1000) THEN 1 ELSE \(current) + 1 END"
            } ?? "\(current) + 1"
        let rows = try await sql.raw(
            """
            INSERT INTO sign_in_throttles
              (key, kind, email, member_id, organization_id, failures, last_failed_at, locked_until)
            VALUES (\(bind: bucket.key), \(bind: bucket.kind), \(bind: subject.email), \(optional: subject.memberID),
                    \(optional: subject.organizationID), 1, \(bind: nowMillis), \(lockedUntil(policy, failures: "1", now: nowMillis)))
            ON CONFLICT (key) DO UPDATE SET
              failures = \(next),
              last_failed_at = \(bind: nowMillis),
              locked_until = \(lockedUntil(policy, failures: next, now: nowMillis)),
              member_id = excluded.member_id,
              organization_id = excluded.organization_id
            WHERE sign_in_throttles.locked_until <= \(bind: nowMillis)
            RETURNING failures
            """
        ).all()
        if let row = rows.first {
            return Claim(bucket: bucket, failures: try row.decode(column: "failures", as: Int.self))
        }
        // The bucket is locked: say until when (the refusal is already decided; nothing was counted).
        let until = try await sql.select().column("locked_until").from("sign_in_throttles")
            .where("key", .equal, bucket.key).first()?.decode(column: "locked_until", as: Int64.self)
        throw Refusal(bucket: bucket, lockedUntil: until ?? nowMillis)
    }

    /// `locked_until` after `failures` failures at `now`, spelled out as one CASE over the schedule.
    static func lockedUntil(_ policy: ThrottlePolicy, failures n: SQLQueryString, now: Int64) -> SQLQueryString {
        var expression: SQLQueryString = "CASE WHEN \(n) < \(literal: policy.freeFailures) THEN 0"
        if let hardLimit = policy.hardLimit {
            expression += " WHEN \(n) >= \(literal: hardLimit) THEN \(literal: lockedForGood)"
        }
        for step in policy.rampSteps {
            expression += " WHEN \(n) = \(literal: step.failures) THEN \(bind: now + Int64(step.delay) * 1000)"
        }
        return expression + " ELSE \(bind: now + Int64(policy.maxDelay) * 1000) END"
    }

    /// Locks the member's row until the transaction ends (on PostgreSQL, as `RowLocks.members`) and reads their
    /// second-factor bucket in the same statement. With `refusing`, throws `Refusal` as `claim` would when the
    /// bucket is locked at `now`, without counting the attempt: for a second factor already known to be right,
    /// whose success would give its claim straight back. Returns whether the bucket has a row at all (a success
    /// has nothing to release when it has none: the common case, one statement fewer).
    public func lockMember(_ memberID: UUID, readingBucketRefusing refusing: Bool, now: Date) async throws -> Bool {
        let sql = db as! any SQLDatabase
        let bucket = SignInBucket.secondFactor(memberID: memberID)
        let key = bucket.key
        // On PostgreSQL the bucket rides along on the member's locked row (its key is unique: one row at most).
        // A member no longer there locks nothing; its bucket is read alone, as on SQLite.
        var row =
            sql.dialect.name == "postgresql"
            ? try await sql.raw(Self.lockingMember(memberID, readingBucket: key)).first() : nil
        if row == nil {
            row = try await sql.raw("SELECT locked_until FROM sign_in_throttles WHERE key = \(bind: key)").first()
        }
        guard let row, let lockedUntil = try row.columns(UUIDColumns(sql)).optionalInt64("locked_until") else {
            return false
        }
        if refusing, lockedUntil > Self.millis(now) { throw Refusal(bucket: bucket, lockedUntil: lockedUntil) }
        return true
    }

    /// On PostgreSQL, the member's row locked (as `RowLocks.members`) with the `locked_until` of the bucket keyed
    /// `key` beside it: no row when the member is gone, a NULL when the bucket has none.
    static func lockingMember(_ memberID: UUID, readingBucket key: String) -> SQLQueryString {
        """
        SELECT t.locked_until FROM members m LEFT JOIN sign_in_throttles t ON t.key = \(bind: key)
        WHERE m.id = \(bind: memberID) FOR NO KEY UPDATE OF m
        """
    }

    /// Gives back the claims of an attempt whose check passed. A per-address or second-factor bucket starts
    /// again from zero (a success ends a run of consecutive failures); the account-wide bucket only takes back
    /// this attempt's own count, so a member signing in does not hand a distributed attacker a fresh allowance.
    public func release(_ buckets: [SignInBucket]) async throws {
        let sql = db as! any SQLDatabase
        for bucket in buckets.sorted(by: { $0.key < $1.key }) {
            switch bucket {
            case .passwordFromUnfamiliar:
                try await sql.raw("DELETE FROM sign_in_throttles WHERE key = \(bind: bucket.key) AND failures <= 1")
                    .run()
                try await sql.raw(
                    """
                    UPDATE sign_in_throttles SET failures = failures - 1,
                      locked_until = CASE WHEN failures - 1 < \(literal: bucket.policy.freeFailures) THEN 0 ELSE locked_until END
                    WHERE key = \(bind: bucket.key) AND failures > 1
                    """
                ).run()
            case .passwordFromAddress, .secondFactor:
                try await sql.raw("DELETE FROM sign_in_throttles WHERE key = \(bind: bucket.key)").run()
            }
        }
    }

    /// Clears the second-factor buckets of these members (a Reset MFA removed the factors they guarded).
    public func clearSecondFactor(memberIDs: [UUID]) async throws {
        guard !memberIDs.isEmpty else { return }
        let sql = db as! any SQLDatabase
        let keys = memberIDs.map { SignInBucket.secondFactor(memberID: $0).key }.sorted()
        try await sql.delete(from: "sign_in_throttles").where("key", .in, SQLBind.group(keys)).run()
    }

    /// Deletes every bucket of a member (Unlock sign-in), locking them in key order first; returns how many
    /// there were and whether any was locked at `now`.
    public func clearAll(memberID: UUID, email: String, now: Date) async throws -> (
        cleared: Int, wasLocked: Bool
    ) {
        let sql = db as! any SQLDatabase
        var select: SQLQueryString = """
            SELECT key, locked_until FROM sign_in_throttles
            WHERE member_id = \(bind: memberID) OR email = \(bind: email) ORDER BY key
            """
        if sql.dialect.name == "postgresql" { select += " FOR UPDATE" }
        let rows = try await sql.raw(select).all()
        guard !rows.isEmpty else { return (0, false) }
        let keys = try rows.map { try $0.decode(column: "key", as: String.self) }
        let wasLocked = try rows.contains { try $0.decode(column: "locked_until", as: Int64.self) > Self.millis(now) }
        try await sql.delete(from: "sign_in_throttles").where("key", .in, SQLBind.group(keys)).run()
        return (keys.count, wasLocked)
    }

    /// The latest time until which any bucket of each member is locked, for members locked at `now`.
    public func lockedUntil(memberIDs: [UUID], now: Date) async throws -> [UUID: Date] {
        guard !memberIDs.isEmpty else { return [:] }
        let sql = db as! any SQLDatabase
        let rows = try await sql.select().column("member_id").column(
            SQLFunction("MAX", args: SQLColumn("locked_until")), as: "until"
        )
        .from("sign_in_throttles")
        .where("member_id", .in, SQLBind.group(memberIDs))
        .where("locked_until", .greaterThan, Self.millis(now))
        .groupBy("member_id").all()
        var result: [UUID: Date] = [:]
        for row in rows {
            let until = try row.decode(column: "until", as: Int64.self)
            result[try row.decode(column: "member_id", as: UUID.self)] = Self.date(fromMillis: until)
        }
        return result
    }

    /// The same as `lockedUntil(memberIDs:now:)` for one member column of the organization's members, as a scalar
    /// expression (stored milliseconds, NULL when not locked): the page of members reads it in its own statement.
    /// Most of the time nobody in the organization is locked: one look at its locks (`throttles_org_locked`,
    /// evaluated once a statement) then spares every row its own lookup, which cost a quarter of the page's
    /// statement on PostgreSQL. When someone is locked, every row looks as before.
    static func lockedUntil(ofMemberColumn member: StaticString, organizationID: UUID, now: Date) -> SQLQueryString {
        let now = millis(now)
        return """
            CASE WHEN EXISTS (SELECT 1 FROM sign_in_throttles WHERE organization_id = \(bind: organizationID) \
            AND locked_until > \(bind: now)) \
            THEN (SELECT MAX(locked_until) FROM sign_in_throttles WHERE member_id = \(unsafeRaw: "\(member)") \
            AND locked_until > \(bind: now)) END
            """
    }

    /// A stored `locked_until` as a date (`Date.distantFuture` at the hard stop).
    public static func date(fromMillis millis: Int64) -> Date {
        millis >= lockedForGood ? .distantFuture : Date(timeIntervalSince1970: Double(millis) / 1000)
    }

    /// The ids of an organization's members locked at `now` (the Members table's `Locked` filter).
    public static func lockedMembers(organizationID: UUID, now: Date) -> some SQLExpression {
        SQLSubquery.select {
            $0.column("member_id").from("sign_in_throttles")
                .where("organization_id", .equal, SQLBind(organizationID))
                .where("locked_until", .greaterThan, SQLBind(millis(now)))
        }
    }
}

extension SQLQueryString.StringInterpolation {
    /// A bound value, or SQL NULL.
    mutating func appendInterpolation(optional value: UUID?) {
        if let value { appendInterpolation(bind: value) } else { appendInterpolation(unsafeRaw: "NULL") }
    }
}

/// Row locks that keep concurrent transactions from waiting on each other in a cycle (PostgreSQL; SQLite
/// has a single writer). The order every transaction follows: member rows first, in id order; then the
/// rows that hang off them; the audit chain head last (`AuditStore.appendAll`).
public enum RowLocks {
    /// Locks these members' rows until the transaction ends, in id order. `FOR NO KEY UPDATE`, not `FOR UPDATE`:
    /// lockers still queue behind each other, but another transaction's foreign-key check on the row (an audit
    /// event or a mail naming the member) is not blocked, so two transactions that lock different members and
    /// write rows naming each other's cannot deadlock.
    public static func members(_ ids: [UUID], on db: any Database) async throws {
        let sql = db as! any SQLDatabase
        guard sql.dialect.name == "postgresql", !ids.isEmpty else { return }
        _ = try await sql.raw(
            "SELECT id FROM members WHERE id IN \(SQLBind.group(ids)) ORDER BY id FOR NO KEY UPDATE"
        ).all()
    }
}

extension SignInThrottles.Refusal {
    /// The refusal of a bucket whose stored `locked_until` is `millis`.
    init(bucket: SignInBucket, lockedUntil millis: Int64) {
        let date = SignInThrottles.date(fromMillis: millis)
        self.init(bucket: bucket, until: date == .distantFuture ? nil : date)
    }
}

/// Addresses a member completed sign-in from: wrong passwords from them are not counted against the
/// account-wide ceiling, so a distributed attack never locks a member out of the places they use.
public struct KnownAddresses: Sendable {
    let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// How long an address stays familiar after the last sign-in from it.
    public static let memory: TimeInterval = 90 * 86400

    public func isFamiliar(memberID: UUID, address: String, now: Date) async throws -> Bool {
        let sql = db as! any SQLDatabase
        return try await sql.select().column("member_id").from("member_known_addresses")
            .where("member_id", .equal, memberID).where("address", .equal, address)
            .where("last_seen_at", .greaterThan, now.addingTimeInterval(-Self.memory)).first() != nil
    }

    public func remember(memberID: UUID, address: String, now: Date) async throws {
        let sql = db as! any SQLDatabase
        try await sql.raw(Self.upsert("VALUES (\(bind: memberID), \(bind: address), \(bind: now))")).run()
    }

    /// The statement that remembers the addresses `rows` gives (`member_id`, `address`, `last_seen_at`): a
    /// `VALUES` list, or on PostgreSQL a query (`SessionRepository.promote` takes them from the promoted session).
    static func upsert(_ rows: SQLQueryString) -> SQLQueryString {
        """
        INSERT INTO member_known_addresses (member_id, address, last_seen_at) \(rows)
        ON CONFLICT (member_id, address) DO UPDATE SET last_seen_at = excluded.last_seen_at
        """
    }
}
