import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// An organization's webhook endpoint (M024).
public struct WebhookEndpoint: Sendable, Equatable {
    public var id: UUID
    public var organizationID: UUID
    public var url: String
    public var description: String
    /// Audit actions delivered; `["*"]` for every one.
    public var eventTypes: [String]
    public var sealedSecret: String
    public var createdByName: String
    public var createdAt: Date
    /// The chain position of the last event taken into its queue.
    public var lastSeq: Int64
    public var disabledAt: Date?
    public var disabledReason: String
    /// When the current run of failed deliveries began (nil: the last one succeeded).
    public var failingSince: Date?

    public init(
        id: UUID = UUID.random(), organizationID: UUID, url: String, description: String, eventTypes: [String],
        sealedSecret: String, createdByName: String, createdAt: Date, lastSeq: Int64
    ) {
        self.id = id
        self.organizationID = organizationID
        self.url = url
        self.description = description
        self.eventTypes = eventTypes
        self.sealedSecret = sealedSecret
        self.createdByName = createdByName
        self.createdAt = createdAt
        self.lastSeq = lastSeq
        self.disabledAt = nil
        self.disabledReason = ""
        self.failingSince = nil
    }

    public var enabled: Bool { disabledAt == nil }

    /// Whether an event of this action goes to the endpoint.
    public func wants(_ action: String) -> Bool { eventTypes.contains("*") || eventTypes.contains(action) }
}

/// One event's delivery to one endpoint: its fixed body, attempts and last answer.
public struct WebhookDelivery: Sendable, Equatable {
    public enum Status: String, Sendable { case pending, delivered, failed }

    public var id: UUID
    public var endpointID: UUID
    public var organizationID: UUID
    public var eventID: UUID
    public var eventSeq: Int64
    public var eventType: String
    public var payload: String
    public var createdAt: Date
    public var status: Status
    public var attempts: Int
    public var nextAttemptAt: Date
    public var lastStatusCode: Int?
    public var lastError: String
    public var finishedAt: Date?

    public init(
        id: UUID = UUID.random(), endpointID: UUID, organizationID: UUID, eventID: UUID, eventSeq: Int64,
        eventType: String, payload: String, createdAt: Date
    ) {
        self.id = id
        self.endpointID = endpointID
        self.organizationID = organizationID
        self.eventID = eventID
        self.eventSeq = eventSeq
        self.eventType = eventType
        self.payload = payload
        self.createdAt = createdAt
        self.status = .pending
        self.attempts = 0
        self.nextAttemptAt = createdAt
        self.lastStatusCode = nil
        self.lastError = ""
        self.finishedAt = nil
    }
}

/// Webhook endpoints and their deliveries: the queue (taken from the audit chain), leases so that two workers
/// never send one delivery at once, outcomes, and the delivery log.
public struct WebhookRepository: Sendable {
    let db: any Database
    let reads: any SQLDatabase

    init(_ db: any Database, reads: any SQLDatabase) {
        self.db = db
        self.reads = reads
    }

    var sql: any SQLDatabase { db as! any SQLDatabase }

    static let endpointColumns: SQLQueryString = """
        e.id, e.organization_id, e.url, e.description, e.event_types, e.secret_sealed, e.created_by_name, \
        e.created_at, e.last_seq, e.disabled_at, e.disabled_reason, e.failing_since
        """

    static func endpoint(_ row: any SQLRow, _ ids: UUIDColumns) throws -> WebhookEndpoint {
        var endpoint = WebhookEndpoint(
            id: try row.uuid("id", ids), organizationID: try row.uuid("organization_id", ids),
            url: try row.decode(column: "url", as: String.self),
            description: try row.decode(column: "description", as: String.self),
            eventTypes: try row.decode(column: "event_types", as: String.self).split(separator: ",").map(String.init),
            sealedSecret: try row.decode(column: "secret_sealed", as: String.self),
            createdByName: try row.decode(column: "created_by_name", as: String.self),
            createdAt: try row.decode(column: "created_at", as: Date.self),
            lastSeq: try row.decode(column: "last_seq", as: Int64.self))
        endpoint.disabledAt = try row.decode(column: "disabled_at", as: Date?.self)
        endpoint.disabledReason = try row.decode(column: "disabled_reason", as: String.self)
        endpoint.failingSince = try row.decode(column: "failing_since", as: Date?.self)
        return endpoint
    }

