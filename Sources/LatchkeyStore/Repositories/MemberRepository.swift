import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// A member with their role, as stored now.
public struct Member: Sendable, Equatable {
    public var id: UUID
    public var organizationID: UUID
    public var email: String
    public var name: String
    public var roleID: UUID
    public var roleName: String
    /// Which built-in role that is (nil for a custom role).
    public var roleBuiltIn: BuiltInRole?
    public var permissions: Set<Permission>
    public var status: AccountStatus
    public var mfaStatus: MFAStatus
    public var lastSignInAt: Date?
}

/// What sign-in needs to know about the account an email names.
public struct SignInAccount: Sendable {
    public var id: UUID
    public var organizationID: UUID
    public var passwordHash: String
    public var isActive: Bool
}

/// Members: lookups, row locks, MFA status and sign-in times, creation.
public struct MemberRepository: Sendable {
    let db: any Database

    init(_ db: any Database) { self.db = db }

    var sql: any SQLDatabase { db as! any SQLDatabase }

    /// The account an email (already normalized) names, anywhere on the instance.
    public func signInAccount(email: String) async throws -> SignInAccount? {
        guard
            let model = try await MemberModel.query(on: db).filter(\.$email == email)
                .filter(\.$status != AccountStatus.invited.rawValue).first(), let id = model.id
        else { return nil }
        return SignInAccount(
            id: id, organizationID: model.organizationID, passwordHash: model.passwordHash,
            isActive: model.status == AccountStatus.active.rawValue)
    }

    /// One member with their role; with `organizationID`, only a member of that organization.
    public func find(_ id: UUID, organizationID: UUID? = nil) async throws -> Member? {
        try await select { query in
            var query = query.where(SQLColumn("id", table: "members"), .equal, SQLBind(id))
            if let organizationID {
                query = query.where(SQLColumn("organization_id", table: "members"), .equal, SQLBind(organizationID))
            }
            return query
        }.first
    }

    /// The member an email (already normalized) names.
    public func find(email: String) async throws -> Member? {
        try await select {
            $0.where(SQLColumn("email", table: "members"), .equal, SQLBind(email))
                .where(SQLColumn("status", table: "members"), .notEqual, SQLBind(AccountStatus.invited.rawValue))
        }.first
    }

    /// Those of `ids` who are members of the organization, with their roles.
    public func find(_ ids: [UUID], organizationID: UUID) async throws -> [UUID: Member] {
        guard !ids.isEmpty else { return [:] }
        var found: [UUID: Member] = [:]
        for start in stride(from: 0, to: ids.count, by: 1000) {
            let slice = Array(ids[start..<min(start + 1000, ids.count)])
            for member in try await select({
                $0.where(SQLColumn("organization_id", table: "members"), .equal, SQLBind(organizationID))
                    .where(SQLColumn("id", table: "members"), .in, SQLBind.group(slice))
            }) {
                found[member.id] = member
            }
        }
        return found
    }

    /// The organization's members holding one of the built-in Owner roles (not those still invited).
    public func owners(organizationID: UUID) async throws -> [Member] {
        try await select {
            $0.where(SQLColumn("organization_id", table: "members"), .equal, SQLBind(organizationID))
                .where(SQLColumn("built_in", table: "roles"), .equal, SQLBind(BuiltInRole.owner.rawValue))
                .where(SQLColumn("status", table: "members"), .notEqual, SQLBind(AccountStatus.invited.rawValue))
        }
    }

    private func select(_ filter: (SQLSelectBuilder) -> SQLSelectBuilder) async throws -> [Member] {
        let query = Self.columns(of: sql.select()).from("members")
            .join("roles", on: SQLColumn("role_id", table: "members"), .equal, SQLColumn("id", table: "roles"))
        return try await filter(query).all().map { try Self.member($0, UUIDColumns(sql)) }
    }

    /// The columns a `Member` is decoded from (`members` joined with `roles`).
    /// What `member(_:_:)` reads: (table, column, alias), from `members` joined with `roles`.
    static let memberColumns: [(table: String, column: String, alias: String)] = [
        ("members", "id", "id"), ("members", "organization_id", "organization_id"), ("members", "email", "email"),
        ("members", "name", "name"), ("members", "role_id", "role_id"), ("roles", "name", "role_name"),
        ("roles", "built_in", "built_in"), ("roles", "permissions", "permissions"), ("members", "status", "status"),
        ("members", "mfa_status", "mfa_status"), ("members", "last_sign_in_at", "last_sign_in_at"),
    ]

    static func columns(of query: SQLSelectBuilder) -> SQLSelectBuilder {
        memberColumns.reduce(query) { $0.column(SQLColumn($1.column, table: $1.table), as: $1.alias) }
    }

