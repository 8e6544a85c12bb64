import FluentKit
import Foundation
import LatchkeyCore
import SQLKit
import Synchronization

/// What a caller knows about an event; the store assigns chain position, time and hashes.
public struct AuditEntry: Sendable {
    public var organizationID: UUID?
    public var actorID: UUID?
    public var actorEmail: String
    public var actorRole: String
    public var action: AuditAction
    public var targetID: UUID?
    public var targetEmail: String
    public var result: AuditResult
    public var reason: String
    public var batchID: UUID?
    /// The request (or job, or command) that caused it.
    public var meta: RequestMeta
    public var ticket: String
    /// The API token the actor acted through, if any: its id and name.
    public var token: (id: UUID, name: String)?

    public init(
        organizationID: UUID?, actorID: UUID? = nil, actorEmail: String = "", actorRole: String = "",
        action: AuditAction, targetID: UUID? = nil, targetEmail: String = "", result: AuditResult, reason: String = "",
        batchID: UUID? = nil, meta: RequestMeta = .init(requestID: "", ip: "", userAgent: ""), ticket: String = "",
        token: (id: UUID, name: String)? = nil
    ) {
        self.token = token
        (self.organizationID, self.actorID, self.actorEmail, self.actorRole) = (
            organizationID, actorID, actorEmail, actorRole
        )
        (self.action, self.targetID, self.targetEmail) = (action, targetID, targetEmail)
        (self.result, self.reason, self.batchID, self.meta, self.ticket) = (result, reason, batchID, meta, ticket)
    }
}

/// The append-only, hash-chained audit log. Each organization has its own chain; events with no
/// organization (e.g. a sign-in attempt for an unknown email) go to the `instance` chain.
public struct AuditStore: Sendable {
    let db: any Database
    let setup: AuditSetup?
    let pending: PendingAuditEvents?

    public init(_ db: any Database) { self.init(db, setup: nil, pending: nil) }

    init(_ db: any Database, setup: AuditSetup?, pending: PendingAuditEvents?) {
        (self.db, self.setup, self.pending) = (db, setup, pending)
    }

    static func chainName(_ organizationID: UUID?) -> String {
        organizationID?.lowercasedString ?? "instance"
    }

    /// Appends one event in a transaction of its own.
    public func append(_ entry: AuditEntry, at now: Date) async throws {
        try await appendAll([entry], at: now)
    }

    /// Appends several events of one organization in order with one insert, inside the caller's transaction
    /// when there is one (so the events commit or vanish with the changes they record), else in a transaction
    /// of its own.
    ///
    /// Concurrent appenders to one chain queue rather than collide: the chain's head row in
    /// `audit_chain_heads` is taken with an upsert, which holds its row lock until the transaction ends, so
    /// each writer continues from the head the previous one left. Call this as the last step of a
    /// transaction: the head is the last lock taken (see `RowLocks`) and is held only until the commit.
    public func appendAll(_ entries: [AuditEntry], at now: Date) async throws {
        guard !entries.isEmpty else { return }
        let setup = self.setup
        try await db.atomically { tx in try await Self.appendAll(entries, at: now, setup: setup, inTransaction: tx) }
        // Told now when committed now; inside a transaction, when it commits.
        if let pending { pending.add(entries) } else { setup?.report(entries) }
    }

    /// A chain's head: the position and hash of its last event.
    struct Head: Sendable, Equatable {
        var seq: Int64
        var hash: String

        init(seq: Int64, hash: String) { (self.seq, self.hash) = (seq, hash) }

        /// The head in a row's `seq` and `hash` columns.
        init(_ row: any SQLRow) throws {
            self.init(
                seq: try row.decode(column: "seq", as: Int64.self),
                hash: try row.decode(column: "hash", as: String.self))
        }
    }

    static let missingHead = LatchkeyError(.internalError, "audit_head", "The audit chain head is missing.")

