import FluentKit
import Foundation
import SQLKit

/// The installation's own settings (`instance_settings`), and what the start checks the server key against.
public struct InstanceRepository: Sendable {
    let sql: any SQLDatabase

    init(_ db: any Database) { sql = db as! any SQLDatabase }

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

    /// Replaces the recorded fingerprint (after every secret was sealed again under the new key).
    public func replaceKeyFingerprint(_ fingerprint: String) async throws {
        try await sql.raw(
            "UPDATE instance_settings SET value = \(bind: fingerprint) WHERE name = 'key_fingerprint'"
        ).run()
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

    private func value(_ name: String) async throws -> String? {
        try await sql.raw("SELECT value FROM instance_settings WHERE name = \(bind: name)").first()?.decode(
            column: "value", as: String.self)
    }
}