    /// The same columns as SQL text, for statements written as query strings.
    static let columnList = memberColumns.map { "\($0.table).\($0.column) AS \($0.alias)" }.joined(separator: ", ")

    static func member(_ row: any SQLRow, _ uuids: UUIDColumns) throws -> Member {
        try member(row.columns(uuids))
    }

    static func member(_ row: any RowColumns) throws -> Member {
        Member(
            id: try row.uuid("id"),
            organizationID: try row.uuid("organization_id"),
            email: try row.string("email"),
            name: try row.string("name"),
            roleID: try row.uuid("role_id"),
            roleName: try row.string("role_name"),
            roleBuiltIn: try row.optionalString("built_in").flatMap(BuiltInRole.init(rawValue:)),
            permissions: Permission.parseList(try row.string("permissions")),
            status: AccountStatus(rawValue: try row.string("status")) ?? .suspended,
            mfaStatus: MFAStatus(rawValue: try row.string("mfa_status")) ?? .notSetUp,
            lastSignInAt: try row.optionalDate("last_sign_in_at"))
    }

    /// The emails of those of `ids` who are members of the organization.
    public func emails(of ids: [UUID], organizationID: UUID) async throws -> [UUID: String] {
        var emails: [UUID: String] = [:]
        for start in stride(from: 0, to: ids.count, by: 1000) {
            let rows = try await sql.select().column("id").column("email").from(MemberModel.schema)
                .where("organization_id", .equal, organizationID)
                .where("id", .in, SQLBind.group(Array(ids[start..<min(start + 1000, ids.count)]))).all()
            for row in rows {
                emails[try row.decode(column: "id", as: UUID.self)] = try row.decode(column: "email", as: String.self)
            }
        }
        return emails
    }

    /// Whether any account on the instance has this email.
    public func exists(email: String) async throws -> Bool {
        try await MemberModel.query(on: db).filter(\.$email == email)
            .filter(\.$status != AccountStatus.invited.rawValue).first() != nil
    }

    /// Locks these members' rows until the transaction ends, in id order (see `RowLocks`).
    public func lock(_ ids: [UUID]) async throws {
        try await RowLocks.members(ids, on: db)
    }

    public func setMFAStatus(_ status: MFAStatus, of id: UUID) async throws {
        try await MemberModel.query(on: db).filter(\.$id == id).set(\.$mfaStatus, to: status.rawValue).update()
    }

    /// Marks these members of the organization `reset_pending` (their factors were just removed).
    public func markResetPending(_ ids: [UUID], organizationID: UUID) async throws {
        guard !ids.isEmpty else { return }
        try await sql.update(MemberModel.schema)
            .set("mfa_status", to: MFAStatus.resetPending.rawValue)
            .where("organization_id", .equal, organizationID)
            .where("id", .in, SQLBind.group(ids))
            .run()
    }

