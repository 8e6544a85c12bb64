import FluentKit
import Foundation
import HTTPTypes
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// `/api/v1/members…`: the Manage Members table and Reset MFA as JSON.
struct MembersAPIController {
    let services: AppServices

    func register(on group: RouterGroup<OrgMemberContext>) {
        group.get("/api/v1/members", use: list)
        group.post("/api/v1/members/mfa/reset", use: bulkReset)
        group.post("/api/v1/members/:id/mfa/reset", use: singleReset)
        group.post("/api/v1/members/:id/unlock", use: unlock)
        group.get("/api/v1/mfa-reset-jobs/:id", use: job)
        // GET never changes anything: these routes only take POST.
        for path in ["/api/v1/members/mfa/reset", "/api/v1/members/:id/mfa/reset", "/api/v1/members/:id/unlock"] {
            group.get(RouterPath(path), use: Self.methodNotAllowed)
            group.head(RouterPath(path), use: Self.methodNotAllowed)
        }
    }

    /// GET and HEAD on a state-changing route: the error boundary answers 405 (JSON here, HTML on the web
    /// routes).
    @Sendable static func methodNotAllowed(_ request: Request, context: OrgMemberContext) async throws -> Response {
        throw LatchkeyError(.methodNotAllowed, "method_not_allowed", "This action only accepts a confirmed POST.")
    }

    struct MemberJSON: Encodable {
        var id: UUID
        var name: String
        var email: String
        var role: String
        var mfaStatus: String
        var lastSignInAt: Date?
        /// True while a sign-in throttle holds the member back.
        var locked: Bool
        /// Until when; absent when not locked or when locked until an administrator unlocks it.
        var lockedUntil: Date?

        init(_ row: MemberDirectory.Row) {
            id = row.id
            name = row.name
            email = row.email
            role = row.roleName
            mfaStatus = row.mfaStatus.rawValue
            lastSignInAt = row.lastSignInAt
            locked = row.lockedUntil != nil
            lockedUntil = row.lockedUntil == .distantFuture ? nil : row.lockedUntil
        }
    }

    struct ListResponse: Encodable {
        var members: [MemberJSON]
        var nextCursor: String?
        var previousCursor: String?
        var total: Int
    }

    @Sendable func list(_ request: Request, context: OrgMemberContext) async throws -> Response {
        try context.require(.membersView, .membersManage)
        let query = request.uri.queryParameters
        let filter = try MemberDirectory.Filter { query.get($0) }
        let page = try await MemberDirectory(services: services).page(
            organizationID: context.auth.organizationID, filter: filter, after: query.get("cursor"),
            before: query.get("before"))
        return JSONResponse.make(
            ListResponse(
                members: page.rows.map(MemberJSON.init), nextCursor: page.nextCursor,
                previousCursor: page.previousCursor, total: page.total))
    }

