import FluentKit

/// Facts about the installation itself, one row each: `key_fingerprint`, the fingerprint of the server key the
/// database's secrets are sealed with (recorded at first use, so a server started with another key refuses to
/// start instead of failing every TOTP sign-in).
struct M025CreateInstanceSettings: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("instance_settings")
            .field("name", .string, .identifier(auto: false))
            .field("value", .string, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("instance_settings").delete()
    }
}