    /// On PostgreSQL, the head this process left a chain at is remembered (`AuditSetup.heads`), and the next
    /// append continues from it in one statement: the events go in only if the head still is where it was left,
    /// checked and moved by an `UPDATE` that takes the head's lock (waiting for a concurrent appender, then reading
    /// the head it committed). When another appender moved it meanwhile, nothing is written, and the same statement
    /// takes the head's lock and reads it: the events are then linked after it and written as without a remembered
    /// head. One round trip fewer for every audited write whose chain this process left where it still is, none more
    /// for the others; the events, their links and the head are the same either way.
    private static func appendAll(
        _ entries: [AuditEntry], at now: Date, setup: AuditSetup?, inTransaction db: any Database
    ) async throws {
        let sql = db as! any SQLDatabase
        let chain = chainName(entries[0].organizationID)
        let key = setup?.chainKey
        // (Only as many events as one statement takes: more are inserted in several, after the head is locked.)
        let remembers =
            sql.dialect.name == "postgresql" && entries.count <= BulkInsert.rowsPerStatement(columns: columns.count)
            ? setup : nil
        let head: Head
        if let remembers, let remembered = remembers.head(of: chain) {
            let continued = continuing(entries, chain: chain, from: remembered, at: now, key: key)
            let answer = try await sql.raw(
                """
                WITH \(continued.items), locked AS (
                  SELECT seq, hash FROM audit_chain_heads WHERE chain = \(bind: chain) AND NOT EXISTS (SELECT 1 FROM moved)
                  FOR UPDATE
                )
                SELECT (SELECT count(*) FROM moved) AS moved, locked.seq, locked.hash
                FROM (SELECT 1) AS one LEFT JOIN locked ON true
                """
            ).first()
            guard let answer else { throw Self.missingHead }
            if try answer.decode(column: "moved", as: Int.self) == 1 {
                remembers.remember(continued.head, of: chain)
                remembers.continued.add(1, ordering: .relaxed)
                return
            }
            remembers.headMoved.add(1, ordering: .relaxed)
            head = try Head(answer)
        } else {
            let found = try await sql.raw(
                """
                INSERT INTO audit_chain_heads (chain, seq, hash) VALUES (\(bind: chain), 0, \(bind: AuditRecord.genesisHash))
                ON CONFLICT (chain) DO UPDATE SET seq = audit_chain_heads.seq
                RETURNING seq, hash
                """
            ).first()
            guard let found else { throw Self.missingHead }
            head = try Head(found)
        }
        let linked = link(entries, chain: chain, after: head, at: now, key: key)
        try await BulkInsert.rows(
            linked.rows, into: AuditEventModel.schema, columns: columns, on: db, then: linked.moveHead)
        remembers?.remember(linked.head, of: chain)
    }

    /// On PostgreSQL, `entries` linked after `remembered` as two items of a data-modifying `WITH` — `moved`, the
    /// head moved on only if it still is at `remembered` (checked on the newest row, after any concurrent appender
    /// commits) and `condition` holds, returning its new `seq`; and `inserted`, the events, written only if `moved`
    /// moved it — with the head they leave.
    static func continuing(
        _ entries: [AuditEntry], chain: String, from remembered: Head, at now: Date, key: [UInt8]?,
        when condition: SQLQueryString? = nil
    ) -> (items: SQLQueryString, head: Head) {
        let linked = link(entries, chain: chain, after: remembered, at: now, key: key)
        var moved = linked.moveHead + " AND seq = \(bind: remembered.seq) AND hash = \(bind: remembered.hash)"
        if let condition { moved += " AND " + condition }
        let items: SQLQueryString = """
            moved AS (\(moved) RETURNING seq), inserted AS (
              \(unsafeRaw: Self.insertEvents)
              SELECT * FROM (\(BulkInsert.Values(rows: linked.rows[...]))) AS event WHERE EXISTS (SELECT 1 FROM moved)
            )
            """
        return (items, linked.head)
    }

