import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// A single-use link that lets its holder set a member's password: an invitation or a password link.
public struct MemberToken: Sendable, Equatable {
    public enum Purpose: String, Sendable {
        /// Accept an invitation: set name and password (7 days).
        case invite
        /// Set a new password (1 hour): Forgot password, or an operator's break-glass link.
        case password
    }

    public var id: UUID
    public var memberID: UUID
    public var organizationID: UUID
    public var purpose: Purpose
    public var issuerID: UUID?
    /// Who sent it, as shown to the recipient ("Olivia Owner", or "Latchkey" for self-service links).
    public var issuerName: String
    public var createdAt: Date
    public var expiresAt: Date
    public var usedAt: Date?

    init(_ model: MemberTokenModel) {
        id = model.id!
        memberID = model.memberID
        organizationID = model.organizationID
        purpose = Purpose(rawValue: model.purpose) ?? .password
        issuerID = model.issuerID
        issuerName = model.issuerName
        createdAt = model.createdAt
        expiresAt = model.expiresAt
        usedAt = model.usedAt
    }
}

final class MemberTokenModel: Model, @unchecked Sendable {
    static let schema = "member_tokens"

    @ID(key: .id) var id: UUID?
    @Field(key: "member_id") var memberID: UUID
    @Field(key: "organization_id") var organizationID: UUID
    @Field(key: "purpose") var purpose: String
    @Field(key: "token_hash") var tokenHash: String
    @OptionalField(key: "issuer_id") var issuerID: UUID?
    @Field(key: "issuer_name") var issuerName: String
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "expires_at") var expiresAt: Date
    @OptionalField(key: "used_at") var usedAt: Date?

    init() {}
}

/// Invitation and password links, stored as the SHA-256 of the token: whoever reads the database cannot use them.
public struct MemberTokenRepository: Sendable {
    let db: any Database
    var sql: any SQLDatabase { db as! any SQLDatabase }

    init(_ db: any Database) { self.db = db }

    public struct NewToken: Sendable {
        public var memberID: UUID
        public var tokenHash: String

        public init(memberID: UUID, tokenHash: String) {
            self.memberID = memberID
            self.tokenHash = tokenHash
        }
    }

    /// Issues tokens (set-based), after spending every earlier unused token of the same purpose of those members:
    /// only the newest link works.
    public func issue(
        _ tokens: [NewToken], organizationID: UUID, purpose: MemberToken.Purpose, issuerID: UUID?, issuerName: String,
        now: Date, expiresAt: Date
    ) async throws {
        guard !tokens.isEmpty else { return }
        for chunk in stride(from: 0, to: tokens.count, by: 500).map({ Array(tokens[$0..<min($0 + 500, tokens.count)]) })
        {
            try await sql.update(MemberTokenModel.schema).set("used_at", to: SQLBind(now))
                .where("member_id", .in, SQLBind.group(chunk.map(\.memberID)))
                .where("purpose", .equal, SQLBind(purpose.rawValue)).where("used_at", .is, SQLLiteral.null).run()
        }
        try await BulkInsert.rows(
            tokens.map {
                [
                    SQLBind(UUID.random()), SQLBind($0.memberID), SQLBind(organizationID), SQLBind(purpose.rawValue),
                    SQLBind($0.tokenHash), issuerID.map { SQLBind($0) } ?? SQLLiteral.null, SQLBind(issuerName),
                    SQLBind(now), SQLBind(expiresAt),
                ]
            }, into: MemberTokenModel.schema,
            columns: [
                "id", "member_id", "organization_id", "purpose", "token_hash", "issuer_id", "issuer_name",
                "created_at", "expires_at",
            ], on: db)
    }

    /// The live (unused, unexpired) token with this hash, without spending it.
    public func live(tokenHash: String, purpose: MemberToken.Purpose, now: Date) async throws -> MemberToken? {
        try await MemberTokenModel.query(on: db).filter(\.$tokenHash == tokenHash)
            .filter(\.$purpose == purpose.rawValue).filter(\.$usedAt == nil).filter(\.$expiresAt > now).first()
            .map(MemberToken.init)
    }

    /// Spends the live token with this hash (atomically: of two concurrent uses, one wins). Returns it, or nil.
    public func spend(tokenHash: String, purpose: MemberToken.Purpose, now: Date) async throws -> MemberToken? {
        let rows = try await sql.raw(
            """
            UPDATE member_tokens SET used_at = \(bind: now)
            WHERE token_hash = \(bind: tokenHash) AND purpose = \(bind: purpose.rawValue) AND used_at IS NULL
              AND expires_at > \(bind: now)
            RETURNING id
            """
        ).all()
        guard let id = try rows.first?.decode(column: "id", as: UUID.self) else { return nil }
        return try await MemberTokenModel.find(id, on: db).map(MemberToken.init)
    }

    /// Spends every unused token of a member (a new password makes older links worthless).
    public func spendAll(memberID: UUID, now: Date) async throws {
        try await MemberTokenModel.query(on: db).filter(\.$memberID == memberID).filter(\.$usedAt == nil)
            .set(\.$usedAt, to: now).update()
    }

    /// The newest invitation of each of these members.
    public func latestInvitations(memberIDs: [UUID]) async throws -> [UUID: MemberToken] {
        guard !memberIDs.isEmpty else { return [:] }
        let tokens = try await MemberTokenModel.query(on: db).filter(\.$memberID ~~ memberIDs)
            .filter(\.$purpose == MemberToken.Purpose.invite.rawValue).sort(\.$createdAt).all()
        var latest: [UUID: MemberToken] = [:]
        for token in tokens { latest[token.memberID] = MemberToken(token) }
        return latest
    }
}
