import FluentKit
import Foundation
import LatchkeyCore
import LatchkeyStore

/// Creating organizations, roles and members (CLI, demo and tests).
public struct OrganizationService: Sendable {
    let services: AppServices

    public init(services: AppServices) { self.services = services }

    /// A new organization with the three built-in roles.
    public struct Created: Sendable {
        public var organizationID: UUID
        public var roles: [BuiltInRole: UUID]
    }

    /// Creates an organization and its built-in roles; refuses a slug already taken.
    public func createOrganization(name: String, slug: String, requireMFA: Bool, meta: RequestMeta = .operator_)
        async throws -> Created
    {
        let trimmedName = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmedName.isEmpty, trimmedName.count <= 100 else {
            throw LatchkeyError.badRequest("invalid_name", "An organization needs a name of at most 100 characters.")
        }
        guard !slug.isEmpty, slug.count <= 50,
            slug.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") })
        else {
            throw LatchkeyError.badRequest("invalid_slug", "A slug uses lower-case letters, digits and dashes.")
        }
        let db = services.db
        if try await OrganizationModel.query(on: db).filter(\.$slug == slug).first() != nil {
            throw LatchkeyError(.conflict, "slug_taken", "An organization with slug \"\(slug)\" already exists.")
        }
        let now = services.now
        let organization = OrganizationModel(name: trimmedName, slug: slug, requireMFA: requireMFA, createdAt: now)
        let organizationID = organization.id!
        var roles: [BuiltInRole: UUID] = [:]
        try await db.transaction { tx in
            try await organization.create(on: tx)
            for role in BuiltInRole.allCases {
                let model = RoleModel(
                    organizationID: organizationID, name: role.name, builtIn: role, permissions: role.permissions,
                    createdAt: now)
                try await model.create(on: tx)
            }
        }
        for role in try await RoleModel.query(on: db).filter(\.$organizationID == organizationID).all() {
            if let key = role.builtIn.flatMap(BuiltInRole.init(rawValue:)) { roles[key] = role.id }
        }
        try await services.audit.append(
            AuditEntry(
                organizationID: organizationID, actorEmail: "operator", actorRole: "operator",
                action: .organizationCreated,
                result: .success, reason: "\(trimmedName) (\(slug))", requestID: meta.requestID, ip: meta.ip,
                userAgent: meta.userAgent), at: now, on: db)
        return Created(organizationID: organizationID, roles: roles)
    }

    /// Adds a custom role.
    public func createRole(organizationID: UUID, name: String, permissions: Set<Permission>) async throws -> UUID {
        let role = RoleModel(
            organizationID: organizationID, name: name, builtIn: nil, permissions: permissions, createdAt: services.now)
        try await role.create(on: services.db)
        return role.id!
    }

    /// Adds a member with a password and no MFA.
    public func createMember(
        organizationID: UUID, roleID: UUID, email: String, name: String, password: String,
        meta: RequestMeta = .operator_
    ) async throws -> UUID {
        let normalized = email.trimmingCharacters(in: .whitespaces).lowercased()
        try Validation.email(normalized)
        guard password.count >= 12 else {
            throw LatchkeyError.badRequest("weak_password", "A password needs at least 12 characters.")
        }
        let db = services.db
        if try await MemberModel.query(on: db).filter(\.$email == normalized).first() != nil {
            throw LatchkeyError(.conflict, "email_taken", "An account with that email already exists.")
        }
        let member = MemberModel(
            organizationID: organizationID, roleID: roleID, email: normalized, name: name,
            passwordHash: try await services.passwords.hash(password), createdAt: services.now)
        try await member.create(on: db)
        try await SearchIndex.add([(member.id!, organizationID, name, normalized)], on: db)
        try await services.audit.append(
            AuditEntry(
                organizationID: organizationID, actorEmail: "operator", actorRole: "operator", action: .memberCreated,
                targetID: member.id, targetEmail: normalized, result: .success, requestID: meta.requestID, ip: meta.ip,
                userAgent: meta.userAgent), at: services.now, on: db)
        return member.id!
    }
}
