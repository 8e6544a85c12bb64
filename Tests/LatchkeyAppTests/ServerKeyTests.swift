import FluentKit
import Foundation
import LatchkeyCore
import LatchkeyStore
import SQLKit
import Testing

@testable import LatchkeyApp

/// Started with another key, or with none from another directory, the server refuses instead of failing every
/// TOTP sign-in; read-only commands neither migrate nor make a key.
@Suite("The server key cannot be lost silently", .serialized)
struct ServerKeyTests {
    static func emptyDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("latchkey-key-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("the first start records the key's fingerprint; another key, or none, is refused by name")
    func anotherKeyRefused() async throws {
        let bed = try await CLITestBed.make(label: "key")
        var services = try await bed.services()
        let (_, ownerID) = try await bed.acme(services)
        let recorded = try #require(try await services.store.instance.keyFingerprint())
        #expect(recorded == services.serverKey.fingerprint)
        #expect(recorded.count == 19 && recorded.split(separator: "-").count == 4)
        #expect(!recorded.contains(String(hex(bed.key).prefix(8))))
        await services.database.shutdown()

        // Another key: refused in one line naming both fingerprints; nothing recorded changes.
        let other = RandomSource.system.bytes(32)
        let otherPrint = try ServerKey(material: other).fingerprint
        let refused = try bed.run(["migrate"], environment: ["LATCHKEY_SECRET_KEY": hex(other)])
        #expect(refused.status != 0)
        #expect(refused.printed.contains(otherPrint) && refused.printed.contains(recorded), "\(refused.printed)")
        #expect(!refused.printed.contains("LatchkeyError(") && !refused.printed.contains(hex(other)))
        // No key at all, started from another directory: refused, naming the key it needs; no key is made there.
        let elsewhere = try Self.emptyDirectory()
        let missing = try bed.run(
            ["migrate"], environment: ["LATCHKEY_SECRET_KEY": nil, "LATCHKEY_DATA_DIR": elsewhere])
        #expect(missing.status != 0 && missing.printed.contains(recorded), "\(missing.printed)")
        #expect(!FileManager.default.fileExists(atPath: elsewhere + "/secret.key"))

        // The right key still starts, and the owner is still there.
        services = try await bed.services()
        #expect(try await services.store.members.find(ownerID)?.email == "owner@acme.test")
        #expect(try await services.store.instance.keyFingerprint() == recorded)
        await services.database.shutdown()
        await bed.cleanup()
    }

    @Test("key rotate seals every secret under a new key in parts, resumably; then only the new key starts")
    func rotation() async throws {
        let bed = try await CLITestBed.make(label: "key-rotate")
        var services = try await bed.services()
        let (acme, ownerID) = try await bed.acme(services)
        let orgs = OrganizationService(services: services)
        var members = [ownerID]
        for name in ["ann", "bob", "cy"] {
            members.append(
                try await orgs.createMember(
                    organizationID: acme.organizationID, roleID: acme.roles[.member]!, email: "\(name)@acme.test",
                    name: name, password: "correct horse battery staple"))
        }
        // Three confirmed authenticators with recovery codes, one enrollment under way, one webhook secret.
        var secrets: [UUID: [UInt8]] = [:]
        var codes: [UUID: String] = [:]
        for (index, member) in members.enumerated() {
            let secret = RandomSource.system.bytes(20)
            secrets[member] = secret
            let sealed = try services.serverKey.seal(secret, context: member.uuidString)
            try await services.store.credentials.replacePending(
                memberID: member, sealedSecret: sealed, now: services.now)
            guard index < 3 else { continue }
            let pending = try #require(try await services.store.credentials.pendingTOTP(memberID: member))
            #expect(try await services.store.credentials.confirm(pending.id, step: 1))
            let issued = RecoveryCodes.generate(using: .system)
            codes[member] = issued[0]
            try await services.store.credentials.replaceRecoveryCodes(
                memberID: member,
                hashes: issued.map { services.serverKey.hashRecoveryCode(RecoveryCodes.normalize($0)!) },
                now: services.now)
        }
        let hook = WebhookEndpoint(
            organizationID: acme.organizationID, url: "https://siem.acme.test/in", description: "SIEM",
            eventTypes: ["*"], sealedSecret: "", createdByName: "Olivia Owner", createdAt: services.now, lastSeq: 0)
        var sealedHook = hook
        sealedHook.sealedSecret = try services.serverKey.seal(Array("whsec-1".utf8), context: hook.id.uuidString)
        try await services.store.webhooks.create(sealedHook)
        let oldPrint = services.serverKey.fingerprint
        await services.database.shutdown()

        let newKey = RandomSource.system.bytes(32)
        let newPrint = try ServerKey(material: newKey).fingerprint
        let keyFile = try Self.emptyDirectory() + "/new.key"
        try Data(hex(newKey).utf8).write(to: URL(fileURLWithPath: keyFile))

        // Interrupted after two secrets: paused, and no instance starts — with either key — until it is finished.
        let partial = try bed.run(["key", "rotate", "--new-key-file", keyFile, "--limit", "2"])
        #expect(
            partial.status == 3 && partial.printed.contains("Rotation paused: 2 secrets sealed"), "\(partial.printed)")
        for key in [bed.key, newKey] {
            let refused = try bed.run(["migrate"], environment: ["LATCHKEY_SECRET_KEY": hex(key)])
            #expect(
                refused.status != 0 && refused.printed.contains("key rotation to the key with fingerprint \(newPrint)"))
        }
        // Resumed: the rest, the database's keys and the fingerprint.
        let resumed = try bed.run(["key", "rotate", "--new-key-file", keyFile])
        #expect(resumed.status == 0, "\(resumed.printed)")
        #expect(
            resumed.printed.contains("Key rotated from \(oldPrint) to \(newPrint): 3 secrets sealed")
                && resumed.printed.contains("(2 by an earlier run)"), "\(resumed.printed)")
        #expect(!resumed.printed.contains(hex(newKey)) && !resumed.printed.contains(hex(bed.key)))

        // The old key is refused now, naming both.
        let old = try bed.run(["migrate"])
        #expect(old.status != 0 && old.printed.contains(oldPrint) && old.printed.contains(newPrint), "\(old.printed)")
        let again = try bed.run(
            ["key", "rotate", "--new-key-file", keyFile], environment: ["LATCHKEY_SECRET_KEY": hex(newKey)])
        #expect(again.status != 0 && again.printed.contains("already sealed with the new key"))

        // The new key opens every secret as it was, and every recovery code still matches.
        var config = bed.config
        config.secretKey = newKey
        services = try await AppServices.start(config: config, logger: bed.logger)
        #expect(try await services.store.instance.keyFingerprint() == newPrint)
        for member in members {
            let confirmed = try await services.store.credentials.confirmedTOTP(memberID: member)
            let pending = try await services.store.credentials.pendingTOTP(memberID: member)
            let credential = try #require(confirmed ?? pending)
            #expect(
                try services.serverKey.open(credential.secretCiphertext, context: member.uuidString) == secrets[member])
            #expect(
                (try? ServerKey(material: bed.key).open(credential.secretCiphertext, context: member.uuidString)) == nil
            )
            if let code = codes[member] {
                let hash = services.serverKey.hashRecoveryCode(RecoveryCodes.normalize(code)!)
                #expect(
                    try await services.store.credentials.spendRecoveryCode(
                        memberID: member, hash: hash, now: services.now))
            }
        }
        let endpoint = try #require(
            try await services.store.webhooks.endpoint(hook.id, organizationID: acme.organizationID))
        #expect(
            try services.serverKey.open(endpoint.sealedSecret, context: hook.id.uuidString) == Array("whsec-1".utf8))
        let events = try await services.database.sql.raw(
            "SELECT reason FROM audit_events WHERE action = 'instance.key_rotated'"
        ).all().map { try $0.decode(column: "reason", as: String.self) }
        #expect(events == ["from \(oldPrint) to \(newPrint); 5 secrets sealed"])
        await services.database.shutdown()
        let verified = try bed.run(["audit", "verify"], environment: ["LATCHKEY_SECRET_KEY": hex(newKey)])
        #expect(verified.status == 0, "\(verified.printed)")
        await bed.cleanup()
    }

    @Test(
        "a database from before fingerprints: a key that cannot open its TOTP secrets is refused, the right one recorded"
    )
    func databaseFromBeforeFingerprints() async throws {
        let bed = try await CLITestBed.make(label: "key-legacy")
        var services = try await bed.services()
        let (_, ownerID) = try await bed.acme(services)
        let sealed = try services.serverKey.seal(Array("12345678901234567890".utf8), context: ownerID.uuidString)
        try await services.store.credentials.replacePending(memberID: ownerID, sealedSecret: sealed, now: services.now)
        try await services.database.sql.raw("DELETE FROM instance_settings").run()
        let rightPrint = services.serverKey.fingerprint
        await services.database.shutdown()

        let other = RandomSource.system.bytes(32)
        let refused = try bed.run(["migrate"], environment: ["LATCHKEY_SECRET_KEY": hex(other)])
        #expect(refused.status != 0 && refused.printed.contains("does not open this database's TOTP secrets"))
        #expect(refused.printed.contains(try ServerKey(material: other).fingerprint))
        // Nor is a key generated for it.
        let elsewhere = try Self.emptyDirectory()
        let missing = try bed.run(
            ["migrate"], environment: ["LATCHKEY_SECRET_KEY": nil, "LATCHKEY_DATA_DIR": elsewhere])
        #expect(missing.status != 0 && !FileManager.default.fileExists(atPath: elsewhere + "/secret.key"))

        services = try await bed.services()
        #expect(try await services.store.instance.keyFingerprint() == rightPrint)
        await services.database.shutdown()
        await bed.cleanup()
    }

    @Test("audit verify and export never migrate and never make a key")
    func readOnlyCommands() async throws {
        let bed = try await CLITestBed.make(label: "key-readonly")
        let services = try await bed.services()
        _ = try await bed.acme(services)
        // One migration taken back: the read-only commands refuse rather than apply it.
        let last = try #require(LatchkeyMigrations.all.last).name
        let hidden = last + ".hidden"
        try await services.database.sql.raw(
            "UPDATE _fluent_migrations SET name = \(bind: hidden) WHERE name = \(bind: last)"
        ).run()
        await services.database.shutdown()
        let elsewhere = try Self.emptyDirectory()
        let keyless: [String: String?] = ["LATCHKEY_SECRET_KEY": nil, "LATCHKEY_DATA_DIR": elsewhere]
        let behind = try bed.run(["audit", "verify"], environment: keyless)
        #expect(behind.status != 0 && behind.printed.contains("run `latchkey migrate` first"), "\(behind.printed)")
        let database = try LatchkeyDatabase(location: bed.config.database, logger: bed.logger)
        try await database.sql.raw(
            "UPDATE _fluent_migrations SET name = \(bind: last) WHERE name = \(bind: hidden)"
        ).run()
        await database.shutdown()

        // Keyed chains need the key to verify: without it, said so; with it, intact. Neither makes a key.
        let keyNeeded = try bed.run(["audit", "verify"], environment: keyless)
        #expect(keyNeeded.status != 0 && keyNeeded.printed.contains("needs the server key"), "\(keyNeeded.printed)")
        let verified = try bed.run(["audit", "verify"], environment: ["LATCHKEY_DATA_DIR": elsewhere])
        #expect(verified.status == 0 && verified.printed.contains("Audit log intact"), "\(verified.printed)")
        let exported = try bed.run(["audit", "export", "--format", "jsonl"], environment: keyless)
        #expect(exported.status == 0, "\(exported.printed)")
        #expect(!FileManager.default.fileExists(atPath: elsewhere + "/secret.key"))
        // A file that is not there is not created.
        var absent = AppConfig(database: .sqlite(path: elsewhere + "/none.sqlite"), dataDirectory: elsewhere)
        absent.bcryptCost = 4
        await #expect(throws: LatchkeyError.schemaNotCurrent("No database at \(elsewhere)/none.sqlite.")) {
            _ = try await AppServices.start(config: absent, logger: bed.logger, readOnly: true)
        }
        #expect(!FileManager.default.fileExists(atPath: elsewhere + "/none.sqlite"))
        await bed.cleanup()
    }
}

