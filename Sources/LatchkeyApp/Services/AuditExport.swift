import Foundation
import LatchkeyCore
import LatchkeyStore

/// The audit log's export formats (CSV and JSON Lines) and its JSON shape in the API.
enum AuditExport {
    static let csvHeader =
        "time,organization_id,actor_id,actor_email,actor_role,action,target_id,target_email,result,reason,batch_id,request_id,ip,user_agent,ticket,seq,hash,actor_token_id,actor_token_name\r\n"

    static func csvLine(_ e: AuditEvent) -> String {
        [
            e.occurredAt.formatted(.iso8601), e.organizationID?.lowercasedString ?? "",
            e.actorID?.lowercasedString ?? "", e.actorEmail, e.actorRole, e.action,
            e.targetID?.lowercasedString ?? "", e.targetEmail, e.result, e.reason,
            e.batchID?.lowercasedString ?? "", e.requestID, e.ip, e.userAgent, e.ticket, String(e.seq), e.hash,
            e.actorTokenID?.lowercasedString ?? "", e.actorTokenName,
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

        struct Actor: Codable {
            var id: UUID?
            var email: String
            var role: String
            /// The API token the actor acted through, when one did.
            var token: Token?
        }
        struct Token: Codable { var id: UUID; var name: String }
        struct Target: Codable { var id: UUID?; var email: String }

        init(_ e: AuditEvent) {
            id = e.id
            time = e.occurredAt
            organizationId = e.organizationID
            actor = Actor(
                id: e.actorID, email: e.actorEmail, role: e.actorRole,
                token: e.actorTokenID.map { Token(id: $0, name: e.actorTokenName) })
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

    static func jsonLine(_ e: AuditEvent, encoder: JSONEncoder) -> String {
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
