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

    /// True for a unique-constraint violation: another writer took the same chain position.
    public static func isConflict(_ error: any Error) -> Bool {
        (error as? any DatabaseError)?.isConstraintFailure == true
    }

    static func chainName(_ organizationID: UUID?) -> String {
        organizationID?.uuidString.lowercased() ?? "instance"
    }

    /// Runs `body` again (up to 20 times) while it fails on a unique constraint: another writer took the same
    /// audit chain position, so the work is redone against the new head. `body` should be one transaction.
    public static func retryingOnConflict<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch  where isConflict(error) && attempt < 20 {
                attempt += 1
            }
        }
    }

    /// Appends one event.
    public func append(_ entry: AuditEntry, at now: Date, on db: any Database) async throws {
        try await Self.retryingOnConflict { try await appendAll([entry], at: now, on: db) }
    }

    /// Appends several events of one organization in order with one insert. Run it inside the transaction
    /// that makes the changes they record: if another writer took the same positions, the insert fails on
    /// the (chain, seq) constraint and the caller retries the whole transaction.
    public func appendAll(_ entries: [AuditEntry], at now: Date, on db: any Database) async throws {
        guard let first = entries.first else { return }
        let chain = Self.chainName(first.organizationID)
        let head = try await AuditEventModel.query(on: db).filter(\.$chain == chain).sort(\.$seq, .descending).first()
        var seq = head?.seq ?? 0
        var previous = head?.hash ?? AuditRecord.genesisHash
        let millis = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
        var rows: [[any SQLExpression]] = []
        rows.reserveCapacity(entries.count)
        for entry in entries {
            precondition(Self.chainName(entry.organizationID) == chain, "appendAll takes one organization's events")
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
        try await BulkInsert.rows(rows, into: AuditEventModel.schema, columns: Self.columns, on: db)
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
            chains = try await sql.select().distinct().column("chain").from(AuditEventModel.schema).all()
                .map { try $0.decode(column: "chain", as: String.self) }
            chains.sort()
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
