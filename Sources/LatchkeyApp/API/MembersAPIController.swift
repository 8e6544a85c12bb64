import Foundation
import HTTPTypes
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// `/api/v1/members…`: the Manage Members table and Reset MFA as JSON.
struct MembersAPIController {
    let services: AppServices

    /// The reset and unlock routes check their permissions in the services, which audit each refusal per
    /// member; the read routes declare theirs on the group.
    func register(on group: RouterGroup<OrgMemberContext>) {
        group.group().add(middleware: RequirePermissions(.membersView, .membersManage)).on(.get, .apiMembers, use: list)
        group.on(.post, .apiBulkReset, use: bulkReset)
        group.on(.post, .apiMemberReset, use: singleReset)
        group.on(.post, .apiMemberUnlock, use: unlock)
        let jobs = group.group().add(middleware: RequirePermissions(.membersView, .membersManage, .membersResetMFA))
        jobs.on(.get, .apiResetJob, use: job)
        jobs.on(.post, .apiResetJobCancel, use: cancelJob)
    }

    struct MemberJSON: Encodable {
        var id: UUID
        var name: String
        var email: String
        var role: String
        var mfaStatus: String
        /// `active`, `suspended`, or `removed` (in the answer to a removal).
        var status: String
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
            status = row.status.rawValue
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

        /// The same JSON as `JSONResponse.make(self)` gives, written directly (the page is the API's hottest
        /// answer; `JSONEncoder` was an eighth of its cost).
        var json: JSONText {
            var out = JSONText(capacity: 300 * members.count + 200)
            out.object { o in
                o.key("members")
                o.array(members) { a, m in
                    a.object { o in
                        o.key("email")
                        o.string(m.email)
                        o.key("id")
                        o.uuid(m.id)
                        o.optional("lastSignInAt", m.lastSignInAt) { $0.date($1) }
                        o.key("locked")
                        o.bool(m.locked)
                        o.optional("lockedUntil", m.lockedUntil) { $0.date($1) }
                        o.key("mfaStatus")
                        o.string(m.mfaStatus)
                        o.key("name")
                        o.string(m.name)
                        o.key("role")
                        o.string(m.role)
                        o.key("status")
                        o.string(m.status)
                    }
                }
                o.optional("nextCursor", nextCursor) { $0.string($1) }
                o.optional("previousCursor", previousCursor) { $0.string($1) }
                o.key("total")
                o.int(total)
            }
            return out
        }
    }

    @Sendable func list(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let query = request.uri.queryParameters
        let filter = try MemberDirectory.Filter { query.get($0) }
        let page = try await services.store.directory.page(
            organizationID: context.auth.organizationID, filter: filter, after: query.get("cursor"),
            before: query.get("before"), now: services.now, stamp: context.auth.directoryStamp)
        return JSONResponse.make(
            json: ListResponse(
                members: page.rows.map(MemberJSON.init), nextCursor: page.nextCursor,
                previousCursor: page.previousCursor, total: page.total
            ).json)
    }

