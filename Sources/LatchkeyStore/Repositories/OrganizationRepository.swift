import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// An organization (tenant) and its security settings.
public struct Organization: Sendable, Equatable {
    public var id: UUID
    public var name: String
    public var slug: String
    public var settings: Settings

    /// What an Owner can change on the Settings page.
    public struct Settings: Sendable, Equatable {
        public var requireMFA: Bool
        public var stepUpWindowSeconds: Int
        public var sessionLifetimeSeconds: Int
        public var idleTimeoutSeconds: Int
        public var notifyOwnersOnReset: Bool

        public init(
            requireMFA: Bool, stepUpWindowSeconds: Int, sessionLifetimeSeconds: Int, idleTimeoutSeconds: Int,
            notifyOwnersOnReset: Bool
        ) {
            self.requireMFA = requireMFA
            self.stepUpWindowSeconds = stepUpWindowSeconds
            self.sessionLifetimeSeconds = sessionLifetimeSeconds
            self.idleTimeoutSeconds = idleTimeoutSeconds
            self.notifyOwnersOnReset = notifyOwnersOnReset
        }
    }

    init(_ model: OrganizationModel) {
        id = model.id!
        name = model.name
        slug = model.slug
        settings = Settings(
            requireMFA: model.requireMFA, stepUpWindowSeconds: model.stepUpWindowSeconds,
            sessionLifetimeSeconds: model.sessionLifetimeSeconds, idleTimeoutSeconds: model.idleTimeoutSeconds,
            notifyOwnersOnReset: model.notifyOwnersOnReset)
    }
}

/// A named permission set within an organization.
public struct Role: Sendable, Equatable {
    public var id: UUID
    public var name: String
    public var builtIn: BuiltInRole?
    public var permissions: Set<Permission>

    init(_ model: RoleModel) {
        self.init(
            id: model.id!, name: model.name, builtIn: model.builtIn.flatMap(BuiltInRole.init(rawValue:)),
            permissions: model.permissions)
    }

    init(id: UUID, name: String, builtIn: BuiltInRole?, permissions: Set<Permission>) {
        self.id = id
        self.name = name
        self.builtIn = builtIn
        self.permissions = permissions
    }
}

/// Organizations and their roles.
public struct OrganizationRepository: Sendable {
    let db: any Database

    /// Where `roles` reads (see `Store.reads`).
    let reads: any SQLDatabase
    /// The roles remembered with their directory version (nil in a transaction).
    let counts: DirectoryCounts?

    init(_ db: any Database, reads: any SQLDatabase, counts: DirectoryCounts?) {
        self.db = db
        self.reads = reads
        self.counts = counts
    }

    public func find(_ id: UUID) async throws -> Organization? {
        try await OrganizationModel.find(id, on: db).map(Organization.init)
    }

    public func find(slug: String) async throws -> Organization? {
        try await OrganizationModel.query(on: db).filter(\.$slug == slug).first().map(Organization.init)
    }

    /// Creates an organization with the built-in roles; returns it and the roles' ids.
    public func create(name: String, slug: String, requireMFA: Bool, createdAt: Date) async throws -> (
        organization: Organization, roles: [BuiltInRole: UUID]
    ) {
        let organization = OrganizationModel(name: name, slug: slug, requireMFA: requireMFA, createdAt: createdAt)
        let organizationID = organization.id!
        var roles: [BuiltInRole: UUID] = [:]
        try await organization.create(on: db)
        for role in BuiltInRole.allCases {
            let model = RoleModel(
                organizationID: organizationID, name: role.name, builtIn: role, permissions: role.permissions,
                createdAt: createdAt)
            try await model.create(on: db)
            roles[role] = model.id!
        }
        return (Organization(organization), roles)
    }

    /// Adds a custom role; returns its id.
    public func createRole(organizationID: UUID, name: String, permissions: Set<Permission>, createdAt: Date)
        async throws -> UUID
    {
        let role = RoleModel(
            organizationID: organizationID, name: name, builtIn: nil, permissions: permissions, createdAt: createdAt)
        try await role.create(on: db)
        return role.id!
    }

