import Foundation
import LatchkeyCore
import LatchkeyStore

/// Texts of the notification mails.
enum Notifications {
    static func resetNotice(to target: Member, actor: Actor, ticket: String, at now: Date) -> OutboxMessage {
        let next =
            actor.requireMFA
            ? "The next time you sign in, you will be asked to set up an authenticator app again before you can continue."
            : "\(actor.organizationName) does not require MFA, but we recommend setting it up again on My security after you sign in."
        let body = """
            Hello \(target.name),

            \(actor.name) (\(actor.email)), \(actor.roleName) of \(actor.organizationName), reset the multi-factor \
            authentication (MFA) on your Latchkey account on \(DateText.short(now)).

            What was removed:
              • your authenticator app
              • your recovery codes
              • every signed-in session: you were signed out on all devices

            Your account, role and data were not changed.
            \(next)
            \(ticket.isEmpty ? "" : "\nReason or ticket given: \(ticket)\n")
            If you did not ask for this, contact your administrator or security team right away: someone may be \
            trying to take over your account.
            """
        return OutboxMessage(
            organizationID: actor.organizationID, toEmail: target.email,
            subject: "Your multi-factor authentication was reset", body: body, createdAt: now)
    }

    static func bulkSummary(to owner: Member, actor: Actor, batch: ResetBatch, at now: Date) -> OutboxMessage {
        let body = """
            Hello \(owner.name),

            \(actor.name) (\(actor.email)), \(actor.roleName), ran a bulk MFA reset in \(actor.organizationName) \
            on \(DateText.short(now)).

            \(batch.total) members selected: \(batch.resetCount) reset, \(batch.skippedCount) skipped, \
            \(batch.failedCount) failed.
            \(batch.reason.isEmpty ? "" : "Reason or ticket given: \(batch.reason)\n")
            Every reset member was signed out everywhere and must set up MFA again. The audit log lists each \
            member (batch \(batch.id.lowercasedString)).

            If this was not expected, review the audit log and contact \(actor.email).
            """
        return OutboxMessage(
            organizationID: actor.organizationID, toEmail: owner.email,
            subject: "Bulk MFA reset in \(actor.organizationName): \(batch.resetCount) members", body: body,
            createdAt: now)
    }

    static func settingsWeakened(to owner: Member, by auth: AuthState, effects: [String], at now: Date)
        -> OutboxMessage
    {
        let body = """
            Hello \(owner.name),

            \(auth.memberName) (\(auth.memberEmail)), \(auth.roleName), weakened the security settings of \
            \(auth.organizationName) on \(DateText.short(now)), confirmed with a code from their authenticator:

            \(effects.map { "- \($0)" }.joined(separator: "\n"))

            If this was not expected, review the settings and the audit log, and contact \(auth.memberEmail).
            """
        return OutboxMessage(
            organizationID: auth.organizationID, toEmail: owner.email,
            subject: "Security settings weakened in \(auth.organizationName)", body: body, createdAt: now)
    }

    static func lifecycleNotice(
        _ action: LifecycleAction, to member: Member, newRole: Role?, actor: Actor, ticket: String, at now: Date
    ) -> OutboxMessage {
        let (subject, what): (String, String) =
            switch action {
            case .changeRole:
                (
                    "Your role in \(actor.organizationName) changed",
                    "changed your role in \(actor.organizationName) from \(member.roleName) to \(newRole?.name ?? "another role")."
                )
            case .suspend:
                (
                    "Your \(actor.organizationName) account was suspended",
                    "suspended your account in \(actor.organizationName). You were signed out everywhere and cannot sign in until it is reactivated."
                )
            case .reactivate:
                (
                    "Your \(actor.organizationName) account was reactivated",
                    "reactivated your account in \(actor.organizationName). You can sign in again."
                )
            case .remove:
                (
                    "You were removed from \(actor.organizationName)",
                    "removed you from \(actor.organizationName). You were signed out everywhere and can no longer sign in."
                )
            }
        let body = """
            Hello \(member.name),

            \(actor.name) (\(actor.email)), \(actor.roleName) of \(actor.organizationName), \(what)
            \(ticket.isEmpty ? "" : "\nReason or ticket given: \(ticket)\n")
            This happened on \(DateText.short(now)). If you did not expect it, contact your administrator.
            """
        return OutboxMessage(
            organizationID: actor.organizationID, toEmail: member.email, subject: subject, body: body, createdAt: now)
    }
}

extension Notifications {
    enum PasswordChange { case changed, link }

    static func passwordLink(to member: Member, organizationName: String, url: String, at now: Date) -> OutboxMessage {
        let body = """
            Hello \(member.name),

            Someone asked to set a new password for your Latchkey account in \(organizationName) (\(member.email)) \
            on \(DateText.short(now)).

            Set a new password: \(url)

            The link works once, for one hour. Setting a new password signs you out everywhere; you will still be \
            asked for your authenticator code when you sign in.

            If you did not ask for this, ignore this message: your password stays as it is.
            """
        return OutboxMessage(
            organizationID: member.organizationID, toEmail: member.email, subject: "Set a new Latchkey password",
            body: body, createdAt: now)
    }

    static func passwordChanged(to member: Member, organizationName: String, how: PasswordChange, at now: Date)
        -> OutboxMessage
    {
        let what =
            switch how {
            case .changed: "was changed from My security. Your other sessions were signed out."
            case .link: "was set with a password link. You were signed out everywhere."
            }
        let body = """
            Hello \(member.name),

            The password of your Latchkey account in \(organizationName) (\(member.email)) \(what)
            This happened on \(DateText.short(now)).

            If this was not you, contact an administrator of \(organizationName) right away.
            """
        return OutboxMessage(
            organizationID: member.organizationID, toEmail: member.email, subject: "Your Latchkey password was changed",
            body: body, createdAt: now)
    }
}

extension Notifications {
    static func invitation(
        to email: String, name: String, role: String, actor: Actor, url: String, expiresAt: Date, at now: Date
    ) -> OutboxMessage {
        let body = """
            Hello \(name),

            \(actor.name) (\(actor.email)) invited you to join \(actor.organizationName) on Latchkey as \(role).

            Accept the invitation: \(url)

            You will choose your name and a password\(actor.requireMFA ? ", then set up an authenticator app (\(actor.organizationName) requires multi-factor authentication)" : ""). \
            The link works once, until \(DateText.short(expiresAt)).

            If you did not expect this, ignore this message.
            """
        return OutboxMessage(
            organizationID: actor.organizationID, toEmail: email,
            subject: "\(actor.name) invited you to \(actor.organizationName) on Latchkey", body: body, createdAt: now)
    }
}