    struct SingleBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["reason"]
        var reason: String?
    }

    struct ResultJSON: Encodable {
        var memberId: UUID
        var status: String
        var reason: String?
    }

    /// What an action on one member (`/api/v1/members/{id}/…`) is given: the id, the optional reason or ticket,
    /// and the actor as the server knows them.
    func memberAction(_ request: Request, context: OrgMemberContext) async throws -> (
        id: UUID, ticket: String, actor: ResetService.Actor
    ) {
        let body = try await Body.json(SingleBody.self, from: request, context: context, allowEmpty: true)
        let ticket = try ResetInput.ticket(body.reason)
        guard let id = context.parameters.get("id", as: UUID.self) else {
            throw LatchkeyError.badRequest("invalid_member_id", "The member id is not a valid id.")
        }
        let actor = ResetService.Actor(
            auth: context.auth, meta: request.meta(requestID: context.requestID, ip: context.remoteIP))
        return (id, ticket, actor)
    }

    @Sendable func singleReset(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let (id, ticket, actor) = try await memberAction(request, context: context)
        let result = try await ResetService(services: services).resetOne(
            actor: actor, auth: context.auth, memberID: id, ticket: ticket)
        if result.status == .failed { throw ResetInput.error(for: result) }
        return JSONResponse.make(
            ResultJSON(memberId: result.memberId, status: result.status.rawValue, reason: result.reason))
    }

    /// Lifts a member's sign-in lock; answers the member's new state.
    @Sendable func unlock(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let (id, ticket, actor) = try await memberAction(request, context: context)
        let member = try await LifecycleService(services: services).unlock(actor: actor, memberID: id, ticket: ticket)
        return JSONResponse.make(MemberJSON(member))
    }

    struct BulkBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["memberIds", "filter", "reason"]
        struct Filter: Decodable {
            var query: String?
            var role: String?
            var mfa: String?
            var status: String?
        }
        var memberIds: [String]?
        var filter: Filter?
        var reason: String?
    }

    struct Summary: Encodable {
        var reset: Int
        var skipped: Int
        var failed: Int
    }

    struct BulkResponse: Encodable {
        var batchId: UUID
        var results: [ResultJSON]
        var summary: Summary
    }

    struct JobResponse: Encodable {
        var jobId: UUID
        var status: String
        var total: Int
        var processed: Int
        var summary: Summary
        var results: [ResultJSON]?
    }

    @Sendable func bulkReset(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let body = try await Body.json(BulkBody.self, from: request, context: context, maxSize: 1024 * 1024)
        let ticket = try ResetInput.ticket(body.reason)
        let key = try ResetInput.idempotencyKey(request.headers[.idempotencyKey])
        let ids: [UUID]
        switch (body.memberIds, body.filter) {
        case (let memberIds?, nil):
            guard memberIds.count <= ResetService.maximumPerRequest * 2 else {
                throw LatchkeyError.badRequest(
                    "too_many_members", "At most \(ResetService.maximumPerRequest) members can be reset in one request."
                )
            }
            ids = try ResetInput.memberIDs(memberIds)
        case (nil, let filter?):
            // The filter is evaluated here, under the same rules, for "select all N matching".
            let parsed = try MemberDirectory.Filter(
                query: filter.query, role: filter.role, mfa: filter.mfa, status: filter.status, sort: nil, limit: nil)
            ids = try await MemberDirectory(services: services).allIDs(
                organizationID: context.auth.organizationID, filter: parsed)
        default:
            throw LatchkeyError.badRequest("invalid_body", "Send either \"memberIds\" or \"filter\".")
        }
        let actor = ResetService.Actor(
            auth: context.auth, meta: request.meta(requestID: context.requestID, ip: context.remoteIP))
        let outcome = try await ResetService(services: services).resetMany(
            actor: actor, auth: context.auth, memberIDs: ids, ticket: ticket, idempotencyKey: key)
        switch outcome {
        case .completed(let batch, let results):
            return JSONResponse.make(
                BulkResponse(
                    batchId: batch.id!,
                    results: results.map {
                        ResultJSON(memberId: $0.memberId, status: $0.status.rawValue, reason: $0.reason)
                    },
                    summary: Summary(reset: batch.resetCount, skipped: batch.skippedCount, failed: batch.failedCount)))
        case .started(let batch):
            var response = JSONResponse.make(jobJSON(batch, results: nil), status: .accepted)
            response.headers[.location] = "/api/v1/mfa-reset-jobs/\(batch.id!.uuidString.lowercased())"
            return response
        }
    }

    func jobJSON(_ batch: ResetBatchModel, results: [ResetService.MemberResult]?) -> JobResponse {
        JobResponse(
            jobId: batch.id!, status: batch.status, total: batch.total, processed: batch.processed,
            summary: Summary(reset: batch.resetCount, skipped: batch.skippedCount, failed: batch.failedCount),
            results: results?.map { ResultJSON(memberId: $0.memberId, status: $0.status.rawValue, reason: $0.reason) })
    }

    @Sendable func job(_ request: Request, context: OrgMemberContext) async throws -> Response {
        try context.require(.membersView, .membersManage, .membersResetMFA)
        guard let id = context.parameters.get("id", as: UUID.self),
            let batch = try await ResetBatchModel.query(on: services.db).filter(\.$id == id)
                .filter(\.$organizationID == context.auth.organizationID).first()
        else { throw LatchkeyError.notFound("No such job.") }
        let results =
            batch.status == "completed" ? try await ResetService(services: services).results(batchID: id) : nil
        return JSONResponse.make(jobJSON(batch, results: results))
    }
}

/// Input rules shared by the web and JSON reset routes.
enum ResetInput {
    /// The optional reason or ticket reference: trimmed, at most 500 characters, no control characters.
    static func ticket(_ raw: String?) throws -> String {
        let text = (raw ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.count <= 500 else {
            throw LatchkeyError.badRequest("reason_too_long", "The reason or ticket can be at most 500 characters.")
        }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw LatchkeyError.badRequest("invalid_reason", "The reason or ticket cannot contain control characters.")
        }
        return text
    }

    /// Member ids as sent (JSON array or repeated form field); any malformed one refuses the request.
    static func memberIDs(_ raw: [String]) throws -> [UUID] {
        try raw.map {
            guard let id = UUID(uuidString: $0) else {
                throw LatchkeyError.badRequest("invalid_member_id", "\"\($0.prefix(40))\" is not a valid member id.")
            }
            return id
        }
    }

    static func idempotencyKey(_ raw: String?) throws -> String? {
        guard let raw else { return nil }
        guard (1...200).contains(raw.utf8.count), raw.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 })
        else {
            throw LatchkeyError.badRequest(
                "invalid_idempotency_key", "Idempotency-Key must be 1–200 visible ASCII characters.")
        }
        return raw
    }

    /// The error a failed single reset answers with; another organization's member is "not found".
    static func error(for result: ResetService.MemberResult) -> LatchkeyError {
        let reason = result.reason ?? "Not permitted"
        switch reason {
        case ResetPolicy.reason(.notFound, targetRole: ""): return .notFound("Member not found.")
        case ResetPolicy.reason(.selfAction, targetRole: ""): return .forbidden("cannot_reset_self", reason + ".")
        default:
            return .forbidden(
                "insufficient_privilege", "You can't reset the MFA of a member with more access than you (\(reason)).")
        }
    }
}