    /// `entries` as rows of `audit_events` linked after `head`, the head they leave, and the statement that moves
    /// the head there (without its end, so that a caller can add a condition).
    private static func link(_ entries: [AuditEntry], chain: String, after head: Head, at now: Date, key: [UInt8]?)
        -> (rows: [[any SQLExpression]], head: Head, moveHead: SQLQueryString)
    {
        let version = key == nil ? 1 : AuditChainKey.keyedVersion
        var seq = head.seq
        var previous = head.hash
        let millis = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
        var rows: [[any SQLExpression]] = []
        rows.reserveCapacity(entries.count)
        for entry in entries {
            precondition(chainName(entry.organizationID) == chain, "appendAll takes one organization's events")
            seq += 1
            let record = AuditRecord(
                chain: chain, seq: seq, organizationID: entry.organizationID, occurredAtMillis: millis,
                actorID: entry.actorID, actorEmail: entry.actorEmail, actorRole: entry.actorRole,
                action: entry.action.rawValue, targetID: entry.targetID, targetEmail: entry.targetEmail,
                result: entry.result.rawValue, reason: entry.reason, batchID: entry.batchID,
                requestID: entry.meta.requestID,
                ip: entry.meta.ip, userAgent: entry.meta.userAgent, ticket: entry.ticket,
                actorTokenID: entry.token?.id, actorTokenName: entry.token?.name ?? "")
            let hash = record.hash(previous: previous, version: version, key: key)
            rows.append([
                SQLBind(UUID.random()), SQLBind(chain), SQLBind(seq), optionalID(record.organizationID),
                SQLBind(Date(timeIntervalSince1970: Double(millis) / 1000)), optionalID(record.actorID),
                SQLBind(record.actorEmail), SQLBind(record.actorRole), SQLBind(record.action),
                optionalID(record.targetID),
                SQLBind(record.targetEmail), SQLBind(record.result), SQLBind(record.reason), optionalID(record.batchID),
                SQLBind(record.requestID), SQLBind(record.ip), SQLBind(record.userAgent), SQLBind(record.ticket),
                optionalID(record.actorTokenID), SQLBind(record.actorTokenName), SQLBind(previous), SQLBind(hash),
                SQLBind(version),
            ])
            previous = hash
        }
        let mac = key.map { AuditChainKey.headMAC(chain: chain, seq: seq, hash: previous, key: $0) } ?? ""
        let moveHead: SQLQueryString = """
            UPDATE audit_chain_heads SET seq = \(bind: seq), hash = \(bind: previous), head_mac = \(bind: mac)
            WHERE chain = \(bind: chain)
            """
        return (rows, Head(seq: seq, hash: previous), moveHead)
    }

    /// An id's value, or a NULL of its type when there is none: a remembered head's rows are selected from `VALUES`,
    /// where an untyped NULL would be read as text.
    static func optionalID(_ id: UUID?) -> any SQLExpression {
        id.map { SQLBind($0) } ?? SQLRaw("CAST(NULL AS uuid)")
    }

    /// `INSERT INTO audit_events (…columns)`, for a remembered head's statement.
    static let insertEvents = BulkInsert.insertInto(AuditEventModel.schema, columns: columns)

    static let columns = [
        "id", "chain", "seq", "organization_id", "occurred_at", "actor_id", "actor_email", "actor_role", "action",
        "target_id", "target_email", "result", "reason", "batch_id", "request_id", "ip", "user_agent", "ticket",
        "actor_token_id", "actor_token_name", "prev_hash", "hash", "chain_version",
    ]

    // MARK: Reading

    /// Which events to read: by action, actor and target email, result and time.
    public struct Filter: Sendable {
        public var action: String?
        public var actor: String?
        public var target: String?
        public var result: String?
        /// One bulk request's events.
        public var batch: UUID?
        public var after: Date?
        public var before: Date?
        public var limit = 50

        public init() {}

        /// Parses query parameters; dates are `YYYY-MM-DD` (UTC day) or ISO 8601 times.
        public init(
            action: String?, actor: String?, target: String?, result: String?, from: String?, to: String?,
            limit: String?, batch: String? = nil
        ) throws {
            if let batch {
                // Unlike the text filters, an empty batch is not "any": it is no batch id at all.
                guard let id = UUID(uuidString: batch) else {
                    throw LatchkeyError.badRequest("invalid_batch", "batch must be a batch id (a UUID).")
                }
                self.batch = id
            }
            if let action, !action.isEmpty {
                guard AuditAction(rawValue: action) != nil else {
                    throw LatchkeyError.badRequest("invalid_action", "Unknown action filter.")
                }
                self.action = action
            }
            for (value, name) in [(actor, "actor"), (target, "target")] {
                guard let value, !value.isEmpty else { continue }
                guard value.count <= 254 else {
                    throw LatchkeyError.badRequest("invalid_\(name)", "The \(name) filter is too long.")
                }
            }
            self.actor = actor.flatMap { $0.isEmpty ? nil : $0.lowercased() }
            self.target = target.flatMap { $0.isEmpty ? nil : $0.lowercased() }
            if let result, !result.isEmpty {
                guard AuditResult(rawValue: result) != nil else {
                    throw LatchkeyError.badRequest("invalid_result", "Unknown result filter.")
                }
                self.result = result
            }
            after = try from.flatMap { $0.isEmpty ? nil : try Self.date($0, endOfDay: false) }
            before = try to.flatMap { $0.isEmpty ? nil : try Self.date($0, endOfDay: true) }
            if let limit, !limit.isEmpty {
                guard let value = Int(limit), (1...500).contains(value) else {
                    throw LatchkeyError.badRequest("invalid_limit", "limit must be between 1 and 500.")
                }
                self.limit = value
            }
        }

