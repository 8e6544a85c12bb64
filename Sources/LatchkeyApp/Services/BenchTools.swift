import FluentKit
import Foundation
import LatchkeyCore
import LatchkeyStore
import SQLKit

/// Helpers for the benchmarks under `bench/`: bulk seeding and a timed bulk reset. Not for real data.
public struct BenchTools: Sendable {
    let services: AppServices

    public init(services: AppServices) { self.services = services }

    public struct Seeded: Codable, Sendable {
        public var organization: String
        public var members: Int
        public var ownerEmail: String
        public var ownerPassword: String
        public var ownerTOTPSecret: String
        public var seconds: Double
    }

    /// Creates organization `slug` with an owner (password + TOTP) and `count` enrolled members, each with
    /// an authenticator, two recovery codes and a session. Set-based, in chunks.
    public func seed(slug: String, count: Int) async throws -> Seeded {
        let started = Date()
        let orgs = OrganizationService(services: services)
        let created = try await orgs.createOrganization(name: "Bench \(slug)", slug: slug, requireMFA: true)
        let ownerEmail = "owner@\(slug).bench"
        let password = "bench-password-\(slug)"
        let ownerID = try await orgs.createMember(
            organizationID: created.organizationID, roleID: created.roles[.owner]!, email: ownerEmail,
            name: "Bench Owner",
            password: password)
        let ownerSecret = services.random.bytes(20)
        try await TOTPCredentialModel(
            memberID: ownerID, secretCiphertext: try services.serverKey.seal(ownerSecret, context: ownerID.uuidString),
            confirmed: true, createdAt: services.now
        ).create(on: services.db)
        try await MemberModel.query(on: services.db).filter(\.$id == ownerID)
            .set(\.$mfaStatus, to: MFAStatus.enabled.rawValue).update()
        let first = DemoSeeder.firstNames
        let last = DemoSeeder.lastNames
        let now = services.now
        for start in stride(from: 0, to: count, by: 1000) {
            var members: [SQLQueryString] = []
            var credentials: [SQLQueryString] = []
            var codes: [SQLQueryString] = []
            var sessions: [SQLQueryString] = []
            var indexed: [(id: UUID, organizationID: UUID, name: String, email: String)] = []
            for index in start..<min(start + 1000, count) {
                let id = UUID()
                let name = "\(first[index % first.count]) \(last[(index / first.count) % last.count]) \(index)"
                indexed.append((id, created.organizationID, name, "m\(index)@\(slug).bench"))
                let mfa: MFAStatus = index % 10 < 7 ? .enabled : (index % 10 < 9 ? .notSetUp : .resetPending)
                members.append(
                    "(\(bind: id), \(bind: created.organizationID), \(bind: created.roles[.member]!), \(bind: "m\(index)@\(slug).bench"), \(bind: name), 'x', 'active', \(bind: mfa.rawValue), \(bind: now))"
                )
                guard mfa == .enabled else { continue }
                let sealed = try services.serverKey.seal(services.random.bytes(20), context: id.uuidString)
                credentials.append("(\(bind: UUID()), \(bind: id), \(bind: sealed), \(bind: true), \(bind: now))")
                for n in 0..<2 {
                    codes.append("(\(bind: UUID()), \(bind: id), \(bind: sha256Hex("\(id)-\(n)")), \(bind: now))")
                }
                sessions.append(
                    "(\(bind: UUID()), \(bind: sha256Hex(id.uuidString)), \(bind: id), \(bind: created.organizationID), 'signed_in', 'c', \(bind: now), \(bind: now), \(bind: now.addingTimeInterval(86400)), '127.0.0.1', 'bench')"
                )
            }
            let memberRows = members.joined(separator: ", ")
            let credentialRows = credentials.joined(separator: ", ")
            let codeRows = codes.joined(separator: ", ")
            let sessionRows = sessions.joined(separator: ", ")
            let enrolled = !credentials.isEmpty
            let searchRows = indexed
            try await services.db.transaction { tx in
                let sql = tx as! any SQLDatabase
                try await sql.raw(
                    "INSERT INTO members (id, organization_id, role_id, email, name, password_hash, status, mfa_status, created_at) VALUES \(memberRows)"
                ).run()
                try await SearchIndex.add(searchRows, on: tx)
                if enrolled {
                    try await sql.raw(
                        "INSERT INTO totp_credentials (id, member_id, secret_ciphertext, confirmed, created_at) VALUES \(credentialRows)"
                    ).run()
                    try await sql.raw(
                        "INSERT INTO recovery_codes (id, member_id, code_hash, created_at) VALUES \(codeRows)"
                    ).run()
                    try await sql.raw(
                        "INSERT INTO sessions (id, token_hash, member_id, organization_id, state, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent) VALUES \(sessionRows)"
                    ).run()
                }
            }
        }
        return Seeded(
            organization: slug, members: count, ownerEmail: ownerEmail, ownerPassword: password,
            ownerTOTPSecret: Base32.encode(ownerSecret), seconds: Date().timeIntervalSince(started))
    }

    public struct Timed: Codable, Sendable {
        public var members: Int
        public var reset: Int
        public var skipped: Int
        public var failed: Int
        public var seconds: Double
    }

    /// Resets every member of `slug` (but the owner) in one request, as the owner, through the same code the
    /// server runs for a bulk request, and times it.
    public func resetAll(slug: String) async throws -> Timed {
        let db = services.db
        guard let organization = try await OrganizationModel.query(on: db).filter(\.$slug == slug).first(),
            let owner = try await MemberModel.query(on: db).filter(\.$email == "owner@\(slug).bench").first()
        else { throw LatchkeyError.notFound("Seed \(slug) first.") }
        let ids = try await MemberModel.query(on: db).filter(\.$organizationID == organization.id!)
            .filter(\.$id != owner.id!).all(\.$id)
        var actor = ResetService.Actor(
            operatorFor: organization, meta: RequestMeta(requestID: "bench", ip: "127.0.0.1", userAgent: "bench"))
        actor.memberID = owner.id
        actor.email = owner.email
        actor.roleName = "Owner"
        let service = ResetService(services: services)
        let started = Date()
        let (batch, _) = try await service.openBatch(
            actor: actor, memberIDs: ids, reason: "bench", idempotencyKey: nil, requestHash: "bench")
        try await service.process(batchID: batch.id!, actor: actor)
        let seconds = Date().timeIntervalSince(started)
        let done = try await ResetBatchModel.find(batch.id!, on: db)!
        return Timed(
            members: ids.count, reset: done.resetCount, skipped: done.skippedCount, failed: done.failedCount,
            seconds: seconds)
    }
}
