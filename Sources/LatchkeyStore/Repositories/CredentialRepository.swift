import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// A TOTP authenticator as stored: the secret stays sealed until the caller opens it with the server key.
public struct TOTPCredential: Sendable, Equatable {
    public var id: UUID
    public var secretCiphertext: String
    public var lastUsedStep: Int64?
    /// When it was set up.
    public var createdAt: Date

    init(_ model: TOTPCredentialModel) {
        self.init(
            id: model.id!, secretCiphertext: model.secretCiphertext, lastUsedStep: model.lastUsedStep,
            createdAt: model.createdAt)
    }

    init(id: UUID, secretCiphertext: String, lastUsedStep: Int64?, createdAt: Date) {
        self.id = id
        self.secretCiphertext = secretCiphertext
        self.lastUsedStep = lastUsedStep
        self.createdAt = createdAt
    }

    /// The columns of `totp_credentials` it is read from, each named `prefix` + its name (`AS c_id`, …).
    static func columns(of table: String, prefix: String = "") -> String {
        ["id", "secret_ciphertext", "last_used_step", "created_at"].map { "\(table).\($0) AS \(prefix)\($0)" }
            .joined(separator: ", ")
    }

    /// An authenticator from a row holding `columns(of:prefix:)`.
    init(_ row: any RowColumns, prefix: String = "") throws {
        self.init(
            id: try row.uuid(prefix + "id"), secretCiphertext: try row.string(prefix + "secret_ciphertext"),
            lastUsedStep: try row.optionalInt64(prefix + "last_used_step"),
            createdAt: try row.date(prefix + "created_at"))
    }
}

/// Second factors: TOTP authenticators (confirmed, or pending while being set up) and recovery codes.
/// Every "use once" rule is one conditional statement here, so two concurrent uses cannot both pass.
public struct CredentialRepository: Sendable {
    let db: any Database
    /// Where `confirmedTOTP` reads outside a transaction (see `Store.reads`).
    let reads: any SQLDatabase

    init(_ db: any Database, reads: any SQLDatabase) {
        self.db = db
        self.reads = reads
    }

    var sql: any SQLDatabase { db as! any SQLDatabase }

    // MARK: Authenticators

    /// The member's confirmed authenticator.
    ///
    /// Read on every second factor: one plain statement (Fluent's model reflection cost more than the query),
    /// outside a transaction through `reads` (on SQLite a reader, beside the writer). A step used since is still
    /// refused: `claimStep` compares and sets in the transaction that accepts the code.
    public func confirmedTOTP(memberID: UUID) async throws -> TOTPCredential? {
        guard
            let row = try await reads.raw(
                """
                SELECT \(unsafeRaw: Self.totpColumns) FROM totp_credentials c
                WHERE member_id = \(bind: memberID) AND confirmed = \(bind: true) LIMIT 1
                """
            ).first()?.columns(UUIDColumns(reads))
        else { return nil }
        return try TOTPCredential(row)
    }

    private static let totpColumns = TOTPCredential.columns(of: "c")

    /// The member's authenticator being set up, if any.
    public func pendingTOTP(memberID: UUID) async throws -> TOTPCredential? {
        try await TOTPCredentialModel.query(on: db).filter(\.$memberID == memberID).filter(\.$confirmed == false)
            .first().map(TOTPCredential.init)
    }

    /// Replaces any unfinished setup with a new one holding `sealedSecret`.
    public func replacePending(memberID: UUID, sealedSecret: String, now: Date) async throws {
        try await TOTPCredentialModel.query(on: db).filter(\.$memberID == memberID).filter(\.$confirmed == false)
            .delete()
        try await TOTPCredentialModel(
            memberID: memberID, secretCiphertext: sealedSecret, confirmed: false, createdAt: now
        )
        .create(on: db)
    }

    /// Takes time step `step` of an authenticator: true only for the first caller, and only when no later
    /// step was used (a code is accepted once).
    public func claimStep(_ step: Int64, of credentialID: UUID) async throws -> Bool {
        try await !sql.raw(Self.claimingStep(step, of: credentialID) + " RETURNING id").all().isEmpty
    }

    /// The `UPDATE` that takes time step `step` of an authenticator, without its end (so a caller can add a
    /// condition): it changes a row only when no step as late was used.
    static func claimingStep(_ step: Int64, of credentialID: UUID) -> SQLQueryString {
        """
        UPDATE totp_credentials SET last_used_step = \(bind: step)
        WHERE id = \(bind: credentialID) AND (last_used_step IS NULL OR last_used_step < \(bind: step))
        """
    }

    /// Confirms a pending authenticator with the step its first code used: true only for the first caller.
    public func confirm(_ credentialID: UUID, step: Int64) async throws -> Bool {
        try await !sql.raw(
            """
            UPDATE totp_credentials SET confirmed = \(bind: true), last_used_step = \(bind: step)
            WHERE id = \(bind: credentialID) AND confirmed = \(bind: false) RETURNING id
            """
        ).all().isEmpty
    }

    /// Removes the member's other confirmed authenticators; returns how many there were.
    public func removeConfirmed(memberID: UUID, except keep: UUID) async throws -> Int {
        let others = TOTPCredentialModel.query(on: db).filter(\.$memberID == memberID).filter(\.$confirmed == true)
            .filter(\.$id != keep)
        let count = try await others.count()
        try await others.delete()
        return count
    }

    /// Those of `ids` with an authenticator (confirmed or being set up).
    public func membersWithAuthenticator(_ ids: [UUID]) async throws -> Set<UUID> {
        guard !ids.isEmpty else { return [] }
        return Set(
            try await sql.select().distinct().column("member_id").from(TOTPCredentialModel.schema)
                .where("member_id", .in, SQLBind.group(ids)).all()
                .map { try $0.decode(column: "member_id", as: UUID.self) })
    }

    /// Removes every authenticator and recovery code of these members.
    public func removeAll(memberIDs: [UUID]) async throws {
        guard !memberIDs.isEmpty else { return }
        let ids = SQLBind.group(memberIDs)
        try await sql.delete(from: TOTPCredentialModel.schema).where("member_id", .in, ids).run()
        try await sql.delete(from: RecoveryCodeModel.schema).where("member_id", .in, ids).run()
    }

    // MARK: Recovery codes

    /// Replaces all of a member's recovery codes with these keyed hashes.
    public func replaceRecoveryCodes(memberID: UUID, hashes: [String], now: Date) async throws {
        try await RecoveryCodeModel.query(on: db).filter(\.$memberID == memberID).delete()
        try await hashes.map { RecoveryCodeModel(memberID: memberID, codeHash: $0, createdAt: now) }.create(on: db)
    }

    /// Spends the member's unused recovery code with this hash: true only for the first caller.
    public func spendRecoveryCode(memberID: UUID, hash: String, now: Date) async throws -> Bool {
        try await !sql.raw(
            """
            UPDATE recovery_codes SET used_at = \(bind: now)
            WHERE member_id = \(bind: memberID) AND code_hash = \(bind: hash) AND used_at IS NULL
            RETURNING id
            """
        ).all().isEmpty
    }

    /// How many unused recovery codes the member has.
    public func recoveryCodesLeft(memberID: UUID) async throws -> Int {
        try await RecoveryCodeModel.query(on: db).filter(\.$memberID == memberID).filter(\.$usedAt == nil).count()
    }
}