        static func date(_ text: String, endOfDay: Bool) throws -> Date {
            if let date = ISO8601DateFormatter().date(from: text) { return date }
            let day = DateFormatter()
            day.locale = Locale(identifier: "en_US_POSIX")
            day.timeZone = TimeZone(identifier: "UTC")
            day.dateFormat = "yyyy-MM-dd"
            guard let date = day.date(from: text) else {
                throw LatchkeyError.badRequest("invalid_date", "Dates are YYYY-MM-DD or ISO 8601 times.")
            }
            return endOfDay ? date.addingTimeInterval(86400) : date
        }
    }

    /// The organization's events after chain position `seq`, oldest first (webhook queues read the chain this way).
    public func events(organizationID: UUID, after seq: Int64, limit: Int) async throws -> [AuditEvent] {
        try await AuditEventModel.query(on: db).filter(\.$chain == organizationID.lowercasedString)
            .filter(\.$seq > seq).sort(\.$seq).limit(limit).all().map(AuditEvent.init)
    }

    /// One page, newest first, before the chain position `cursor`.
    public func page(organizationID: UUID, filter: Filter, cursor: String?) async throws -> (
        events: [AuditEvent], next: String?
    ) {
        let page = try await page(organizationID: organizationID, filter: filter, older: cursor, newer: nil)
        return (page.events, page.next)
    }

    /// One page of matching events, newest first: those older than `older` (a `seq`), or the page just newer than
    /// `newer`, or the newest. `next` pages on to older events, `previous` back to newer ones (nil on the newest).
    public func page(organizationID: UUID, filter: Filter, older: String?, newer: String?) async throws -> (
        events: [AuditEvent], next: String?, previous: String?
    ) {
        let seq = { (cursor: String?) throws -> Int64? in
            guard let cursor, !cursor.isEmpty else { return nil }
            guard let seq = Int64(cursor), seq > 0 else {
                throw LatchkeyError.badRequest("invalid_cursor", "The page cursor is not valid.")
            }
            return seq
        }
        var query = AuditEventModel.query(on: db)
            .filter(\.$chain == organizationID.lowercasedString)
        if let action = filter.action { query = query.filter(\.$action == action) }
        if let result = filter.result { query = query.filter(\.$result == result) }
        if let actor = filter.actor { query = query.filter(\.$actorEmail == actor) }
        if let target = filter.target { query = query.filter(\.$targetEmail == target) }
        if let batch = filter.batch { query = query.filter(\.$batchID == batch) }
        if let after = filter.after { query = query.filter(\.$occurredAt >= after) }
        if let before = filter.before { query = query.filter(\.$occurredAt < before) }
        if let newer = try seq(newer) {
            // Back towards the newest: the `limit` events just after `newer`, oldest first, then turned round.
            var events = try await query.filter(\.$seq > newer).sort(\.$seq, .ascending).limit(filter.limit + 1).all()
                .map(AuditEvent.init)
            let more = events.count > filter.limit
            if more { events.removeLast() }
            events.reverse()
            return (events, events.last.map { String($0.seq) }, more ? events.first.map { String($0.seq) } : nil)
        }
        let older = try seq(older)
        if let older { query = query.filter(\.$seq < older) }
        var events = try await query.sort(\.$seq, .descending).limit(filter.limit + 1).all().map(AuditEvent.init)
        let more = events.count > filter.limit
        if more { events.removeLast() }
        return (
            events, more ? events.last.map { String($0.seq) } : nil,
            older == nil ? nil : events.first.map { String($0.seq) }
        )
    }

    /// One event of the organization's chain, by id.
    public func event(_ id: UUID, organizationID: UUID) async throws -> AuditEvent? {
        try await AuditEventModel.query(on: db).filter(\.$id == id)
            .filter(\.$chain == organizationID.lowercasedString).first().map(AuditEvent.init)
    }

    /// The newest events a member of the organization caused or was the target of.
    public func recent(memberID: UUID, organizationID: UUID, limit: Int) async throws -> [AuditEvent] {
        try await AuditEventModel.query(on: db).filter(\.$organizationID == organizationID)
            .group(.or) { $0.filter(\.$targetID == memberID).filter(\.$actorID == memberID) }
            .sort(\.$seq, .descending).limit(limit).all().map(AuditEvent.init)
    }

