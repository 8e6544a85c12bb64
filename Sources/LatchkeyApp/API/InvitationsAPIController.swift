import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// `/api/v1/invitations`: invite one or many, list pending ones, resend and revoke.
struct InvitationsAPIController {
    let services: AppServices
    var invitations: InvitationService { InvitationService(services: services) }

    func register(on group: RouterGroup<OrgMemberContext>) {
        group.on(.post, .apiInvitations, use: inviteOne)
        group.on(.post, .apiInvitationsBulk, use: inviteMany)
        group.group().add(middleware: RequirePermissions(.membersView, .membersManage)).on(
            .get, .apiInvitations, use: list)
        group.on(.post, .apiInvitationResend, use: resend)
        group.on(.post, .apiInvitationRevoke, use: revoke)
    }

    struct Invitation: Encodable {
        var id: UUID
        var email: String
        var name: String
        var roleId: UUID
        var roleName: String
        /// `pending` or `expired`.
        var status: String
        var invitedBy: String?
        var invitedAt: Date?
        var expiresAt: Date?
    }

    struct OneBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["email", "name", "roleId"]
        var email: String
        var name: String?
        var roleId: String
    }

    /// 201 with the invitation; a skipped or refused row answers with its code (409 already a member or already
    /// invited, 403 a role the caller cannot grant, 400 otherwise).
    @Sendable func inviteOne(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let body = try await Body.json(OneBody.self, from: request, context: context)
        let outcome = try await invitations.invite(
            [.init(email: body.email, name: body.name ?? "", role: body.roleId)], defaultRole: body.roleId,
            actor: Actor(context.auth, meta: context.meta))[0]
        switch outcome.status {
        case .invited:
            // Revoked by someone else between the two statements: say so rather than describe nothing.
            guard let invitation = try await describe([outcome.id!], organizationID: context.auth.organizationID).first
            else { throw LatchkeyError(.conflict, "invitation_revoked", "The invitation was revoked as it was made.") }
            return JSONResponse.make(invitation, status: .created)
        case .skipped:
            throw LatchkeyError(.conflict, ErrorCode(rawValue: outcome.code), (outcome.reason ?? "") + ".")
        case .failed where outcome.code == "role_not_allowed":
            throw LatchkeyError.forbidden("role_not_grantable", (outcome.reason ?? "") + ".")
        case .failed:
            throw LatchkeyError.badRequest(ErrorCode(rawValue: outcome.code), (outcome.reason ?? "") + ".")
        }
    }

    struct BulkBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["invitations", "roleId"]
        var invitations: [Row]
        var roleId: String?

        struct Row: Decodable {
            var email: String
            var name: String?
            var roleId: String?
        }

        static func validate(_ object: [String: Any]) throws {
            try refuseUnknownFields(in: object, array: "invitations", allowed: ["email", "name", "roleId"])
        }
    }

    struct BulkResponse: Encodable {
        var invited: Int
        var skipped: Int
        var failed: Int
        var results: [InvitationService.Outcome]
    }

    @Sendable func inviteMany(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let body = try await Body.json(
            BulkBody.self, from: request, context: context, maxSize: BulkLimits.invitationBodyBytes)
        let outcomes = try await invitations.invite(
            body.invitations.map { .init(email: $0.email, name: $0.name ?? "", role: $0.roleId ?? "") },
            defaultRole: body.roleId ?? "", actor: Actor(context.auth, meta: context.meta))
        return JSONResponse.make(
            BulkResponse(
                invited: outcomes.filter { $0.status == .invited }.count,
                skipped: outcomes.filter { $0.status == .skipped }.count,
                failed: outcomes.filter { $0.status == .failed }.count, results: outcomes))
    }

    struct ListResponse: Encodable {
        var invitations: [Invitation]
        var nextCursor: String?
    }

    /// Pending invitations, a page at a time (`?status=pending|expired&limit=&cursor=`).
    @Sendable func list(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let q = request.uri.queryParameters
        let status = q.get("status") ?? ""
        guard ["", "pending", "expired"].contains(status) else {
            throw LatchkeyError.badRequest("invalid_status", "status is pending or expired.")
        }
        let filter = try MemberDirectory.Filter(
            query: nil, role: nil, mfa: nil, status: "invited", sort: nil, limit: q.get("limit"))
        let page = try await services.store.directory.page(
            organizationID: context.auth.organizationID, filter: filter, after: q.get("cursor"), before: nil,
            now: services.now)
        var described = try await describe(page.rows.map(\.id), organizationID: context.auth.organizationID)
        if !status.isEmpty { described = described.filter { $0.status == status } }
        return JSONResponse.make(ListResponse(invitations: described, nextCursor: page.nextCursor))
    }

    func describe(_ ids: [UUID], organizationID: UUID) async throws -> [Invitation] {
        let members = try await services.store.members.find(ids, organizationID: organizationID)
        let tokens = try await services.store.tokens.latestInvitations(memberIDs: ids)
        let now = services.now
        return ids.compactMap { id -> Invitation? in
            guard let member = members[id] else { return nil }
            let token = tokens[id]
            return Invitation(
                id: id, email: member.email, name: member.name, roleId: member.roleID, roleName: member.roleName,
                status: (token?.expiresAt ?? .distantPast) > now ? "pending" : "expired", invitedBy: token?.issuerName,
                invitedAt: token?.createdAt, expiresAt: token?.expiresAt)
        }
    }

    @Sendable func resend(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let id = try context.parameters.require("id", as: UUID.self)
        _ = try await Body.json(EmptyJSONBody.self, from: request, context: context, allowEmpty: true)
        let actor = Actor(context.auth, meta: context.meta)
        let sent = try await invitations.resend(id, actor: actor)
        // What was just sent, not a second read (a revoke may land in between).
        return JSONResponse.make(
            Invitation(
                id: id, email: sent.member.email, name: sent.member.name, roleId: sent.member.roleID,
                roleName: sent.member.roleName, status: "pending", invitedBy: actor.name, invitedAt: sent.at,
                expiresAt: sent.expiresAt))
    }

    @Sendable func revoke(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let id = try context.parameters.require("id", as: UUID.self)
        _ = try await Body.json(EmptyJSONBody.self, from: request, context: context, allowEmpty: true)
        let member = try await invitations.revoke(id, actor: Actor(context.auth, meta: context.meta))
        return JSONResponse.make(["id": id.lowercasedString, "email": member.email, "status": "revoked"])
    }
}
