import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// The Roles page: the organization's roles with their permissions and members, a form for a new custom role,
/// and one to edit each custom role (the same service and rules as the JSON routes).
struct RolesWebController {
    let services: AppServices

    func register(on group: RouterGroup<OrgMemberContext>) {
        let managing = group.group().add(middleware: RequirePermissions(.rolesManage))
        managing.on(.get, .roles, use: page)
        managing.on(.post, .roles, use: create)
        managing.on(.post, .role, use: update)
    }

    /// Fixed notices by their key in the URL.
    static let notices = ["created": "Role created.", "saved": "Role saved."]

    @Sendable func page(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let notice = Flash.read(request).flatMap { Self.notices[$0.key] }
        return try await render(context, notice: notice, error: nil)
    }

    func render(_ context: OrgMemberContext, notice: String?, error: LatchkeyError?) async throws -> Response {
        let store = services.store
        let organizationID = context.auth.organizationID
        let counts = try await store.organizations.memberCounts(organizationID: organizationID)
        let roles = try await store.organizations.roles(organizationID: organizationID)
        return HTMLResponse.make(
            RolesPages.page(
                auth: context.auth, roles: roles.map { ($0, counts[$0.id] ?? 0) }, notice: notice,
                error: error?.message), error: error)
    }

    /// The name and the ticked permissions of a role form.
    func fields(_ request: Request, _ context: OrgMemberContext) async throws -> (String, Set<Permission>) {
        let form = try await Body.form(from: request, context: context)
        return (try RoleService.name(form["name"]), try RoleService.permissions(form.all["permission"] ?? []))
    }

    @Sendable func create(_ request: Request, context: OrgMemberContext) async throws -> Response {
        do {
            let (name, permissions) = try await fields(request, context)
            _ = try await RoleService(services: services).create(
                actor: context.actor, name: name, permissions: permissions)
            return Flash.redirect(to: Route.roles.path, notice: "created", secure: services.config.secureCookies)
        } catch let error as LatchkeyError {
            return try await render(context, notice: nil, error: error)
        }
    }

    @Sendable func update(_ request: Request, context: OrgMemberContext) async throws -> Response {
        guard let id = context.parameters.get("id", as: UUID.self) else {
            throw LatchkeyError.notFound("No such role.")
        }
        do {
            let (name, permissions) = try await fields(request, context)
            _ = try await RoleService(services: services).update(
                actor: context.actor, roleID: id, name: name, permissions: permissions)
            return Flash.redirect(to: Route.roles.path, notice: "saved", secure: services.config.secureCookies)
        } catch let error as LatchkeyError where error.kind != .notFound {
            return try await render(context, notice: nil, error: error)
        }
    }
}
