import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// `/api/v1/members/{id}/role|suspend|reactivate|remove` and their bulk forms `/api/v1/members/role|…`:
/// change role, suspend, reactivate, remove. The rules and their audit live in `LifecycleService`.
struct LifecycleAPIController {
    let services: AppServices

    func register(on group: RouterGroup<OrgMemberContext>) {
        group.on(.post, .apiMemberRole) { try await single($0, $1) { .changeRole(to: try Self.roleID($0.roleId)) } }
        group.on(.post, .apiMemberSuspend) { try await single($0, $1) { try Self.without(.suspend, $0.roleId) } }
        group.on(.post, .apiMemberReactivate) { try await single($0, $1) { try Self.without(.reactivate, $0.roleId) } }
        group.on(.post, .apiMemberRemove) { try await single($0, $1) { try Self.without(.remove, $0.roleId) } }
        group.on(.post, .apiBulkRole) { request, context in
            let body = try await bulkBody(request, context)
            return try await bulk(body, context, action: .changeRole(to: try Self.roleID(body.roleId)))
        }
        group.on(.post, .apiBulkSuspend) { request, context in
            let body = try await bulkBody(request, context)
            return try await bulk(body, context, action: try Self.without(.suspend, body.roleId))
        }
        group.on(.post, .apiBulkReactivate) { request, context in
            let body = try await bulkBody(request, context)
            return try await bulk(body, context, action: try Self.without(.reactivate, body.roleId))
        }
        group.on(.post, .apiBulkRemove) { request, context in
            let body = try await bulkBody(request, context)
            return try await bulk(body, context, action: try Self.without(.remove, body.roleId))
        }
    }

    struct SingleBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["roleId", "reason"]
        var roleId: String?
        var reason: String?
    }

    /// The role a "change role" asks for.
    static func roleID(_ raw: String?) throws -> UUID {
        guard let raw, let id = UUID(uuidString: raw) else {
            throw LatchkeyError.badRequest("invalid_role", "Send \"roleId\", the id of one of your roles.")
        }
        return id
    }

    /// An action that takes no role: a `roleId` is refused like any unknown field.
    static func without(_ action: LifecycleAction, _ roleID: String?) throws -> LifecycleAction {
        guard roleID == nil else { throw LatchkeyError.badRequest("unknown_field", "Unknown field \"roleId\".") }
        return action
    }

    /// One member: 200 with the member's new state, 403 with the rule's code, 404 for a member not found.
    func single(
        _ request: Request, _ context: OrgMemberContext, action: (SingleBody) throws -> LifecycleAction
    ) async throws -> Response {
        let body = try await Body.json(SingleBody.self, from: request, context: context, allowEmpty: true)
        let action = try action(body)
        let ticket = try ResetInput.ticket(body.reason)
        guard let id = context.parameters.get("id", as: UUID.self) else {
            throw LatchkeyError.badRequest("invalid_member_id", "The member id is not a valid id.")
        }
        let result = try await LifecycleService(services: services).apply(
            action, to: [id], actor: context.actor, ticket: ticket)[0]
        if let error = LifecycleService.error(for: result) { throw error }
        guard let member = result.member else { throw LatchkeyError.notFound("Member not found.") }
        let locks = try await services.store.throttles.lockedUntil(memberIDs: [id], now: services.now)
        var json = MembersAPIController.MemberJSON(MemberDirectory.Row(member, lockedUntil: locks[id]))
        if result.code == .removed { json.status = "removed" }
        return JSONResponse.make(json)
    }

    struct BulkBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["memberIds", "filter", "roleId", "reason"]
        var memberIds: [String]?
        var filter: MembersAPIController.BulkBody.Filter?
        var roleId: String?
        var reason: String?
    }

    func bulkBody(_ request: Request, _ context: OrgMemberContext) async throws -> BulkBody {
        try await Body.json(BulkBody.self, from: request, context: context, maxSize: 1024 * 1024)
    }

    struct ResultJSON: Encodable {
        var memberId: UUID
        var status: String
        var code: String
        var reason: String?
    }

    struct BulkResponse: Encodable {
        var results: [ResultJSON]
        var summary: [String: Int]
    }

    /// Many members: per-member results with `status` (changed, skipped, failed), `code` and `reason`.
    func bulk(_ body: BulkBody, _ context: OrgMemberContext, action: LifecycleAction) async throws -> Response {
        let ticket = try ResetInput.ticket(body.reason)
        let ids = try await MembersAPIController(services: services).selection(
            memberIds: body.memberIds, filter: body.filter, context: context)
        let results = try await LifecycleService(services: services).apply(
            action, to: ids, actor: context.actor, ticket: ticket)
        var summary = ["changed": 0, "skipped": 0, "failed": 0]
        for result in results { summary[result.code.outcome, default: 0] += 1 }
        return JSONResponse.make(
            BulkResponse(
                results: results.map {
                    ResultJSON(
                        memberId: $0.memberID, status: $0.code.outcome, code: $0.code.rawValue, reason: $0.reason)
                }, summary: summary))
    }
}