    public func create(_ endpoint: WebhookEndpoint) async throws {
        try await sql.raw(
            """
            INSERT INTO webhook_endpoints (id, organization_id, url, description, event_types, secret_sealed,
              created_by_name, created_at, last_seq, disabled_reason)
            VALUES (\(bind: endpoint.id), \(bind: endpoint.organizationID), \(bind: endpoint.url),
              \(bind: endpoint.description), \(bind: endpoint.eventTypes.joined(separator: ",")),
              \(bind: endpoint.sealedSecret), \(bind: endpoint.createdByName), \(bind: endpoint.createdAt),
              \(bind: endpoint.lastSeq), '')
            """
        ).run()
    }

    /// The organization's endpoints, newest first.
    public func endpoints(organizationID: UUID) async throws -> [WebhookEndpoint] {
        let ids = UUIDColumns(reads)
        return try await reads.raw(
            "SELECT \(Self.endpointColumns) FROM webhook_endpoints e WHERE e.organization_id = \(bind: organizationID) ORDER BY e.created_at DESC, e.id"
        ).all().map { try Self.endpoint($0, ids) }
    }

    public func endpoint(_ id: UUID, organizationID: UUID) async throws -> WebhookEndpoint? {
        let ids = UUIDColumns(sql)
        return try await sql.raw(
            "SELECT \(Self.endpointColumns) FROM webhook_endpoints e WHERE e.id = \(bind: id) AND e.organization_id = \(bind: organizationID)"
        ).first().map { try Self.endpoint($0, ids) }
    }

    /// Every enabled endpoint of every organization (the worker's round).
    public func enabledEndpoints() async throws -> [WebhookEndpoint] {
        let ids = UUIDColumns(sql)
        return try await sql.raw(
            "SELECT \(Self.endpointColumns) FROM webhook_endpoints e WHERE e.disabled_at IS NULL ORDER BY e.id"
        ).all().map { try Self.endpoint($0, ids) }
    }

    /// Disables (with a reason) or, with `at` nil, enables an endpoint; enabling forgets its failures, and the
    /// events of the time it was off are not sent (its queue starts again at `fromSeq`). Changes only an endpoint
    /// in the other state, so of two at once one wins: returns whether this one did.
    public func setDisabled(_ id: UUID, organizationID: UUID, at: Date?, reason: String, fromSeq: Int64? = nil)
        async throws -> Bool
    {
        var query: SQLQueryString =
            "UPDATE webhook_endpoints SET disabled_at = \(bind: at), disabled_reason = \(bind: reason)"
        if at == nil { query += ", failing_since = NULL" }
        if let fromSeq { query += ", last_seq = \(bind: fromSeq)" }
        query += " WHERE id = \(bind: id) AND organization_id = \(bind: organizationID)"
        query += at == nil ? " AND disabled_at IS NOT NULL" : " AND disabled_at IS NULL"
        query += " RETURNING id"
        return try await !sql.raw(query).all().isEmpty
    }

    public func delete(_ id: UUID, organizationID: UUID) async throws {
        try await sql.raw(
            "DELETE FROM webhook_endpoints WHERE id = \(bind: id) AND organization_id = \(bind: organizationID)"
        ).run()
    }

    /// The organization's audit chain position now (0 before its first event).
    public func chainHead(organizationID: UUID) async throws -> Int64 {
        try await sql.raw(
            "SELECT seq FROM audit_chain_heads WHERE chain = \(bind: organizationID.lowercasedString)"
        ).first()?.decode(column: "seq", as: Int64.self) ?? 0
    }

    /// Moves an endpoint's queue position from `from` to `to` if no other worker moved it first.
    public func advance(_ id: UUID, from: Int64, to: Int64) async throws -> Bool {
        let moved = try await sql.raw(
            """
            UPDATE webhook_endpoints SET last_seq = \(bind: to)
            WHERE id = \(bind: id) AND last_seq = \(bind: from) AND disabled_at IS NULL RETURNING id
            """
        ).all()
        return !moved.isEmpty
    }

    public func enqueue(_ deliveries: [WebhookDelivery]) async throws {
        try await BulkInsert.rows(
            deliveries.map {
                [
                    SQLBind($0.id), SQLBind($0.endpointID), SQLBind($0.organizationID), SQLBind($0.eventID),
                    SQLBind($0.eventSeq), SQLBind($0.eventType), SQLBind($0.payload), SQLBind($0.createdAt),
                    SQLBind($0.status.rawValue), SQLBind($0.attempts), SQLBind($0.nextAttemptAt), SQLBind(""),
                ]
            }, into: "webhook_deliveries",
            columns: [
                "id", "endpoint_id", "organization_id", "event_id", "event_seq", "event_type", "payload", "created_at",
                "status", "attempts", "next_attempt_at", "last_error",
            ], on: db)
    }