    /// One role of the organization.
    public func role(_ id: UUID, organizationID: UUID) async throws -> Role? {
        try await RoleModel.query(on: db).filter(\.$id == id).filter(\.$organizationID == organizationID).first()
            .map(Role.init)
    }

    /// Renames a custom role and sets its permissions.
    public func updateRole(_ id: UUID, organizationID: UUID, name: String, permissions: Set<Permission>) async throws {
        try await RoleModel.query(on: db).filter(\.$id == id).filter(\.$organizationID == organizationID)
            .set(\.$name, to: name).set(\.$permissionList, to: Permission.formatList(permissions)).update()
    }

    /// How many members each role of the organization has.
    public func memberCounts(organizationID: UUID) async throws -> [UUID: Int] {
        let sql = db as! any SQLDatabase
        var counts: [UUID: Int] = [:]
        for row in try await sql.select().column("role_id").column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .from("members").where("organization_id", .equal, organizationID).groupBy("role_id").all()
        {
            counts[try row.decode(column: "role_id", as: UUID.self)] = try row.decode(column: "n", as: Int.self)
        }
        return counts
    }

    /// Holds the organization's row until the transaction ends (PostgreSQL; SQLite has one writer): changes
    /// that may take away its last Owner queue here, so two of them never both see another Owner left.
    /// Taken before any member row (see `RowLocks`), and `FOR NO KEY UPDATE`: a plain `FOR UPDATE` also blocks
    /// every foreign-key check on the organization (each mail, audit event or batch inserted), so a reset holding
    /// member rows and inserting its mail deadlocked with a role change holding this row and waiting for them.
    public func lock(_ id: UUID) async throws {
        let sql = db as! any SQLDatabase
        guard sql.dialect.name == "postgresql" else { return }
        _ = try await sql.raw("SELECT id FROM organizations WHERE id = \(bind: id) FOR NO KEY UPDATE").all()
    }

    /// The organization's roles by name (read on every Manage Members page). With the directory version the page
    /// was read at (`MemberDirectory.Page.version`), roles read before at that version come from memory: every
    /// change of a role changes the version (M021).
    public func roles(organizationID: UUID, directoryVersion: Int64? = nil) async throws -> [Role] {
        if let directoryVersion, let roles = counts?.roles(of: organizationID, version: directoryVersion) {
            return roles
        }
        let uuids = UUIDColumns(reads)
        let rows = try await reads.select().columns("id", "name", "built_in", "permissions")
            .column(MemberDirectory.version(organizationID), as: "directory_version").from(RoleModel.schema)
            .where("organization_id", .equal, organizationID).orderBy("name").orderBy("id").all()
        let roles = try rows.map { found in
            let row = found.columns(uuids)
            return Role(
                id: try row.uuid("id"), name: try row.string("name"),
                builtIn: try row.optionalString("built_in").flatMap(BuiltInRole.init(rawValue:)),
                permissions: Permission.parseList(try row.string("permissions")))
        }
        if let version = try rows.first?.columns(uuids).optionalInt64("directory_version") {
            counts?.remember(roles: roles, of: organizationID, version: version)
        }
        return roles
    }

    public func update(_ id: UUID, settings: Organization.Settings) async throws {
        try await OrganizationModel.query(on: db).filter(\.$id == id)
            .set(\.$requireMFA, to: settings.requireMFA)
            .set(\.$stepUpWindowSeconds, to: settings.stepUpWindowSeconds)
            .set(\.$sessionLifetimeSeconds, to: settings.sessionLifetimeSeconds)
            .set(\.$idleTimeoutSeconds, to: settings.idleTimeoutSeconds)
            .set(\.$notifyOwnersOnReset, to: settings.notifyOwnersOnReset)
            .update()
    }
}