@Suite("Starting in production")
struct ProductionModeTests {
    @Test("LATCHKEY_ENV=production refuses insecure defaults by name, and starts once they are set")
    func refusesInsecureDefaults() async throws {
        let bed = try await CLITestBed.make(label: "production")
        let elsewhere = try ServerKeyTests.emptyDirectory()
        let bare = try bed.run(
            ["migrate"],
            environment: ["LATCHKEY_ENV": "production", "LATCHKEY_SECRET_KEY": nil, "LATCHKEY_DATA_DIR": elsewhere])
        #expect(bare.status != 0, "\(bare.printed)")
        #expect(bare.printed.contains("LATCHKEY_SECURE_COOKIES=1") && bare.printed.contains("set LATCHKEY_SECRET_KEY"))
        #expect(!FileManager.default.fileExists(atPath: elsewhere + "/secret.key"))
        let demo = try bed.run(
            ["demo", "--seed-only"], environment: ["LATCHKEY_ENV": "production", "LATCHKEY_SECURE_COOKIES": "1"])
        #expect(demo.status != 0 && demo.printed.contains("the demo seeds accounts"), "\(demo.printed)")
        let unknown = try bed.run(["migrate"], environment: ["LATCHKEY_ENV": "prod"])
        #expect(unknown.status != 0 && unknown.printed.contains("LATCHKEY_ENV must be production or development"))
        // Nothing was created by the refused starts.
        let services = try await bed.services()
        let organizations = try await services.database.sql.raw("SELECT COUNT(*) AS n FROM organizations").first()
        #expect(try organizations?.decode(column: "n", as: Int.self) == 0)
        await services.database.shutdown()
        let ready = try bed.run(
            ["migrate"], environment: ["LATCHKEY_ENV": "production", "LATCHKEY_SECURE_COOKIES": "1"])
        #expect(ready.status == 0, "\(ready.printed)")
        let version = try bed.run(["--version"])
        #expect(version.status == 0 && version.printed.contains(LatchkeyVersion.current))
        await bed.cleanup()
    }
}