    static let deliveryColumns: SQLQueryString = """
        d.id, d.endpoint_id, d.organization_id, d.event_id, d.event_seq, d.event_type, d.payload, d.created_at, \
        d.status, d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, d.finished_at
        """

    static func delivery(_ row: any SQLRow, _ ids: UUIDColumns) throws -> WebhookDelivery {
        var delivery = WebhookDelivery(
            id: try row.uuid("id", ids), endpointID: try row.uuid("endpoint_id", ids),
            organizationID: try row.uuid("organization_id", ids), eventID: try row.uuid("event_id", ids),
            eventSeq: try row.decode(column: "event_seq", as: Int64.self),
            eventType: try row.decode(column: "event_type", as: String.self),
            payload: try row.decode(column: "payload", as: String.self),
            createdAt: try row.decode(column: "created_at", as: Date.self))
        delivery.status =
            WebhookDelivery.Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .pending
        delivery.attempts = try row.decode(column: "attempts", as: Int.self)
        delivery.nextAttemptAt = try row.decode(column: "next_attempt_at", as: Date.self)
        delivery.lastStatusCode = try row.decode(column: "last_status_code", as: Int?.self)
        delivery.lastError = try row.decode(column: "last_error", as: String.self)
        delivery.finishedAt = try row.decode(column: "finished_at", as: Date?.self)
        return delivery
    }

    /// Leases up to `limit` due deliveries of enabled endpoints to `owner` until `until` (counting an attempt
    /// each); a delivery leased by a worker that died is due again when its lease ends.
    public func claim(owner: String, now: Date, until: Date, limit: Int) async throws -> [(
        WebhookDelivery, WebhookEndpoint
    )] {
        let due: SQLQueryString = """
            status = 'pending' AND next_attempt_at <= \(bind: now) AND (lease_until IS NULL OR lease_until < \(bind: now))
            """
        let skipLocked: SQLQueryString = sql.dialect.name == "postgresql" ? " FOR UPDATE SKIP LOCKED" : ""
        let claimed = try await sql.raw(
            """
            UPDATE webhook_deliveries SET lease_owner = \(bind: owner), lease_until = \(bind: until),
              attempts = attempts + 1
            WHERE id IN (SELECT id FROM webhook_deliveries WHERE \(due) ORDER BY next_attempt_at, event_seq
                         LIMIT \(bind: limit)\(skipLocked))
              AND \(due)
            RETURNING id
            """
        ).all()
        let ids = UUIDColumns(sql)
        let claimedIDs = try claimed.map { try $0.uuid("id", ids) }
        guard !claimedIDs.isEmpty else { return [] }
        let rows = try await sql.raw(
            """
            SELECT \(Self.deliveryColumns), \(Self.endpointColumns.withPrefix("endpoint_"))
            FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
            WHERE d.id IN \(SQLBind.group(claimedIDs)) ORDER BY d.event_seq
            """
        ).all()
        return try rows.map { row in
            (try Self.delivery(row, ids), try Self.endpoint(PrefixedRow(row: row, prefix: "endpoint_"), ids))
        }
    }

    /// Renews `owner`'s lease of one claimed delivery right before it is tried, if the lease still holds: a batch is
    /// claimed at once but tried one by one, and a slow batch's tail must not be claimed by another worker while this
    /// one is still coming to it. False when the lease ran out (the delivery is then left for whoever claims it).
    public func renewLease(_ id: UUID, owner: String, now: Date, until: Date) async throws -> Bool {
        try await !sql.raw(
            """
            UPDATE webhook_deliveries SET lease_until = \(bind: until)
            WHERE id = \(bind: id) AND lease_owner = \(bind: owner) AND status = 'pending'
              AND lease_until >= \(bind: now)
            RETURNING id
            """
        ).all().isEmpty
    }

    public enum Outcome: Sendable {
        case delivered(at: Date, status: Int)
        case retry(at: Date, status: Int?, error: String)
        case failed(at: Date, status: Int?, error: String)
    }

