import Foundation
import LatchkeyCore
import LatchkeyStore

/// Who takes an administrator action, as the server knows them — never from the request body: a signed-in
/// member, the server's operator at the shell (break-glass), or a background job acting for the member who
/// started it.
struct Actor: Sendable {
    /// Nil for the operator.
    var memberID: UUID?
    var email: String
    var name: String
    var roleName: String
    var permissions: Set<Permission>
    var organizationID: UUID
    var organizationName: String
    var requireMFA: Bool
    var meta: RequestMeta
    /// The member's last second factor and the organization's step-up window; nil where no step-up applies
    /// (the operator, or a job whose request passed it).
    var stepUp: StepUp?
    /// The API token the member acts through, if any (audit events name it).
    var token: TokenIdentity?

    struct StepUp: Sendable {
        var verifiedAt: Date?
        var window: TimeInterval
    }

    init(_ auth: AuthState, meta: RequestMeta) {
        memberID = auth.memberID
        email = auth.memberEmail
        name = auth.memberName
        roleName = auth.roleName
        permissions = auth.permissions
        organizationID = auth.organizationID
        organizationName = auth.organizationName
        requireMFA = auth.requireMFA
        self.meta = meta
        token = auth.token
        // A token's fresh MFA was its creation's (one that may reset MFA needs one and lives at most 90 days).
        stepUp =
            auth.token == nil
            ? StepUp(verifiedAt: auth.mfaVerifiedAt, window: TimeInterval(auth.stepUpWindowSeconds)) : nil
    }

    /// The server's operator, acting from the shell.
    init(operatorFor organization: Organization, meta: RequestMeta) {
        memberID = nil
        email = "operator"
        name = "The server operator"
        roleName = "operator"
        permissions = Set(Permission.allCases)
        organizationID = organization.id
        organizationName = organization.name
        requireMFA = organization.settings.requireMFA
        self.meta = meta
        stepUp = nil
    }

    /// A member acting as their role allows now, outside a request (a job, a benchmark, the demo's seeding): no
    /// step-up applies. A member who is not active acts with no permission.
    init(member: Member, organization: Organization, meta: RequestMeta) {
        self.init(operatorFor: organization, meta: meta)
        memberID = member.id
        email = member.email
        name = member.name
        roleName = member.roleName
        permissions = member.status == .active ? member.permissions : []
    }

    /// Throws `step_up_required` when the actor's last MFA is older than the organization's window.
    func requireFreshMFA(now: Date) throws {
        guard let stepUp else { return }
        guard let verified = stepUp.verifiedAt, now.timeIntervalSince(verified) <= stepUp.window else {
            throw LatchkeyError.forbidden(
                .stepUpRequired, "Confirm it's you: enter a code from your authenticator app.")
        }
    }

    /// Whether a step-up is due now.
    func needsStepUp(now: Date) -> Bool { (try? requireFreshMFA(now: now)) == nil }

    /// An audit event of this actor acting on a member (`target` nil: on the organization).
    func event(
        _ action: AuditAction, target: (id: UUID, email: String)?, _ result: AuditResult, reason: String = "",
        batchID: UUID? = nil, ticket: String = ""
    ) -> AuditEntry {
        AuditEntry(
            organizationID: organizationID, actorID: memberID, actorEmail: email, actorRole: roleName,
            action: action, targetID: target?.id, targetEmail: target?.email ?? "", result: result, reason: reason,
            batchID: batchID, meta: meta, ticket: ticket, token: token.map { ($0.id, $0.name) })
    }
}
