import Foundation
import HTTPTypes
import Hummingbird
import LatchkeyCore
import LatchkeyStore
import NIOCore

extension Request {
    /// True for SCIM (`/scim/v2/…`): Bearer tokens only, errors in SCIM's format.
    var isSCIM: Bool { uri.path.hasPrefix("/scim/") }
}

/// A SCIM request: an API token (a session cookie is never looked at) whose permissions include `scim.provision`.
struct ScimContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let meta: RequestMeta
    let auth: AuthState

    init(context: AppRequestContext) throws {
        guard let auth = context.auth, auth.token != nil else {
            throw LatchkeyError.unauthorized(.notSignedIn, "Send an API token: Authorization: Bearer lk_…")
        }
        guard auth.permissions.contains(.scimProvision) else {
            throw LatchkeyError.forbidden(.forbidden, "This token does not hold scim.provision.")
        }
        coreContext = context.coreContext
        meta = context.meta
        self.auth = auth
    }

    var maxUploadSize: Int { Scim.maxBodyBytes }
}

/// `/scim/v2` (RFC 7644): Users, Groups, `/.search`, and the discovery documents.
struct ScimController {
    let services: AppServices

    func register(on router: Router<AppRequestContext>) {
        let scim = router.group(context: ScimContext.self)
        scim.on(.get, .scimServiceProviderConfig) { _, _ in Scim.make(serviceProviderConfig) }
        scim.on(.get, .scimResourceTypes) { request, _ in
            let types = resourceTypes
            return Scim.list(types, total: types.count, startIndex: 1)
        }
        scim.on(.get, .scimResourceType) { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let type = resourceTypes.first(where: { $0["id"] as? String == id }) else {
                throw LatchkeyError.notFound("No resource type is named \(id.prefix(60)).")
            }
            return Scim.make(type)
        }
        scim.on(.get, .scimSchemas) { _, _ in
            let schemas = schemaDocuments
            return Scim.list(schemas, total: schemas.count, startIndex: 1)
        }
        scim.on(.get, .scimSchema) { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let schema = schemaDocuments.first(where: { $0["id"] as? String == id }) else {
                throw LatchkeyError.notFound("No schema has the id \(id.prefix(100)).")
            }
            return Scim.make(schema)
        }
        scim.on(.get, .scimUsers) { request, context in try await listUsers(try ScimQuery(request), context) }
        scim.on(.post, .scimUsersSearch) { request, context in
            try await listUsers(try ScimQuery(search: try await Scim.body(request, context: context)), context)
        }
        scim.on(.post, .scimUsers, use: createUser)
        scim.on(.get, .scimUser) { request, context in
            let row = try await service(context).user(try userID(context))
            return Scim.make(Scim.project(resources.user(row), try ScimQuery(request)))
        }
        scim.on(.put, .scimUser, use: replaceUser)
        scim.on(.patch, .scimUser, use: patchUser)
        scim.on(.delete, .scimUser) { _, context in
            try await service(context).delete(try userID(context))
            return Response(status: .noContent)
        }
        scim.on(.get, .scimGroups) { request, context in try await listGroups(try ScimQuery(request), context) }
        scim.on(.post, .scimGroupsSearch) { request, context in
            try await listGroups(try ScimQuery(search: try await Scim.body(request, context: context)), context)
        }
        scim.on(.post, .scimGroups) { _, _ -> Response in throw Self.rolesAreLatchkeys }
        scim.on(.get, .scimGroup) { request, context in
            let scim = service(context)
            let role = try await scim.role(try groupID(context))
            let query = try ScimQuery(request)
            return Scim.make(
                Scim.project(resources.group(role, members: try await members(role, query, scim)), query))
        }
        scim.on(.put, .scimGroup, use: replaceGroup)
        scim.on(.patch, .scimGroup, use: patchGroup)
        scim.on(.delete, .scimGroup) { _, _ -> Response in throw Self.rolesAreLatchkeys }
        scim.on(.post, .scimSearch) { request, context in
            try await searchAll(try ScimQuery(search: try await Scim.body(request, context: context)), context)
        }
    }

    static let rolesAreLatchkeys = LatchkeyError.forbidden(
        .forbidden,
        "Roles are created, given permissions and deleted in Latchkey (the Roles page or /api/v1/roles); SCIM sets who holds them."
    )

    var resources: ScimResources { ScimResources(base: services.config.linkBase) }

    func service(_ context: ScimContext) -> ScimService {
        ScimService(services: services, actor: Actor(context.auth, meta: context.meta))
    }