    /// How many active members of the organization hold the built-in Owner role.
    public func activeOwnerCount(organizationID: UUID) async throws -> Int {
        try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from(MemberModel.schema)
            .join("roles", on: SQLColumn("role_id", table: "members"), .equal, SQLColumn("id", table: "roles"))
            .where(SQLColumn("organization_id", table: "members"), .equal, SQLBind(organizationID))
            .where(SQLColumn("status", table: "members"), .equal, SQLBind(AccountStatus.active.rawValue))
            .where(SQLColumn("built_in", table: "roles"), .equal, SQLBind(BuiltInRole.owner.rawValue))
            .first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// Gives these members of the organization another role (of the same organization).
    public func setRole(_ roleID: UUID, of ids: [UUID], organizationID: UUID) async throws {
        guard !ids.isEmpty else { return }
        try await sql.update(MemberModel.schema).set("role_id", to: roleID)
            .where("organization_id", .equal, organizationID).where("id", .in, SQLBind.group(ids)).run()
    }

    /// Reactivates these suspended members of the organization: back to `active`, or to `invited` for one who
    /// never accepted their invitation (suspended by an identity provider before joining).
    public func reactivate(_ ids: [UUID], organizationID: UUID) async throws {
        guard !ids.isEmpty else { return }
        try await sql.raw(
            """
            UPDATE members SET status = CASE WHEN password_hash = \(bind: Self.invitedPasswordHash) \
            THEN 'invited' ELSE 'active' END
            WHERE organization_id = \(bind: organizationID) AND id IN \(SQLBind.group(ids))
            """
        ).run()
    }

    /// The password hash of a row that never had a password (an invitation not yet accepted).
    public static let invitedPasswordHash = "!invited"

    /// Sets these members' account status.
    public func setStatus(_ status: AccountStatus, of ids: [UUID], organizationID: UUID) async throws {
        guard !ids.isEmpty else { return }
        try await sql.update(MemberModel.schema).set("status", to: status.rawValue)
            .where("organization_id", .equal, organizationID).where("id", .in, SQLBind.group(ids)).run()
    }

    /// Deletes these members of the organization with everything that hangs off them (factors, sessions,
    /// search terms, throttles); audit events and reset results keep their copies of names and emails.
    public func delete(_ ids: [UUID], organizationID: UUID) async throws {
        guard !ids.isEmpty else { return }
        try await sql.delete(from: MemberModel.schema)
            .where("organization_id", .equal, organizationID).where("id", .in, SQLBind.group(ids)).run()
    }

    /// The status of every row of the organization with one of these emails (already normalized).
    public func statuses(emails: [String], organizationID: UUID) async throws -> [String: AccountStatus] {
        var found: [String: AccountStatus] = [:]
        for start in stride(from: 0, to: emails.count, by: 500) {
            let chunk = Array(emails[start..<min(start + 500, emails.count)])
            let rows = try await sql.select().column("email").column("status").from(MemberModel.schema)
                .where("organization_id", .equal, SQLBind(organizationID)).where("email", .in, SQLBind.group(chunk))
                .all()
            for row in rows {
                found[try row.decode(column: "email", as: String.self)] =
                    AccountStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .active
            }
        }
        return found
    }

    /// Turns an invited row into an active member with their name and password. False when the row is no longer
    /// an invitation; throws a conflict when the email meanwhile has an account on the instance.
    public func acceptInvitation(_ id: UUID, name: String, passwordHash: String) async throws -> Bool {
        guard
            let model = try await MemberModel.query(on: db).filter(\.$id == id)
                .filter(\.$status == AccountStatus.invited.rawValue).first()
        else { return false }
        model.name = name
        model.passwordHash = passwordHash
        model.status = AccountStatus.active.rawValue
        try await model.update(on: db)
        try await SearchIndex.replace(
            SearchIndex.Entry(
                id: id, organizationID: model.organizationID, name: name, email: model.email, roleID: model.roleID,
                status: .active, mfaStatus: MFAStatus(rawValue: model.mfaStatus) ?? .notSetUp), on: db)
        return true
    }

    public func setPassword(of id: UUID, hash: String) async throws {
        try await MemberModel.query(on: db).filter(\.$id == id).set(\.$passwordHash, to: hash).update()
    }

    /// Records a completed sign-in: the member's sign-in time, and the client address as one they use
    /// (`KnownAddresses`).
    public func recordSignIn(of id: UUID, from address: String, at date: Date) async throws {
        try await sql.raw("UPDATE members SET last_sign_in_at = \(bind: date) WHERE id = \(bind: id)").run()
        try await KnownAddresses(db).remember(memberID: id, address: address, now: date)
    }

    /// Adds a member (active, no MFA) and their search terms; returns the new id.
    public func create(
        organizationID: UUID, roleID: UUID, email: String, name: String, passwordHash: String,
        mfaStatus: MFAStatus = .notSetUp, createdAt: Date
    ) async throws -> UUID {
        let member = MemberModel(
            organizationID: organizationID, roleID: roleID, email: email, name: name, passwordHash: passwordHash,
            mfaStatus: mfaStatus, createdAt: createdAt)
        try await member.create(on: db)
        try await SearchIndex.add(
            [
                SearchIndex.Entry(
                    id: member.id!, organizationID: organizationID, name: name, email: email, roleID: roleID,
                    status: .active, mfaStatus: mfaStatus)
            ], on: db)
        return member.id!
    }
}

/// A member to add in bulk, with the factors and session they start with (seeding and imports).
public struct NewMember: Sendable {
    public var id = UUID.random()
    public var organizationID: UUID
    public var roleID: UUID
    public var email: String
    public var name: String
    public var passwordHash: String
    public var mfaStatus: MFAStatus
    public var status = AccountStatus.active
    public var createdAt: Date
    public var lastSignInAt: Date?
    /// The identity provider's id for the person (SCIM `externalId`).
    public var externalID: String?
    /// A confirmed authenticator's sealed secret.
    public var sealedTOTPSecret: String?
    /// Keyed hashes of unused recovery codes.
    public var recoveryCodeHashes: [String] = []
    /// The hash of a session's token (benchmarks start members signed in, or at their second factor).
    public var sessionTokenHash: String?
    public var sessionState = SessionState.signedIn

