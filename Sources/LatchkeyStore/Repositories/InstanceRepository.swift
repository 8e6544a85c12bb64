import FluentKit
import Foundation
import SQLKit

/// The installation's own settings (`instance_settings`), and what the start checks the server key against.
public struct InstanceRepository: Sendable {
    let sql: any SQLDatabase

    init(_ db: any Database) { sql = db as! any SQLDatabase }

    /// The work waiting across the installation (for the metrics): background jobs running and the members they
    /// have left, mail not yet handed over, webhook deliveries not yet made. Each is one count by an index.
    public func backlog() async throws -> Backlog {
        let row = try await sql.raw(
            """
            SELECT
              (SELECT COUNT(*) FROM reset_batches WHERE status = 'running' AND background = \(bind: true)) AS jobs,
              (SELECT CAST(COALESCE(SUM(total - processed), 0) AS BIGINT) FROM reset_batches
                WHERE status = 'running' AND background = \(bind: true)) AS job_members,
              (SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL) AS mail,
              (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending') AS webhooks
            """
        ).first()
        guard let row else { return Backlog(jobs: 0, jobMembers: 0, mail: 0, webhookDeliveries: 0) }
        return Backlog(
            jobs: try row.decode(column: "jobs", as: Int.self),
            jobMembers: try row.decode(column: "job_members", as: Int.self),
            mail: try row.decode(column: "mail", as: Int.self),
            webhookDeliveries: try row.decode(column: "webhooks", as: Int.self))
    }

    /// The fingerprint of the key this database's secrets are sealed with; nil before the first start.
    public func keyFingerprint() async throws -> String? {
        try await value("key_fingerprint")
    }

    /// Records `fingerprint` unless one is recorded already (two instances starting at once: the first wins);
    /// returns the one recorded.
    public func recordKeyFingerprint(_ fingerprint: String) async throws -> String {
        try await sql.raw(
            """
            INSERT INTO instance_settings (name, value) VALUES ('key_fingerprint', \(bind: fingerprint))
            ON CONFLICT (name) DO NOTHING
            """
        ).run()
        return try await value("key_fingerprint") ?? fingerprint
    }

    /// One sealed TOTP secret with the member id it is bound to, if any member has one: a key that cannot open it
    /// is not this database's key.
    public func sampleSealedSecret() async throws -> (memberID: UUID, ciphertext: String)? {
        guard
            let row = try await sql.raw(
                "SELECT member_id, secret_ciphertext FROM totp_credentials ORDER BY member_id LIMIT 1"
            ).first()
        else { return nil }
        return (
            try row.uuid("member_id", UUIDColumns(sql)), try row.decode(column: "secret_ciphertext", as: String.self)
        )
    }

    // MARK: Keys the database keeps sealed under the server key

    /// A key the database keeps sealed under the server key (`recovery_hashing_key`, `audit_chain_key`).
    public func sealedKey(_ name: String) async throws -> String? {
        try await value(name)
    }

    /// Records a sealed key unless one is recorded already (two instances starting at once: the first wins);
    /// returns the one recorded.
    public func recordSealedKey(_ name: String, _ sealed: String) async throws -> String {
        try await sql.raw(
            "INSERT INTO instance_settings (name, value) VALUES (\(bind: name), \(bind: sealed)) ON CONFLICT (name) DO NOTHING"
        ).run()
        return try await value(name) ?? sealed
    }

    // MARK: Key rotation

    /// The fingerprint of the key a rotation under way is sealing everything under; nil when none is.
    public func rotationTarget() async throws -> String? {
        try await value("key_rotation_target")
    }

    /// Marks a rotation to `fingerprint` as under way (a start refuses until it is finished).
    public func beginRotation(to fingerprint: String) async throws {
        try await sql.raw(
            """
            INSERT INTO instance_settings (name, value) VALUES ('key_rotation_target', \(bind: fingerprint))
            ON CONFLICT (name) DO NOTHING
            """
        ).run()
    }

    /// Ends a rotation: the new key's sealed copies of the database's keys and its fingerprint, in one transaction.
    public func finishRotation(fingerprint: String, sealedKeys: [String: String]) async throws {
        try await sql.raw("UPDATE instance_settings SET value = \(bind: fingerprint) WHERE name = 'key_fingerprint'")
            .run()
        for (name, sealed) in sealedKeys {
            try await sql.raw("UPDATE instance_settings SET value = \(bind: sealed) WHERE name = \(bind: name)").run()
        }
        try await sql.raw("DELETE FROM instance_settings WHERE name = 'key_rotation_target'").run()
    }

    /// Where sealed values live: TOTP secrets (bound to their member) and webhook signing secrets (bound to their
    /// endpoint).
    public enum SealedColumn: String, Sendable, CaseIterable {
        case totpSecrets, webhookSecrets

        var table: String { self == .totpSecrets ? "totp_credentials" : "webhook_endpoints" }
        var column: String { self == .totpSecrets ? "secret_ciphertext" : "secret_sealed" }
        /// The column whose id the sealed value is bound to (its `context`).
        var context: String { self == .totpSecrets ? "member_id" : "id" }
    }

    /// One sealed value: its row, what it is bound to, and the value.
    public struct SealedValue: Sendable {
        public var id: UUID
        public var context: UUID
        public var sealed: String
    }

    /// Sealed values in id order after `id`, at most `limit`.
    public func sealedValues(_ where_: SealedColumn, after id: UUID?, limit: Int) async throws -> [SealedValue] {
        let after = id.map { SQLQueryString("WHERE id > \(bind: $0)") } ?? SQLQueryString("")
        let rows = try await sql.raw(
            """
            SELECT id, \(unsafeRaw: where_.context) AS context, \(unsafeRaw: where_.column) AS sealed
            FROM \(unsafeRaw: where_.table) \(after) ORDER BY id LIMIT \(bind: limit)
            """
        ).all()
        let form = UUIDColumns(sql)
        return try rows.map {
            SealedValue(
                id: try $0.uuid("id", form), context: try $0.uuid("context", form),
                sealed: try $0.decode(column: "sealed", as: String.self))
        }
    }

    /// Replaces one sealed value if it is still `old` (a secret changed meanwhile — a re-enrollment — is left to the
    /// change, which sealed it under the key it ran with). True when replaced.
    public func replaceSealed(_ where_: SealedColumn, id: UUID, old: String, new: String) async throws -> Bool {
        let rows = try await sql.raw(
            """
            UPDATE \(unsafeRaw: where_.table) SET \(unsafeRaw: where_.column) = \(bind: new)
            WHERE id = \(bind: id) AND \(unsafeRaw: where_.column) = \(bind: old) RETURNING id
            """
        ).all()
        return !rows.isEmpty
    }

    private func value(_ name: String) async throws -> String? {
        try await sql.raw("SELECT value FROM instance_settings WHERE name = \(bind: name)").first()?.decode(
            column: "value", as: String.self)
    }
}

/// The work waiting across the installation (see `InstanceRepository.backlog`).
public struct Backlog: Sendable, Equatable {
    /// Background jobs running, and the members they have still to act on.
    public var jobs: Int
    public var jobMembers: Int
    /// Messages not yet handed to the mail server (and not given up).
    public var mail: Int
    /// Webhook deliveries not yet made (and not given up).
    public var webhookDeliveries: Int
}