    /// An id that is not a UUID names no user: 404, like an unknown one.
    func userID(_ context: ScimContext) throws -> UUID {
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw LatchkeyError.notFound("No user has that id.")
        }
        return id
    }

    func groupID(_ context: ScimContext) throws -> UUID {
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw LatchkeyError.notFound("No group has that id.")
        }
        return id
    }

    // MARK: Users

    func listUsers(_ query: ScimQuery, _ context: ScimContext) async throws -> Response {
        let page = try await service(context).users(query)
        let resources = resources
        if let json = resources.userList(page.users, total: page.total, query: query) {
            return Response(
                status: .ok, headers: [.contentType: Scim.contentType],
                body: .init(byteBuffer: ByteBuffer(bytes: json.bytes)))
        }
        return Scim.list(
            page.users.map { Scim.project(resources.user($0), query) }, total: page.total,
            startIndex: query.startIndex)
    }

    @Sendable func createUser(_ request: Request, context: ScimContext) async throws -> Response {
        let body = ScimObject(try await Scim.body(request, context: context))
        let row = try await service(context).create(body)
        return Scim.make(resources.user(row), status: .created, location: resources.userLocation(row.id))
    }

    /// PUT: the User as sent (userName required; externalId absent clears it; active absent keeps it).
    @Sendable func replaceUser(_ request: Request, context: ScimContext) async throws -> Response {
        let body = ScimObject(try await Scim.body(request, context: context))
        let scim = service(context)
        let current = try await scim.user(try userID(context))
        guard try body.string("userName") != nil else {
            throw Scim.invalidValue("userName (the member's email address) is required.")
        }
        var wanted = ScimUserState(current)
        wanted.externalID = nil
        try wanted.apply(body)
        return Scim.make(resources.user(try await scim.update(current, to: wanted)))
    }

    @Sendable func patchUser(_ request: Request, context: ScimContext) async throws -> Response {
        let patch = try ScimPatch(try await Scim.body(request, context: context))
        let scim = service(context)
        let current = try await scim.user(try userID(context))
        var wanted = ScimUserState(current)
        for operation in patch.operations {
            try wanted.patch(op: operation.op, path: operation.path, value: operation.value)
        }
        return Scim.make(resources.user(try await scim.update(current, to: wanted)))
    }

    // MARK: Groups

    /// A role's members, unless the query leaves them out (`excludedAttributes=members`, or `attributes` without
    /// them): the list can be every member of the organization.
    func members(_ role: Role, _ query: ScimQuery, _ scim: ScimService) async throws -> [(id: UUID, name: String)]? {
        let wanted =
            query.attributes.isEmpty
            ? !query.excluded.contains("members") : query.attributes.contains { $0.hasPrefix("members") }
        return wanted ? try await scim.members(of: role) : nil
    }

    func listGroups(_ query: ScimQuery, _ context: ScimContext) async throws -> Response {
        let scim = service(context)
        let roles = try await scim.roles(query)
        let page = roles.dropFirst(query.offset).prefix(query.count)
        var documents: [[String: Any]] = []
        for role in page {
            documents.append(
                Scim.project(resources.group(role, members: try await members(role, query, scim)), query))
        }
        return Scim.list(documents, total: roles.count, startIndex: query.startIndex)
    }

    @Sendable func replaceGroup(_ request: Request, context: ScimContext) async throws -> Response {
        let body = ScimObject(try await Scim.body(request, context: context))
        let scim = service(context)
        let role = try await scim.role(try groupID(context))
        try await scim.changeGroup(
            role, name: try body.string("displayName"), add: [], remove: [],
            replaceMembers: try ScimService.memberIDs(body.values["members"]))
        return try await groupResponse(role.id, scim)
    }

    /// PATCH of a Group: `add`/`replace` of `members` or `displayName`, `remove` of `members` (all, a list in
    /// `value`, or `members[value eq "id"]`).
    @Sendable func patchGroup(_ request: Request, context: ScimContext) async throws -> Response {
        let patch = try ScimPatch(try await Scim.body(request, context: context))
        let scim = service(context)
        let role = try await scim.role(try groupID(context))
        var name: String?
        var add: [UUID] = []
        var remove: [UUID] = []
        var replace: [UUID]?
        for operation in patch.operations {
            var path = operation.path.map(Scim.attributeName)
            var value = operation.value
            if path == nil, let object = value as? [String: Any] {
                // No path: an object of attributes (`{"displayName": …}`, `{"members": […]}`).
                let attributes = ScimObject(object)
                if let text = try attributes.string("displayName") { name = text }
                guard attributes.has("members") else { continue }
                path = "members"
                value = attributes.values["members"]
            }
            switch (operation.op, path) {
            case ("add", "displayname"), ("replace", "displayname"):
                guard let text = value as? String else { throw Scim.invalidValue("displayName must be a string.") }
                name = text
            case ("add", "members"): add += try ScimService.memberIDs(value)
            case ("replace", "members"): replace = try ScimService.memberIDs(value)
            case ("remove", "members"):
                if value == nil || value is NSNull {
                    replace = []
                } else {
                    remove += try ScimService.memberIDs(value)
                }
            case ("remove", let filtered?) where filtered.hasPrefix("members[value eq "):
                let quoted = filtered.dropFirst("members[value eq ".count).prefix { $0 != "]" }
                guard
                    let text = try? JSONSerialization.jsonObject(
                        with: Data(quoted.utf8), options: [.fragmentsAllowed]) as? String,
                    let id = UUID(uuidString: text)
                else { throw Scim.error(.badRequest, "invalidPath", "members[value eq \"a user's id\"].") }
                remove.append(id)
            case ("remove", "displayname"):
                throw Scim.error(.badRequest, "mutability", "Every role has a name.")
            default:
                throw Scim.error(.badRequest, "invalidPath", "A Group's displayName and members can change.")
            }
        }
        try await scim.changeGroup(role, name: name, add: add, remove: remove, replaceMembers: replace)
        return try await groupResponse(role.id, scim)
    }

    func groupResponse(_ id: UUID, _ scim: ScimService) async throws -> Response {
        let role = try await scim.role(id)
        return Scim.make(resources.group(role, members: try await scim.members(of: role)))
    }

    /// `POST /.search`: Users, then Groups, as one list.
    func searchAll(_ query: ScimQuery, _ context: ScimContext) async throws -> Response {
        let scim = service(context)
        let resources = resources
        var userQuery = query
        var groupQuery = query
        // A filter on a Group attribute finds no user, and the other way round.
        if let attribute = query.filter?.attribute {
            if attribute == "displayname" { userQuery.count = 0 }
            if attribute != "displayname" && attribute != "id" { groupQuery.filter = ("displayname", "\u{0}") }
        }
        let users = try await scim.users(userQuery)
        let roles = try await scim.roles(groupQuery)
        var documents = users.users.map { Scim.project(resources.user($0), query) }
        let groupOffset = max(0, query.offset - users.total)
        for role in roles.dropFirst(groupOffset).prefix(max(0, query.count - documents.count)) {
            documents.append(
                Scim.project(resources.group(role, members: try await members(role, query, scim)), query))
        }
        return Scim.list(documents, total: users.total + roles.count, startIndex: query.startIndex)
    }

    // MARK: Discovery

    var serviceProviderConfig: [String: Any] {
        let base = services.config.linkBase
        return [
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "\(base)/api/v1/openapi.json",
            "patch": ["supported": true],
            "bulk": ["supported": false, "maxOperations": 0, "maxPayloadSize": 0],
            "filter": ["supported": true, "maxResults": Scim.maxResults],
            "changePassword": ["supported": false],
            "sort": ["supported": false],
            "etag": ["supported": false],
            "authenticationSchemes": [
                [
                    "type": "oauthbearertoken", "name": "API token", "primary": true,
                    "description":
                        "An API token holding scim.provision, members.view and members.manage: Authorization: Bearer lk_…",
                ]
            ],
            "meta": ["resourceType": "ServiceProviderConfig", "location": "\(base)/scim/v2/ServiceProviderConfig"],
        ]
    }

    var resourceTypes: [[String: Any]] {
        let base = services.config.linkBase
        return [
            ("User", "/Users", Scim.userSchema, "The organization's members, invitations included."),
            ("Group", "/Groups", Scim.groupSchema, "The organization's roles."),
        ].map { name, endpoint, schema, description in
            [
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": name, "name": name,
                "endpoint": endpoint, "schema": schema, "description": description,
                "meta": ["resourceType": "ResourceType", "location": "\(base)/scim/v2/ResourceTypes/\(name)"],
            ]
        }
    }

    /// The schemas of `Public/scim-schemas.json` (User and Group as Latchkey keeps them; ServiceProviderConfig,
    /// ResourceType and Schema as RFC 7643 §8.7.2 defines them), each with its location.
    var schemaDocuments: [[String: Any]] {
        let base = services.config.linkBase
        let documents =
            (try? JSONSerialization.jsonObject(with: Data(PackageResources.scim_schemas_json)) as? [[String: Any]])
            ?? []
        return documents.map { schema in
            var schema = schema
            let id = schema["id"] as? String ?? ""
            schema["meta"] = ["resourceType": "Schema", "location": "\(base)/scim/v2/Schemas/\(id)"]
            return schema
        }
    }
}