    public init(
        organizationID: UUID, roleID: UUID, email: String, name: String, passwordHash: String, mfaStatus: MFAStatus,
        createdAt: Date
    ) {
        self.organizationID = organizationID
        self.roleID = roleID
        self.email = email
        self.name = name
        self.passwordHash = passwordHash
        self.mfaStatus = mfaStatus
        self.createdAt = createdAt
    }
}

extension MemberRepository {
    /// Adds members set-based — multi-row inserts per table, search terms included — in one transaction.
    public func insert(_ members: [NewMember]) async throws {
        func optional(_ date: Date?) -> any SQLExpression { date.map { SQLBind($0) } ?? SQLLiteral.null }
        var rows: [[any SQLExpression]] = []
        var credentials: [[any SQLExpression]] = []
        var codes: [[any SQLExpression]] = []
        var sessions: [[any SQLExpression]] = []
        for m in members {
            rows.append([
                SQLBind(m.id), SQLBind(m.organizationID), SQLBind(m.roleID), SQLBind(m.email), SQLBind(m.name),
                SQLBind(m.passwordHash), SQLBind(m.status.rawValue), SQLBind(m.mfaStatus.rawValue),
                optional(m.lastSignInAt), SQLBind(m.createdAt), m.externalID.map { SQLBind($0) } ?? SQLLiteral.null,
            ])
            if let sealed = m.sealedTOTPSecret {
                credentials.append([
                    SQLBind(UUID.random()), SQLBind(m.id), SQLBind(sealed), SQLBind(true), SQLBind(m.createdAt),
                ])
            }
            for hash in m.recoveryCodeHashes {
                codes.append([SQLBind(UUID.random()), SQLBind(m.id), SQLBind(hash), SQLBind(m.createdAt)])
            }
            if let token = m.sessionTokenHash {
                let now = m.createdAt
                sessions.append([
                    SQLBind(UUID.random()), SQLBind(token), SQLBind(m.id), SQLBind(m.organizationID),
                    SQLBind(m.sessionState.rawValue), SQLBind("c"), SQLBind(now), SQLBind(now),
                    SQLBind(now.addingTimeInterval(86400)), SQLBind("127.0.0.1"), SQLBind("seed"),
                ])
            }
        }
        let (memberRows, credentialRows, codeRows, sessionRows) = (rows, credentials, codes, sessions)
        try await db.atomically { tx in
            try await BulkInsert.rows(
                memberRows, into: MemberModel.schema,
                columns: [
                    "id", "organization_id", "role_id", "email", "name", "password_hash", "status", "mfa_status",
                    "last_sign_in_at", "created_at", "external_id",
                ], on: tx)
            try await SearchIndex.add(
                members.map {
                    SearchIndex.Entry(
                        id: $0.id, organizationID: $0.organizationID, name: $0.name, email: $0.email,
                        roleID: $0.roleID, status: $0.status, mfaStatus: $0.mfaStatus)
                }, on: tx)
            try await BulkInsert.rows(
                credentialRows, into: TOTPCredentialModel.schema,
                columns: ["id", "member_id", "secret_ciphertext", "confirmed", "created_at"], on: tx)
            try await BulkInsert.rows(
                codeRows, into: RecoveryCodeModel.schema, columns: ["id", "member_id", "code_hash", "created_at"],
                on: tx)
            try await BulkInsert.rows(
                sessionRows, into: SessionModel.schema,
                columns: [
                    "id", "token_hash", "member_id", "organization_id", "state", "csrf_token", "created_at",
                    "last_seen_at", "expires_at", "ip", "user_agent",
                ], on: tx)
        }
    }

    /// Every member of an organization by email (small organizations only: the demo's credentials file).
    public func all(organizationID: UUID) async throws -> [Member] {
        try await select {
            $0.where(SQLColumn("organization_id", table: "members"), .equal, SQLBind(organizationID))
                .orderBy(SQLColumn("email", table: "members"))
        }
    }

    /// The ids of an organization's members.
    public func ids(organizationID: UUID) async throws -> [UUID] {
        try await sql.select().column("id").from(MemberModel.schema).where("organization_id", .equal, organizationID)
            .all().map { try $0.decode(column: "id", as: UUID.self) }
    }
}

extension CredentialRepository {
    /// The sealed secrets of these members' confirmed authenticators.
    public func confirmedSecrets(memberIDs: [UUID]) async throws -> [UUID: String] {
        guard !memberIDs.isEmpty else { return [:] }
        var secrets: [UUID: String] = [:]
        for start in stride(from: 0, to: memberIDs.count, by: 1000) {
            let slice = Array(memberIDs[start..<min(start + 1000, memberIDs.count)])
            for credential in try await TOTPCredentialModel.query(on: db).filter(\.$memberID ~~ slice)
                .filter(\.$confirmed == true).all()
            {
                secrets[credential.memberID] = credential.secretCiphertext
            }
        }
        return secrets
    }
}
