import FluentKit
import Foundation
import LatchkeyCore
import LatchkeyStore
import SQLKit

/// Reading the audit log: filters, newest first, keyset pages on the chain position, exports.
struct AuditQuery: Sendable {
    let services: AppServices

    struct Filter: Sendable {
        var action: String?
        var actor: String?
        var target: String?
        var result: String?
        var after: Date?
        var before: Date?
        var limit = 50

        init() {}

        /// Parses query parameters; dates are `YYYY-MM-DD` (UTC day) or ISO 8601 times.
        init(
            action: String?, actor: String?, target: String?, result: String?, from: String?, to: String?,
            limit: String?
        ) throws {
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

    /// One page, newest first, before the chain position `cursor`.
    func page(organizationID: UUID, filter: Filter, cursor: String?) async throws -> (
        events: [AuditEventModel], next: String?
    ) {
        var query = AuditEventModel.query(on: services.db)
            .filter(\.$chain == organizationID.uuidString.lowercased())
        if let action = filter.action { query = query.filter(\.$action == action) }
        if let result = filter.result { query = query.filter(\.$result == result) }
        if let actor = filter.actor { query = query.filter(\.$actorEmail == actor) }
        if let target = filter.target { query = query.filter(\.$targetEmail == target) }
        if let after = filter.after { query = query.filter(\.$occurredAt >= after) }
        if let before = filter.before { query = query.filter(\.$occurredAt < before) }
        if let cursor {
            guard let seq = Int64(cursor), seq > 0 else {
                throw LatchkeyError.badRequest("invalid_cursor", "The page cursor is not valid.")
            }
            query = query.filter(\.$seq < seq)
        }
        var events = try await query.sort(\.$seq, .descending).limit(filter.limit + 1).all()
        let more = events.count > filter.limit
        if more { events.removeLast() }
        return (events, more ? events.last.map { String($0.seq) } : nil)
    }

    /// Every matching event, newest first, in pages (for exports).
    func all(organizationID: UUID?, filter: Filter, each: ([AuditEventModel]) async throws -> Void) async throws {
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
            let events = try await AuditEventModel.query(on: services.db).sort(\.$chain).sort(\.$seq).all()
            try await each(events)
        }
    }

    static let csvHeader =
        "time,organization_id,actor_id,actor_email,actor_role,action,target_id,target_email,result,reason,batch_id,request_id,ip,user_agent,ticket,seq,hash\r\n"

    static func csvLine(_ e: AuditEventModel) -> String {
        [
            e.occurredAt.formatted(.iso8601), e.organizationID?.uuidString.lowercased() ?? "",
            e.actorID?.uuidString.lowercased() ?? "", e.actorEmail, e.actorRole, e.action,
            e.targetID?.uuidString.lowercased() ?? "", e.targetEmail, e.result, e.reason,
            e.batchID?.uuidString.lowercased() ?? "", e.requestID, e.ip, e.userAgent, e.ticket, String(e.seq), e.hash,
        ].map(CSV.field).joined(separator: ",") + "\r\n"
    }

    struct EventJSON: Codable {
        var id: UUID
        var time: Date
        var organizationId: UUID?
        var actor: Actor
        var action: String
        var target: Target
        var result: String
        var reason: String
        var batchId: UUID?
        var requestId: String
        var ip: String
        var userAgent: String
        var ticket: String
        var seq: Int64
        var hash: String
        var prevHash: String

        struct Actor: Codable { var id: UUID?; var email: String; var role: String }
        struct Target: Codable { var id: UUID?; var email: String }

        init(_ e: AuditEventModel) {
            id = e.id!
            time = e.occurredAt
            organizationId = e.organizationID
            actor = Actor(id: e.actorID, email: e.actorEmail, role: e.actorRole)
            action = e.action
            target = Target(id: e.targetID, email: e.targetEmail)
            result = e.result
            reason = e.reason
            batchId = e.batchID
            requestId = e.requestID
            ip = e.ip
            userAgent = e.userAgent
            ticket = e.ticket
            seq = e.seq
            hash = e.hash
            prevHash = e.prevHash
        }
    }

    static func jsonLine(_ e: AuditEventModel, encoder: JSONEncoder) -> String {
        String(decoding: (try? encoder.encode(EventJSON(e))) ?? Data(), as: UTF8.self) + "\n"
    }

    /// The encoder for JSON Lines exports (made once per export, not per line).
    static func lineEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
