import Foundation
import LatchkeyApp
import LatchkeyCore
import LatchkeyStore

/// Seeds the demo organizations: Acme (MFA required, a few hundred members in every MFA state) and Globex
/// (MFA optional). Idempotent: an existing Acme is left as it is.
public struct DemoSeeder: Sendable {
    let services: AppServices

    public init(services: AppServices) { self.services = services }

    /// The password of every demo account (demo data only).
    public static let password = "latchkey-demo-pass"

    /// One seeded account as written to the credentials file.
    public struct Credential: Codable, Sendable {
        public var email: String
        public var name: String
        public var organization: String
        public var role: String
        public var password: String
        public var mfaStatus: String
        public var totpSecret: String?
        /// `active` or `suspended`.
        public var status: String
        /// Sign-in is locked by wrong attempts.
        public var locked: Bool

        enum CodingKeys: String, CodingKey {
            case email, name, organization, role, password, mfaStatus, totpSecret, status, locked
        }

        /// Writes `"totpSecret": null` for accounts without MFA rather than leaving the key out.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(email, forKey: .email)
            try container.encode(name, forKey: .name)
            try container.encode(organization, forKey: .organization)
            try container.encode(role, forKey: .role)
            try container.encode(password, forKey: .password)
            try container.encode(mfaStatus, forKey: .mfaStatus)
            try container.encode(status, forKey: .status)
            try container.encode(locked, forKey: .locked)
            if let totpSecret {
                try container.encode(totpSecret, forKey: .totpSecret)
            } else {
                try container.encodeNil(forKey: .totpSecret)
            }
        }
    }

    static let firstNames = [
        "Jane", "Sam", "Ana", "Priya", "Tom", "Lena", "Omar", "Grace", "Ken", "Maya", "Luis", "Ivy", "Noah", "Zoe",
        "Raj",
        "Elena", "Felix", "Hana", "Ivan", "Julia", "Kofi", "Mina", "Nils", "Olga", "Pablo",
    ]
    static let lastNames = [
        "Doe", "Lee", "Ruiz", "Shah", "Berg", "Novak", "Haddad", "Kim", "Sato", "Okafor", "Costa", "Muller", "Rossi",
        "Larsen", "Tanaka", "Silva",
    ]

    struct Plan {
        var email: String
        var name: String
        var role: String
        var mfa: MFAStatus
    }

    /// Seeds when absent; returns every demo account's credentials as they stand in the database.
    @discardableResult
    public func seed(acmeMembers: Int = 320) async throws -> [Credential] {
        if try await services.store.organizations.find(slug: "acme") == nil {
            try await seedAcme(memberCount: acmeMembers)
            try await seedGlobex()
        }
        return try await credentials()
    }

    private func seedAcme(memberCount: Int) async throws {
        let orgs = OrganizationService(services: services)
        let acme = try await orgs.createOrganization(name: "Acme", slug: "acme", requireMFA: true)
        let helpDesk = try await orgs.createRole(
            organizationID: acme.organizationID, name: "Help desk",
            permissions: [.membersView, .membersManage, .membersResetMFA])
        let support = try await orgs.createRole(
            organizationID: acme.organizationID, name: "Support", permissions: [.membersView, .membersManage])
        var plans = [
            Plan(email: "owner@acme.test", name: "Olivia Owner", role: "owner", mfa: .enabled),
            Plan(email: "admin@acme.test", name: "Adam Admin", role: "admin", mfa: .enabled),
            Plan(email: "admin2@acme.test", name: "Ada Admin", role: "admin", mfa: .enabled),
            Plan(email: "helpdesk@acme.test", name: "Hank Helpdesk", role: "helpdesk", mfa: .enabled),
            Plan(email: "support@acme.test", name: "Sasha Support", role: "support", mfa: .enabled),
            Plan(email: "jane.doe@acme.test", name: "Jane Doe", role: "member", mfa: .enabled),
            Plan(email: "sam.lee@acme.test", name: "Sam Lee", role: "member", mfa: .notSetUp),
            Plan(email: "ana.ruiz@acme.test", name: "Ana Ruiz", role: "member", mfa: .resetPending),
            Plan(email: "sid.stone@acme.test", name: "Sid Stone", role: "member", mfa: .enabled),
            Plan(email: "lou.meyer@acme.test", name: "Lou Meyer", role: "member", mfa: .enabled),
        ]
        for index in 0..<max(0, memberCount - plans.count) {
            let first = Self.firstNames[index % Self.firstNames.count]
            let last = Self.lastNames[(index / Self.firstNames.count) % Self.lastNames.count]
            // Six in ten enabled, three not set up, one pending after a reset.
            let mfa: MFAStatus = index % 10 < 6 ? .enabled : (index % 10 < 9 ? .notSetUp : .resetPending)
            plans.append(
                Plan(
                    email: "\(first.lowercased()).\(last.lowercased())\(index + 1)@acme.test", name: "\(first) \(last)",
                    role: "member", mfa: mfa))
        }
        var roleIDs = acme.roles.reduce(into: [String: UUID]()) { $0[$1.key.rawValue] = $1.value }
        roleIDs["helpdesk"] = helpDesk
        roleIDs["support"] = support
        try await insert(plans, organizationID: acme.organizationID, roleIDs: roleIDs)
        try await suspend("sid.stone@acme.test")
        try await lockSignIn("lou.meyer@acme.test")
        // Pending invitations, sent by the owner: their links are in the demo mailbox.
        _ = try await OperatorTools(services: services).invite(
            organizationSlug: "acme",
            rows: [
                .init(email: "nia.patel@example.com", name: "Nia Patel"),
                .init(email: "raj.mehta@example.com", name: "Raj Mehta", role: "Admin"),
                .init(email: "lena.fischer@example.com", name: "Lena Fischer", role: "Help desk"),
            ], defaultRole: "Member", inviter: "owner@acme.test")
    }

    /// Suspends a demo member through the operator's path (audited, mailed).
    private func suspend(_ email: String) async throws {
        _ = try await OperatorTools(services: services).lifecycle(
            .suspend, email: email, reason: "Demo: on leave")
    }

    /// Locks a demo member's sign-in the way an attacker would: 50 wrong second factors, each counted by the
    /// throttle itself (spread over the past so none waits), which stops them for good until an unlock.
    private func lockSignIn(_ email: String) async throws {
        guard let member = try await services.store.members.find(email: email) else { return }
        let subject = SignInThrottles.Subject(
            email: email, memberID: member.id, organizationID: member.organizationID)
        let bucket = SignInBucket.secondFactor(memberID: member.id)
        let limit = bucket.policy.hardLimit ?? 50
        for attempt in 0..<limit {
            let at = services.now.addingTimeInterval(-Double(limit - attempt) * 20 * 60)
            _ = try await services.store.throttles.claim([bucket], for: subject, now: at)
        }
    }

    private func seedGlobex() async throws {
        let orgs = OrganizationService(services: services)
        let globex = try await orgs.createOrganization(name: "Globex", slug: "globex", requireMFA: false)
        var plans = [
            Plan(email: "owner@globex.test", name: "Grace Globex", role: "owner", mfa: .enabled),
            Plan(email: "admin@globex.test", name: "Gus Admin", role: "admin", mfa: .enabled),
        ]
        for index in 0..<20 {
            let first = Self.firstNames[(index * 7) % Self.firstNames.count]
            let last = Self.lastNames[(index * 3) % Self.lastNames.count]
            plans.append(
                Plan(
                    email: "\(first.lowercased()).\(last.lowercased())\(index + 1)@globex.test",
                    name: "\(first) \(last)",
                    role: "member", mfa: index % 2 == 0 ? .enabled : .notSetUp))
        }
        let roleIDs = globex.roles.reduce(into: [String: UUID]()) { $0[$1.key.rawValue] = $1.value }
        try await insert(plans, organizationID: globex.organizationID, roleIDs: roleIDs)
    }

    /// Set-based inserts through the member repository (one bcrypt hash shared by every demo account).
    private func insert(_ plans: [Plan], organizationID: UUID, roleIDs: [String: UUID]) async throws {
        let now = services.now
        let hash = try await services.passwords.hash(Self.password)
        var members: [NewMember] = []
        for (index, plan) in plans.enumerated() {
            var member = NewMember(
                organizationID: organizationID, roleID: roleIDs[plan.role]!, email: plan.email, name: plan.name,
                passwordHash: hash, mfaStatus: plan.mfa, createdAt: now.addingTimeInterval(-86400 * 90))
            if index % 4 != 3 { member.lastSignInAt = now.addingTimeInterval(-Double((index * 7919) % (86400 * 30))) }
            if plan.mfa == .enabled {
                member.sealedTOTPSecret = try services.serverKey.seal(
                    services.random.bytes(20), context: member.id.uuidString)
                member.recoveryCodeHashes = RecoveryCodes.generate(using: services.random).map {
                    services.serverKey.hashRecoveryCode(RecoveryCodes.normalize($0)!)
                }
            }
            members.append(member)
        }
        try await services.store.members.insert(members)
    }

    /// Every account of the demo organizations with its current TOTP secret (decrypted; demo only).
    public func credentials() async throws -> [Credential] {
        let store = services.store
        var result: [Credential] = []
        for slug in ["acme", "globex"] {
            guard let organization = try await store.organizations.find(slug: slug) else { continue }
            let members = try await store.members.all(organizationID: organization.id)
            let secrets = try await store.credentials.confirmedSecrets(memberIDs: members.map(\.id))
            let locks = try await store.throttles.lockedUntil(memberIDs: members.map(\.id), now: services.now)
            for member in members where member.status != .invited {
                let secret = try secrets[member.id].map {
                    Base32.encode(try services.serverKey.open($0, context: member.id.uuidString))
                }
                result.append(
                    Credential(
                        email: member.email, name: member.name, organization: organization.name,
                        role: member.roleName, password: Self.password, mfaStatus: member.mfaStatus.rawValue,
                        totpSecret: secret, status: member.status.rawValue, locked: locks[member.id] != nil))
            }
        }
        return result
    }
}
