import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

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
    public var requestID: String
    public var ip: String
    public var userAgent: String
    public var ticket: String

    public init(
        organizationID: UUID?, actorID: UUID? = nil, actorEmail: String = "", actorRole: String = "",
        action: AuditAction, targetID: UUID? = nil, targetEmail: String = "", result: AuditResult, reason: String = "",
        batchID: UUID? = nil, requestID: String = "", ip: String = "", userAgent: String = "", ticket: String = ""
    ) {
        self.organizationID = organizationID
        self.actorID = actorID
        self.actorEmail = actorEmail
        self.actorRole = actorRole
        self.action = action
        self.targetID = targetID
        self.targetEmail = targetEmail
        self.result = result
        self.reason = reason
        self.batchID = batchID
        self.requestID = requestID
        self.ip = ip
        self.userAgent = userAgent
        self.ticket = ticket
    }
}

/// The append-only, hash-chained audit log. Each organization has its own chain; events with no
/// organization (e.g. a sign-in attempt for an unknown email) go to the `instance` chain.
public struct AuditStore: Sendable {
    public init() {}

    /// True for a unique-constraint violation (e.g. two requests racing with one `Idempotency-Key`).
    public static func isConflict(_ error: any Error) -> Bool {
        (error as? any DatabaseError)?.isConstraintFailure == true
    }

    static func chainName(_ organizationID: UUID?) -> String {
        organizationID?.uuidString.lowercased() ?? "instance"
    }

    /// Appends one event in a transaction of its own.
    public func append(_ entry: AuditEntry, at now: Date, on db: any Database) async throws {
        try await appendAll([entry], at: now, on: db)
    }

    /// Appends several events of one organization in order with one insert, inside the caller's transaction
    /// when there is one (so the events commit or vanish with the changes they record), else in a transaction
    /// of its own.
    ///
    /// Concurrent appenders to one chain queue rather than collide: the chain's head row in
    /// `audit_chain_heads` is taken with an upsert, which holds its row lock until the transaction ends, so
    /// each writer continues from the head the previous one left. Call this as the last step of a
    /// transaction: the head is the last lock taken (see `RowLocks`) and is held only until the commit.
    public func appendAll(_ entries: [AuditEntry], at now: Date, on db: any Database) async throws {
        guard !entries.isEmpty else { return }
        try await db.transaction { tx in try await Self.appendAll(entries, at: now, inTransaction: tx) }
    }