    /// Every matching event, newest first, in pages (for exports).
    public func all(organizationID: UUID?, filter: Filter, each: ([AuditEvent]) async throws -> Void) async throws {
        var filter = filter
        filter.limit = 500
        if let organizationID {
            var cursor: String?
            repeat {
                let (events, next) = try await page(organizationID: organizationID, filter: filter, cursor: cursor)
                try await each(events)
                cursor = next
            } while cursor != nil
        } else {
            let events = try await AuditEventModel.query(on: db).sort(\.$chain).sort(\.$seq).all().map(AuditEvent.init)
            try await each(events)
        }
    }

    /// The outcome of walking a chain.
    public enum Verification: Sendable, Equatable {
        case intact(events: Int)
        /// `seq` is the first event whose stored hash, previous hash or position does not follow.
        case broken(chain: String, seq: Int64, eventID: UUID?, reason: String)
    }

    /// Every chain's head now (seq and hash of its last event), or one organization's.
    public func heads(organizationID: UUID? = nil) async throws -> [(chain: String, seq: Int64, hash: String)] {
        let sql = db as! any SQLDatabase
        var query = sql.select().column("chain").column("seq").column("hash").from("audit_chain_heads")
            .orderBy("chain")
        if let organizationID { query = query.where("chain", .equal, Self.chainName(organizationID)) }
        return try await query.all().map {
            (
                try $0.decode(column: "chain", as: String.self), try $0.decode(column: "seq", as: Int64.self),
                try $0.decode(column: "hash", as: String.self)
            )
        }
    }

    /// The audit chain key this process holds, if any.
    public var chainKey: [UInt8]? { setup?.chainKey }

    /// Signs every chain's head with `key` (once, when the database's audit chain key is made: chains written before
    /// then are covered from now on).
    public func signHeads(key: [UInt8]) async throws {
        try await db.atomically { tx in
            let sql = tx as! any SQLDatabase
            for (chain, seq, hash) in try await AuditStore(tx).heads() {
                try await sql.update("audit_chain_heads")
                    .set("head_mac", to: AuditChainKey.headMAC(chain: chain, seq: seq, hash: hash, key: key))
                    .where("chain", .equal, chain).where("seq", .equal, seq).run()
            }
        }
    }

    public static let keyNeeded = LatchkeyError(
        .conflict, "audit_key_needed",
        "The audit chain is keyed: verifying it needs the server key (LATCHKEY_SECRET_KEY or secret.key).")