@Suite("Many instances")
struct ManyInstancesTests {
    @Test("eight processes starting at once on a new database: one migrates, every one starts, nothing twice")
    func concurrentMigrations() async throws {
        let bed = try await CLITestBed.make(label: "migrate-race")
        let runs = try await withThrowingTaskGroup(of: (status: Int32, printed: String).self) { group in
            for _ in 0..<8 { group.addTask { try bed.run(["migrate"]) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.allSatisfy { $0.status == 0 }, "\(runs.filter { $0.status != 0 }.map(\.printed))")
        let services = try await bed.services()
        let applied = try await services.database.sql.raw("SELECT name FROM _fluent_migrations").all().map {
            try $0.decode(column: "name", as: String.self)
        }
        #expect(applied.count == LatchkeyMigrations.all.count && Set(applied).count == applied.count)
        // One fingerprint, one sealed audit chain key and recovery hashing key, whichever process wrote them first.
        let settings = try await services.database.sql.raw("SELECT name FROM instance_settings ORDER BY name").all()
            .map { try $0.decode(column: "name", as: String.self) }
        #expect(settings == ["audit_chain_key", "key_fingerprint", "recovery_hashing_key"])
        await services.database.shutdown()
        await bed.cleanup()
    }
}

@Suite("Backups")
struct BackupTests {
    @Test("latchkey backup copies a database consistently into a new file, which then serves as the original")
    func backup() async throws {
        let bed = try await CLITestBed.make(label: "backup")
        let services = try await bed.services()
        _ = try await bed.acme(services)
        await services.database.shutdown()
        let directory = try ServerKeyTests.emptyDirectory()
        let copy = directory + "/copy.sqlite"
        let made = try bed.run(["backup", "--output", copy])
        guard !TestDatabase.isPostgres else {
            #expect(made.status != 0 && made.printed.contains("pg_dump"), "\(made.printed)")
            await bed.cleanup()
            return
        }
        #expect(made.status == 0, "\(made.printed)")
        // The copy: the same members and audit chain, sealed under the same key (its fingerprint matches).
        var config = bed.config
        config.database = .sqlite(path: copy)
        let restored = try await AppServices.start(config: config, logger: bed.logger)
        #expect(try await restored.store.members.find(email: "owner@acme.test")?.name == "Olivia Owner")
        guard case .intact(let events) = try await restored.store.audit.verify() else {
            Issue.record("the copy's audit chain does not verify")
            return
        }
        #expect(events > 0)
        await restored.database.shutdown()
        // Never over an existing file.
        let again = try bed.run(["backup", "--output", copy])
        #expect(again.status != 0 && again.printed.contains("never overwrites"))
        await bed.cleanup()
    }
}
