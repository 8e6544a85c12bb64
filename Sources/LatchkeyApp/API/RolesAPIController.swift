import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// `/api/v1/roles`: the organization's roles, and its custom roles created and edited (`RoleService`).
struct RolesAPIController {
    let services: AppServices

    func register(on group: RouterGroup<OrgMemberContext>) {
        group.group().add(middleware: RequirePermissions(.membersView)).on(.get, .apiRoles, use: list)
        group.on(.post, .apiRoles, use: create)
        group.on(.post, .apiRole, use: update)
    }

    struct RoleJSON: Encodable {
        var id: UUID
        var name: String
        /// `owner`, `admin` or `member` for a built-in role; absent for a custom one.
        var builtIn: String?
        var permissions: [String]
        var members: Int

        init(_ role: Role, members: Int) {
            id = role.id
            name = role.name
            builtIn = role.builtIn?.rawValue
            permissions = role.permissions.sorted().map(\.rawValue)
            self.members = members
        }
    }

    struct ListResponse: Encodable {
        var roles: [RoleJSON]
    }

    @Sendable func list(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let store = services.store
        let counts = try await store.organizations.memberCounts(organizationID: context.auth.organizationID)
        let roles = try await store.organizations.roles(organizationID: context.auth.organizationID)
        return JSONResponse.make(ListResponse(roles: roles.map { RoleJSON($0, members: counts[$0.id] ?? 0) }))
    }

    struct RoleBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["name", "permissions"]
        var name: String?
        var permissions: [String]?
    }

    @Sendable func create(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let body = try await Body.json(RoleBody.self, from: request, context: context)
        let role = try await RoleService(services: services).create(
            actor: context.actor, name: try RoleService.name(body.name),
            permissions: try RoleService.permissions(body.permissions ?? []))
        return JSONResponse.make(RoleJSON(role, members: 0), status: .created)
    }

    @Sendable func update(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let body = try await Body.json(RoleBody.self, from: request, context: context)
        guard let id = context.parameters.get("id", as: UUID.self) else {
            throw LatchkeyError.notFound("No such role.")
        }
        let role = try await RoleService(services: services).update(
            actor: context.actor, roleID: id, name: try body.name.map(RoleService.name),
            permissions: try body.permissions.map(RoleService.permissions))
        let counts = try await services.store.organizations.memberCounts(organizationID: context.auth.organizationID)
        return JSONResponse.make(RoleJSON(role, members: counts[role.id] ?? 0))
    }
}
