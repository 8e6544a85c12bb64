import Foundation
import LatchkeyApp
import LatchkeyCore
import LatchkeyStore

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
        let now = services.now
        var owner = NewMember(
            organizationID: created.organizationID, roleID: created.roles[.owner]!, email: ownerEmail,
            name: "Bench Owner", passwordHash: try await services.passwords.hash(password), mfaStatus: .enabled,
            createdAt: now)
        let ownerSecret = services.random.bytes(20)
        owner.sealedTOTPSecret = try services.serverKey.seal(ownerSecret, context: owner.id.uuidString)
        try await services.store.members.insert([owner])
        let first = DemoSeeder.firstNames
        let last = DemoSeeder.lastNames
        for start in stride(from: 0, to: count, by: 1000) {
            var members: [NewMember] = []
            for index in start..<min(start + 1000, count) {
                let name = "\(first[index % first.count]) \(last[(index / first.count) % last.count]) \(index)"
                let mfa: MFAStatus = index % 10 < 7 ? .enabled : (index % 10 < 9 ? .notSetUp : .resetPending)
                var member = NewMember(
                    organizationID: created.organizationID, roleID: created.roles[.member]!,
                    email: "m\(index)@\(slug).bench", name: name, passwordHash: "x", mfaStatus: mfa, createdAt: now)
                if mfa == .enabled {
                    member.sealedTOTPSecret = try services.serverKey.seal(
                        services.random.bytes(20), context: member.id.uuidString)
                    member.recoveryCodeHashes = (0..<2).map { sha256Hex("\(member.id)-\($0)") }
                    member.sessionTokenHash = sha256Hex(member.id.uuidString)
                }
                members.append(member)
            }
            try await services.store.members.insert(members)
        }
        return Seeded(
            organization: slug, members: count, ownerEmail: ownerEmail, ownerPassword: password,
            ownerTOTPSecret: Base32.encode(ownerSecret), seconds: Date().timeIntervalSince(started))
    }

    /// A session past the password step, waiting for its code: what a client needs to finish signing in.
    public struct Pending: Codable, Sendable {
        public var token: String
        public var csrfToken: String
        public var totpSecret: String
    }

    /// Adds `count` enrolled members to `slug` (`mfa<i>@<slug>.bench`), each with a session at the second factor,
    /// as if each had just given the right password. Their authenticators' secrets are returned.
    public func pendingSessions(slug: String, count: Int) async throws -> [Pending] {
        let (organization, _) = try await seeded(slug)
        guard
            let role = try await services.store.organizations.roles(organizationID: organization.id)
                .first(where: { $0.builtIn == .member })
        else { throw LatchkeyError.notFound("No Member role in \(slug).") }
        var pending: [Pending] = []
        for start in stride(from: 0, to: count, by: 1000) {
            var members: [NewMember] = []
            for index in start..<min(start + 1000, count) {
                var member = NewMember(
                    organizationID: organization.id, roleID: role.id, email: "mfa\(index)@\(slug).bench",
                    name: "MFA Bench \(index)", passwordHash: "x", mfaStatus: .enabled, createdAt: services.now)
                let secret = services.random.bytes(20)
                member.sealedTOTPSecret = try services.serverKey.seal(secret, context: member.id.uuidString)
                let token = services.random.token()
                member.sessionTokenHash = sha256Hex(token)
                member.sessionState = .mfaPending
                members.append(member)
                pending.append(Pending(token: token, csrfToken: "c", totpSecret: Base32.encode(secret)))
            }
            try await services.store.members.insert(members)
        }
        return pending
    }

    /// Adds `count` enrolled members to `slug` (`signin<i>@<slug>.bench`) whose password is `password`, hashed at
    /// the configured cost (one hash shared: each verification costs the same); returns their emails. Each
    /// account takes one sign-in of the throughput benchmark, so no account's throttle meets a burst.
    public func signInAccounts(slug: String, count: Int, password: String) async throws -> [String] {
        let (organization, _) = try await seeded(slug)
        guard
            let role = try await services.store.organizations.roles(organizationID: organization.id)
                .first(where: { $0.builtIn == .member })
        else { throw LatchkeyError.notFound("No Member role in \(slug).") }
        let hash = try await services.passwords.hash(password)
        let members = (0..<count).map { index in
            NewMember(
                organizationID: organization.id, roleID: role.id, email: "signin\(index)@\(slug).bench",
                name: "Sign-in Bench \(index)", passwordHash: hash, mfaStatus: .notSetUp, createdAt: services.now)
        }
        try await services.store.members.insert(members)
        return members.map(\.email)
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
        let store = services.store
        guard let organization = try await store.organizations.find(slug: slug),
            let owner = try await store.members.find(email: "owner@\(slug).bench")
        else { throw LatchkeyError.notFound("Seed \(slug) first.") }
        let ids = try await store.members.ids(organizationID: organization.id).filter { $0 != owner.id }
        let started = Date()
        let batch = try await ResetBench(services: services).run(
            ownerID: owner.id, organization: organization, memberIDs: ids)
        return Timed(
            members: ids.count, reset: batch.resetCount, skipped: batch.skippedCount, failed: batch.failedCount,
            seconds: Date().timeIntervalSince(started))
    }

    /// One timed bulk request: how many it asked for and changed, and its wall time.
    public struct TimedBulk: Codable, Sendable {
        public var requested: Int
        public var changed: Int
        public var seconds: Double
    }

    /// Invites `count` new people (`invitee1@<slug>.invite` …) to `slug` in one request, as its owner, and times it.
    public func inviteMany(slug: String, count: Int) async throws -> TimedBulk {
        let (organization, owner) = try await seeded(slug)
        let emails = (1...count).map { "invitee\($0)@\(slug).invite" }
        let started = Date()
        let invited = try await LifecycleBench(services: services).invite(
            ownerID: owner.id, organization: organization, emails: emails)
        return TimedBulk(requested: count, changed: invited, seconds: Date().timeIntervalSince(started))
    }

    /// Gives every member of `slug` but the owner the role `role` in one request, as the owner, and times it.
    public func changeRoleOfAll(slug: String, role: String) async throws -> TimedBulk {
        let (organization, owner) = try await seeded(slug)
        let ids = try await services.store.members.ids(organizationID: organization.id).filter { $0 != owner.id }
        let started = Date()
        let changed = try await LifecycleBench(services: services).changeRole(
            ownerID: owner.id, organization: organization, memberIDs: ids, roleName: role)
        return TimedBulk(requested: ids.count, changed: changed, seconds: Date().timeIntervalSince(started))
    }

    private func seeded(_ slug: String) async throws -> (Organization, Member) {
        guard let organization = try await services.store.organizations.find(slug: slug),
            let owner = try await services.store.members.find(email: "owner@\(slug).bench")
        else { throw LatchkeyError.notFound("Seed \(slug) first.") }
        return (organization, owner)
    }
}
