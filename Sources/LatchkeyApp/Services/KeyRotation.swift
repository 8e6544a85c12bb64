import Foundation
import LatchkeyCore
import LatchkeyStore

/// The keys a database keeps sealed under the server key, and `latchkey key rotate`.
///
/// What the server key protects: every TOTP secret and webhook signing secret (sealed, bound to its row's owner),
/// and the database's own keys in `instance_settings` — the recovery-code hashing key (recovery codes are stored only
/// as HMACs, which cannot be recomputed without the codes, so the *hashing key* is what a rotation seals again) and,
/// for the audit chain, its HMAC key. Rotation seals all of them under a new key.
enum DatabaseKeys {
    static let recoveryHashing = "recovery_hashing_key"
    static let auditChain = "audit_chain_key"

    /// The context a database key is sealed with, so a sealed value cannot stand in for another.
    static func context(_ name: String) -> String { "instance:" + name }

    /// `key` with the database's keys in place, and the audit chain key given to the database's audit store: opens
    /// their sealed copies, or — at a database's first start, or the first since they were kept — records them. The
    /// recovery hashing key is then the one `key` derives (every recovery code stored before was hashed with it); the
    /// audit chain key is new and random (events before it stay linked as they were, unkeyed). `record` false
    /// (read-only commands): nothing is written.
    static func load(into key: ServerKey, database: LatchkeyDatabase, record: Bool) async throws -> ServerKey {
        let store = database.store
        /// The key's value, and whether this call made it.
        func opened(_ name: String, firstValue: () -> [UInt8]) async throws -> (value: [UInt8], made: Bool)? {
            var sealed = try await store.instance.sealedKey(name)
            var made = false
            if sealed == nil, record {
                let ours = try key.seal(firstValue(), context: context(name))
                sealed = try await store.instance.recordSealedKey(name, ours)
                made = sealed == ours
            }
            return try sealed.map { (try key.open($0, context: context(name)), made) }
        }
        if let chainKey = try await opened(auditChain, firstValue: { RandomSource.system.bytes(32) }) {
            database.auditSetup.chainKey = chainKey.value
            // The chains written before the key are covered from now on: their heads are signed.
            if chainKey.made { try await store.audit.signHeads(key: chainKey.value) }
        }
        guard let hashing = try await opened(recoveryHashing, firstValue: { key.derivedRecoveryHashing })?.value else {
            return key
        }
        return key.withRecoveryHashing(hashing)
    }
}

/// Seals everything under a new key in one pass, in chunks, resumable: a row already under the new key is left as
/// it is, so a rotation stopped anywhere (a crash, `--limit`) is finished by running it again with the same two
/// keys. While one is under way no instance starts (`AppServices.start` refuses); the database's keys and the
/// recorded fingerprint change last, in one transaction, after every row.
struct KeyRotation {
    let database: LatchkeyDatabase
    let old: ServerKey
    let new: ServerKey
    let clock: Clock

    struct Report: Sendable, Equatable {
        /// Values sealed again by this run, and those found already under the new key.
        var resealed = 0
        var alreadyNew = 0
        var finished = false
    }

    static let chunk = 500

    /// Runs the rotation; with `limit`, stops after sealing that many values (the rest for the next run).
    func run(limit: Int? = nil) async throws -> Report {
        let store = database.store
        let recorded = try await store.instance.keyFingerprint()
        let target = try await store.instance.rotationTarget()
        if recorded == new.fingerprint, target == nil {
            throw LatchkeyError.badRequest(
                "already_rotated", "This database's secrets are already sealed with the new key (\(new.fingerprint)).")
        }
        guard old.fingerprint != new.fingerprint else {
            throw LatchkeyError.badRequest("same_key", "The new key is the current key (\(old.fingerprint)).")
        }
        guard recorded == old.fingerprint else {
            throw LatchkeyError(
                .conflict, "key_mismatch",
                "The current key (fingerprint \(old.fingerprint)) is not this database's (fingerprint "
                    + "\(recorded ?? "none recorded")).")
        }
        if let target, target != new.fingerprint {
            throw LatchkeyError(
                .conflict, "rotation_under_way",
                "A rotation to the key with fingerprint \(target) is under way: finish it with that key.")
        }
        try await store.instance.beginRotation(to: new.fingerprint)

        var report = Report()
        for column in InstanceRepository.SealedColumn.allCases {
            var after: UUID?
            while true {
                let values = try await store.instance.sealedValues(column, after: after, limit: Self.chunk)
                guard let last = values.last else { break }
                after = last.id
                for value in values {
                    if let limit, report.resealed >= limit { return report }
                    let context = value.context.uuidString
                    if (try? new.open(value.sealed, context: context)) != nil {
                        report.alreadyNew += 1
                        continue
                    }
                    let plain = try Self.opening(value.sealed, with: old, context: context, what: column)
                    // Changed meanwhile (nothing should run, but a lost race only means it was sealed by that change).
                    if try await store.instance.replaceSealed(
                        column, id: value.id, old: value.sealed, new: try new.seal(plain, context: context))
                    {
                        report.resealed += 1
                    }
                }
            }
        }
        if let limit, report.resealed >= limit { return report }

        // Last: the database's own keys and the fingerprint, together, with the audit event.
        var sealedKeys: [String: String] = [:]
        for name in [DatabaseKeys.recoveryHashing, DatabaseKeys.auditChain] {
            guard let sealed = try await store.instance.sealedKey(name) else { continue }
            let plain = try Self.opening(sealed, with: old, context: DatabaseKeys.context(name), what: nil)
            sealedKeys[name] = try new.seal(plain, context: DatabaseKeys.context(name))
        }
        let (oldPrint, newPrint, now) = (old.fingerprint, new.fingerprint, clock.now())
        let (counts, keys) = (report, sealedKeys)
        try await store.transaction { tx in
            try await tx.instance.finishRotation(fingerprint: newPrint, sealedKeys: keys)
            try await tx.audit.append(
                AuditEntry(
                    organizationID: nil, actorEmail: "operator", actorRole: "operator", action: .keyRotated,
                    result: .success,
                    reason: "from \(oldPrint) to \(newPrint); \(counts.resealed + counts.alreadyNew) secrets sealed",
                    meta: .operator_),
                at: now)
        }
        report.finished = true
        return report
    }

    private static func opening(
        _ sealed: String, with key: ServerKey, context: String, what: InstanceRepository.SealedColumn?
    ) throws -> [UInt8] {
        do {
            return try key.open(sealed, context: context)
        } catch {
            throw LatchkeyError(
                .conflict, "unreadable_secret",
                "A stored secret (\(what.map { "\($0.rawValue) of \(context)" } ?? context)) opens with neither key.")
        }
    }
}