    /// Walks every chain (or one organization's) from the start and checks each link: keyed links (version 2) with
    /// the audit chain key, which must then go on to the end. `checkpoints` (see `AuditChainKey.Checkpoint`, their
    /// signatures checked by the caller): each chain must hold the checkpoint's hash at its seq, and reach it.
    public func verify(organizationID: UUID? = nil, checkpoints: [String: AuditChainKey.Checkpoint] = [:]) async throws
        -> Verification
    {
        var chains: [String]
        if let organizationID {
            chains = [Self.chainName(organizationID)]
        } else {
            let sql = db as! any SQLDatabase
            let withEvents = try await sql.select().distinct().column("chain").from(AuditEventModel.schema).all()
            let withHeads = try await sql.select().column("chain").from("audit_chain_heads").all()
            chains = Set(try (withEvents + withHeads).map { try $0.decode(column: "chain", as: String.self) }).sorted()
        }
        if organizationID == nil { chains = Set(chains).union(checkpoints.keys).sorted() }
        var total = 0
        for chain in chains {
            var expectedSeq: Int64 = 1
            var previous = AuditRecord.genesisHash
            var lastSeq: Int64 = 0
            // Once a chain is keyed, every later link must be.
            var keyedSince: Int?
            while true {
                let page = try await AuditEventModel.query(on: db).filter(\.$chain == chain).filter(\.$seq > lastSeq)
                    .sort(\.$seq, .ascending).limit(1000).all()
                if page.isEmpty { break }
                for event in page {
                    if event.seq != expectedSeq {
                        return .broken(
                            chain: chain, seq: expectedSeq, eventID: nil, reason: "event \(expectedSeq) is missing")
                    }
                    if event.prevHash != previous {
                        return .broken(
                            chain: chain, seq: event.seq, eventID: event.id, reason: "previous hash does not match")
                    }
                    if event.chainVersion < keyedSince ?? 0 {
                        return .broken(
                            chain: chain, seq: event.seq, eventID: event.id,
                            reason: "an unkeyed event follows keyed ones (rewritten without the key)")
                    }
                    if event.chainVersion >= AuditChainKey.keyedVersion {
                        guard let key = setup?.chainKey else { throw Self.keyNeeded }
                        keyedSince = keyedSince ?? event.chainVersion
                        if event.record.hash(previous: previous, version: event.chainVersion, key: key) != event.hash {
                            return .broken(
                                chain: chain, seq: event.seq, eventID: event.id,
                                reason: "event content was changed (its keyed link does not match)")
                        }
                    } else if event.record.hash(previous: previous) != event.hash {
                        return .broken(
                            chain: chain, seq: event.seq, eventID: event.id, reason: "event content was changed")
                    }
                    if let checkpoint = checkpoints[chain], checkpoint.seq == event.seq, checkpoint.hash != event.hash {
                        return .broken(
                            chain: chain, seq: event.seq, eventID: event.id,
                            reason: "the chain differs from the checkpoint taken at \(checkpoint.at)")
                    }
                    previous = event.hash
                    expectedSeq += 1
                    lastSeq = event.seq
                    total += 1
                }
            }
            // The head row names the last event written: events removed from the end show here.
            let head = try await (db as! any SQLDatabase).select().column("seq").column("hash").column("head_mac")
                .from("audit_chain_heads").where("chain", .equal, chain).first()
            if head == nil, lastSeq > 0, setup?.chainKey != nil {
                return .broken(chain: chain, seq: lastSeq, eventID: nil, reason: "the chain's head was removed")
            }
            if let head {
                let headSeq = try head.decode(column: "seq", as: Int64.self)
                if headSeq > lastSeq {
                    return .broken(
                        chain: chain, seq: lastSeq + 1, eventID: nil,
                        reason: "events after \(lastSeq) are missing (the chain head is at \(headSeq))")
                }
                if headSeq < lastSeq {
                    return .broken(
                        chain: chain, seq: headSeq + 1, eventID: nil,
                        reason: "events after \(headSeq) were written past the chain head")
                }
                if try head.decode(column: "hash", as: String.self) != previous {
                    return .broken(
                        chain: chain, seq: lastSeq, eventID: nil,
                        reason: "the chain head does not match event \(lastSeq)")
                }
                // The head is signed: a chain rewritten from its start without the key cannot sign its new head.
                if let key = setup?.chainKey {
                    let mac = AuditChainKey.headMAC(chain: chain, seq: headSeq, hash: previous, key: key)
                    guard
                        constantTimeEquals(
                            Array(mac.utf8), Array(try head.decode(column: "head_mac", as: String.self).utf8))
                    else {
                        return .broken(
                            chain: chain, seq: lastSeq, eventID: nil,
                            reason: "the chain head is not signed with the audit key (the chain was rewritten)")
                    }
                }
            }
            if let checkpoint = checkpoints[chain], lastSeq < checkpoint.seq {
                return .broken(
                    chain: chain, seq: lastSeq + 1, eventID: nil,
                    reason:
                        "events up to \(checkpoint.seq), which the checkpoint taken at \(checkpoint.at) holds, are missing"
                )
            }
        }
        return .intact(events: total)
    }
}

extension AuditEventModel {
    /// The hashed fields as stored.
    public var record: AuditRecord {
        AuditRecord(
            chain: chain, seq: seq, organizationID: organizationID,
            occurredAtMillis: Int64((occurredAt.timeIntervalSince1970 * 1000).rounded()), actorID: actorID,
            actorEmail: actorEmail, actorRole: actorRole, action: action, targetID: targetID, targetEmail: targetEmail,
            result: result, reason: reason, batchID: batchID, requestID: requestID, ip: ip, userAgent: userAgent,
            ticket: ticket, actorTokenID: actorTokenID, actorTokenName: actorTokenName)
    }
}

/// One stored audit event: its id and time, the hashed fields (`event.actorEmail`, `event.seq`, … read
/// through to `record`) and its links in the chain.
@dynamicMemberLookup
public struct AuditEvent: Sendable, Equatable {
    public var id: UUID
    public var occurredAt: Date
    public var record: AuditRecord
    public var prevHash: String
    public var hash: String

    public subscript<T>(dynamicMember keyPath: KeyPath<AuditRecord, T>) -> T { record[keyPath: keyPath] }

    init(_ model: AuditEventModel) {
        id = model.id!
        occurredAt = model.occurredAt
        record = model.record
        prevHash = model.prevHash
        hash = model.hash
    }
}