    /// Records an attempt's outcome if `owner` still holds the lease; true when it did.
    @discardableResult
    public func finish(_ id: UUID, owner: String, outcome: Outcome) async throws -> Bool {
        let set: SQLQueryString =
            switch outcome {
            case .delivered(let at, let status):
                "status = 'delivered', finished_at = \(bind: at), last_status_code = \(bind: status), last_error = ''"
            case .retry(let at, let status, let error):
                "next_attempt_at = \(bind: at), last_status_code = \(bind: status), last_error = \(bind: error)"
            case .failed(let at, let status, let error):
                "status = 'failed', finished_at = \(bind: at), last_status_code = \(bind: status), last_error = \(bind: error)"
            }
        let rows = try await sql.raw(
            """
            UPDATE webhook_deliveries SET \(set), lease_owner = NULL, lease_until = NULL
            WHERE id = \(bind: id) AND lease_owner = \(bind: owner) RETURNING id
            """
        ).all()
        return !rows.isEmpty
    }

    /// After a delivery succeeded: the endpoint is not failing.
    public func endpointSucceeded(_ id: UUID) async throws {
        try await sql.raw(
            "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = \(bind: id) AND failing_since IS NOT NULL"
        ).run()
    }

    /// After a delivery failed: when the endpoint's run of failures began.
    public func endpointFailed(_ id: UUID, at now: Date) async throws -> Date {
        try await sql.raw(
            "UPDATE webhook_endpoints SET failing_since = \(bind: now) WHERE id = \(bind: id) AND failing_since IS NULL"
        ).run()
        return try await sql.raw("SELECT failing_since FROM webhook_endpoints WHERE id = \(bind: id)").first()?
            .decode(column: "failing_since", as: Date?.self) ?? now
    }

    /// Gives up the endpoint's waiting deliveries (it was disabled).
    public func failPending(endpointID: UUID, at now: Date, reason: String) async throws {
        try await sql.raw(
            """
            UPDATE webhook_deliveries SET status = 'failed', finished_at = \(bind: now), last_error = \(bind: reason),
              lease_owner = NULL, lease_until = NULL
            WHERE endpoint_id = \(bind: endpointID) AND status = 'pending'
            """
        ).run()
    }

    /// The endpoint's deliveries, newest first, a page at a time (`before`: the last one of the previous page).
    public func deliveries(endpointID: UUID, organizationID: UUID, before: Int64?, limit: Int) async throws
        -> [WebhookDelivery]
    {
        var query: SQLQueryString =
            "SELECT \(Self.deliveryColumns) FROM webhook_deliveries d WHERE d.endpoint_id = \(bind: endpointID) AND d.organization_id = \(bind: organizationID)"
        // By the event's place in the chain: unique per endpoint and an integer, so pages neither skip nor repeat
        // (by time they did, for deliveries queued in one instant whose time did not survive the cursor exactly).
        if let before { query += " AND d.event_seq < \(bind: before)" }
        query += " ORDER BY d.event_seq DESC LIMIT \(bind: limit)"
        let ids = UUIDColumns(reads)
        return try await reads.raw(query).all().map { try Self.delivery($0, ids) }
    }

    /// How many deliveries of the endpoint are waiting.
    public func pendingCount(endpointID: UUID) async throws -> Int {
        try await reads.raw(
            "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE endpoint_id = \(bind: endpointID) AND status = 'pending'"
        ).first()?.decode(column: "n", as: Int.self) ?? 0
    }
}

extension SQLQueryString {
    /// `e.id, e.url` → `e.id AS endpoint_id, e.url AS endpoint_url` (one statement reads two tables' same names).
    fileprivate func withPrefix(_ prefix: String) -> SQLQueryString {
        SQLQueryString(
            WebhookRepository.endpointNames.map { "e.\($0) AS \(prefix)\($0)" }.joined(separator: ", "))
    }
}

extension WebhookRepository {
    static let endpointNames = [
        "id", "organization_id", "url", "description", "event_types", "secret_sealed", "created_by_name",
        "created_at", "last_seq", "disabled_at", "disabled_reason", "failing_since",
    ]
}

/// A row whose columns are read with a prefix (`endpoint_id` as `id`).
private struct PrefixedRow: SQLRow {
    let row: any SQLRow
    let prefix: String

    var allColumns: [String] {
        row.allColumns.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }
    func contains(column: String) -> Bool { row.contains(column: prefix + column) }
    func decodeNil(column: String) throws -> Bool { try row.decodeNil(column: prefix + column) }
    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        try row.decode(column: prefix + column, as: type)
    }
}