    private static func appendAll(_ entries: [AuditEntry], at now: Date, inTransaction db: any Database) async throws {
        let sql = db as! any SQLDatabase
        let chain = chainName(entries[0].organizationID)
        let head = try await sql.raw(
            """
            INSERT INTO audit_chain_heads (chain, seq, hash) VALUES (\(bind: chain), 0, \(bind: AuditRecord.genesisHash))
            ON CONFLICT (chain) DO UPDATE SET seq = audit_chain_heads.seq
            RETURNING seq, hash
            """
        ).first()
        guard let head else { throw LatchkeyError(.internalError, "audit_head", "The audit chain head is missing.") }
        var seq = try head.decode(column: "seq", as: Int64.self)
        var previous = try head.decode(column: "hash", as: String.self)
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
                result: entry.result.rawValue, reason: entry.reason, batchID: entry.batchID, requestID: entry.requestID,
                ip: entry.ip, userAgent: entry.userAgent, ticket: entry.ticket)
            let hash = record.hash(previous: previous)
            let optional = { (id: UUID?) -> any SQLExpression in id.map { SQLBind($0) } ?? SQLLiteral.null }
            rows.append([
                SQLBind(UUID()), SQLBind(chain), SQLBind(seq), optional(record.organizationID),
                SQLBind(Date(timeIntervalSince1970: Double(millis) / 1000)), optional(record.actorID),
                SQLBind(record.actorEmail), SQLBind(record.actorRole), SQLBind(record.action),
                optional(record.targetID),
                SQLBind(record.targetEmail), SQLBind(record.result), SQLBind(record.reason), optional(record.batchID),
                SQLBind(record.requestID), SQLBind(record.ip), SQLBind(record.userAgent), SQLBind(record.ticket),
                SQLBind(previous), SQLBind(hash),
            ])
            previous = hash
        }
        try await BulkInsert.rows(rows, into: AuditEventModel.schema, columns: columns, on: db)
        try await sql.update("audit_chain_heads").set("seq", to: seq).set("hash", to: previous)
            .where("chain", .equal, chain).run()
    }

    static let columns = [
        "id", "chain", "seq", "organization_id", "occurred_at", "actor_id", "actor_email", "actor_role", "action",
        "target_id", "target_email", "result", "reason", "batch_id", "request_id", "ip", "user_agent", "ticket",
        "prev_hash", "hash",
    ]

    /// The outcome of walking a chain.
    public enum Verification: Sendable, Equatable {
        case intact(events: Int)
        /// `seq` is the first event whose stored hash, previous hash or position does not follow.
        case broken(chain: String, seq: Int64, eventID: UUID?, reason: String)
    }

    /// Walks every chain (or one organization's) from the start and checks each link.
    public func verify(organizationID: UUID? = nil, on db: any Database) async throws -> Verification {
        var chains: [String]
        if let organizationID {
            chains = [Self.chainName(organizationID)]
        } else {
            let sql = db as! any SQLDatabase
            let withEvents = try await sql.select().distinct().column("chain").from(AuditEventModel.schema).all()
            let withHeads = try await sql.select().column("chain").from("audit_chain_heads").all()
            chains = Set(try (withEvents + withHeads).map { try $0.decode(column: "chain", as: String.self) }).sorted()
        }
        var total = 0
        for chain in chains {
            var expectedSeq: Int64 = 1
            var previous = AuditRecord.genesisHash
            var lastSeq: Int64 = 0
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
                    if event.record.hash(previous: previous) != event.hash {
                        return .broken(
                            chain: chain, seq: event.seq, eventID: event.id, reason: "event content was changed")
                    }
                    previous = event.hash
                    expectedSeq += 1
                    lastSeq = event.seq
                    total += 1
                }
            }
            // The head row names the last event written: events removed from the end show here.
            if let head = try await (db as! any SQLDatabase).select().column("seq").column("hash")
                .from("audit_chain_heads").where("chain", .equal, chain).first()
            {
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
            }
        }
        return .intact(events: total)
    }
}

extension AuditEventModel {
    convenience init(record: AuditRecord, prevHash: String) {
        self.init()
        self.id = UUID()
        self.chain = record.chain
        self.seq = record.seq
        self.organizationID = record.organizationID
        self.occurredAt = Date(timeIntervalSince1970: Double(record.occurredAtMillis) / 1000)
        self.actorID = record.actorID
        self.actorEmail = record.actorEmail
        self.actorRole = record.actorRole
        self.action = record.action
        self.targetID = record.targetID
        self.targetEmail = record.targetEmail
        self.result = record.result
        self.reason = record.reason
        self.batchID = record.batchID
        self.requestID = record.requestID
        self.ip = record.ip
        self.userAgent = record.userAgent
        self.ticket = record.ticket
        self.prevHash = prevHash
        self.hash = record.hash(previous: prevHash)
    }

    /// The hashed fields as stored.
    public var record: AuditRecord {
        AuditRecord(
            chain: chain, seq: seq, organizationID: organizationID,
            occurredAtMillis: Int64((occurredAt.timeIntervalSince1970 * 1000).rounded()), actorID: actorID,
            actorEmail: actorEmail, actorRole: actorRole, action: action, targetID: targetID, targetEmail: targetEmail,
            result: result, reason: reason, batchID: batchID, requestID: requestID, ip: ip, userAgent: userAgent,
            ticket: ticket)
    }
}