    struct SingleBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["reason"]
        var reason: String?
    }

    /// One member's result: `status` (reset, skipped, failed), a stable machine `code` (`reset`, `no_mfa`,
    /// `not_permitted`, `not_permitted_role`, `self`, `not_found`) and the human `reason`.
    struct ResultJSON: Encodable {
        var memberId: UUID
        var status: String
        var code: String
        var reason: String?

        init(_ result: ResetResult) {
            memberId = result.memberId
            status = result.status.rawValue
            code = result.code.rawValue
            reason = result.reason
        }
    }

    /// What an action on one member (`/api/v1/members/{id}/…`) is given: the id, the optional reason or ticket,
    /// and the actor as the server knows them.
    func memberAction(_ request: Request, context: OrgMemberContext) async throws -> (
        id: UUID, ticket: String, actor: Actor
    ) {
        let body = try await Body.json(SingleBody.self, from: request, context: context, allowEmpty: true)
        let ticket = try ResetInput.ticket(body.reason)
        guard let id = context.parameters.get("id", as: UUID.self) else {
            throw LatchkeyError.badRequest("invalid_member_id", "The member id is not a valid id.")
        }
        return (id, ticket, context.actor)
    }

    @Sendable func singleReset(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let (id, ticket, actor) = try await memberAction(request, context: context)
        let result = try await ResetService(services: services).resetOne(actor: actor, memberID: id, ticket: ticket)
        if let error = ResetInput.error(for: result) { throw error }
        return JSONResponse.make(ResultJSON(result))
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

        init(_ batch: ResetBatch) {
            reset = batch.resetCount
            skipped = batch.skippedCount
            failed = batch.failedCount
        }
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
        let ids = try await selection(memberIds: body.memberIds, filter: body.filter, context: context)
        let outcome = try await ResetService(services: services).resetMany(
            actor: context.actor, memberIDs: ids, ticket: ticket, idempotencyKey: key)
        switch outcome {
        case .completed(let batch, let results):
            return JSONResponse.make(
                BulkResponse(batchId: batch.id, results: results.map(ResultJSON.init), summary: Summary(batch)))
        case .started(let batch):
            var response = JSONResponse.make(jobJSON(batch, results: nil), status: .accepted)
            response.headers[.location] = Route.apiResetJob.path(batch.id)
            return response
        }
    }

    /// The members a bulk request names: `memberIds`, or a `filter` evaluated here under the same rules as the
    /// table ("select all N matching").
    func selection(memberIds: [String]?, filter: BulkBody.Filter?, context: OrgMemberContext) async throws -> [UUID] {
        switch (memberIds, filter) {
        case (let memberIds?, nil):
            guard memberIds.count <= BulkLimits.maximumPerRequest * 2 else {
                throw LatchkeyError.badRequest(
                    "too_many_members", "At most \(BulkLimits.maximumPerRequest) members can be named in one request.")
            }
            return try ResetInput.memberIDs(memberIds)
        case (nil, let filter?):
            let parsed = try MemberDirectory.Filter(
                query: filter.query, role: filter.role, mfa: filter.mfa, status: filter.status, sort: nil, limit: nil)
            return try await services.store.directory.allIDs(
                organizationID: context.auth.organizationID, filter: parsed, now: services.now)
        default:
            throw LatchkeyError.badRequest("invalid_body", "Send either \"memberIds\" or \"filter\".")
        }
    }

    func jobJSON(_ batch: ResetBatch, results: [ResetResult]?) -> JobResponse {
        JobResponse(
            jobId: batch.id, status: batch.status.rawValue, total: batch.total, processed: batch.processed,
            summary: Summary(batch), results: results?.map(ResultJSON.init))
    }

    @Sendable func job(_ request: Request, context: OrgMemberContext) async throws -> Response {
        guard let id = context.parameters.get("id", as: UUID.self),
            let batch = try await services.store.resets.find(id, organizationID: context.auth.organizationID),
            batch.action == AuditAction.mfaReset.rawValue
        else { throw LatchkeyError.notFound("No such job.") }
        let results = batch.status.isFinished ? try await services.store.resets.results(batchID: id) : nil
        return JSONResponse.make(jobJSON(batch, results: results))
    }

    /// Asks a running job to stop after the chunk under way: 202 with the job as it stands; 409 when it is not
    /// running (finished, already cancelled, or a request that ran in the foreground).
    @Sendable func cancelJob(_ request: Request, context: OrgMemberContext) async throws -> Response {
        guard let id = context.parameters.get("id", as: UUID.self) else { throw LatchkeyError.notFound("No such job.") }
        let batch = try await ResetService(services: services).cancel(actor: context.actor, batchID: id)
        var response = JSONResponse.make(jobJSON(batch, results: nil), status: .accepted)
        response.headers[.location] = Route.apiResetJob.path(batch.id)
        return response
    }
}
