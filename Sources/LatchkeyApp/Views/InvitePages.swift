import Foundation
import LatchkeyCore
import LatchkeyStore

/// Inviting people: the Members page's "Invite members" dialog, the ⋮ items of an invited row, the per-row
/// results, and the page where the invited person accepts.
enum InvitePages {
    static func dialog(_ m: MembersPages.Model) -> HTML {
        let grantable = m.roles.filter { (m.rolePermissions[$0.id] ?? []).isSubset(of: m.auth.permissions) }
        let options = grantable.map { role -> HTML in
            "<option value=\"\(role.id.lowercasedString)\"\(HTML(unsafe: role.name == "Member" ? " selected" : ""))>\(role.name)</option>"
        }
        return """
            <dialog id="invite-dialog" class="modal modal-wide" aria-labelledby="invite-title" aria-describedby="invite-desc">
              <form method="post" action="\(Route.membersInvite.path)" class="stack">
                \(Layout.csrfField(m.auth.csrfToken))
                <h2 id="invite-title">Invite members to \(m.auth.organizationName)</h2>
                <p id="invite-desc">Each person gets an email with a link to join, valid for 7 days. One email per line, \
                or lines of <code>email,name,role</code> (a CSV file with that header works too); up to \
                \(BulkLimits.maximumPerRequest.grouped) at once.</p>
                <label for="invite-emails">Emails</label>
                <textarea id="invite-emails" name="invitations" rows="7" required spellcheck="false"
                          placeholder="jane@example.com&#10;joe@example.com,Joe Bloggs,Admin"></textarea>
                <label for="invite-file">Or read a CSV file</label>
                <input id="invite-file" type="file" accept=".csv,text/csv,text/plain" data-invite-file>
                <label for="invite-role">Role (for lines that name none)</label>
                <select id="invite-role" name="roleId" required>\(options)</select>
                <p class="help">Only roles with no more access than yours are offered.</p>
                <p class="preview" id="invite-preview" aria-live="polite"></p>
                <div class="modal-actions">
                  <button type="button" class="button" data-close>Cancel</button>
                  <button type="submit" class="button button-primary">Send invitations</button>
                </div>
              </form>
            </dialog>
            """
    }

    /// ⋮ on an invited row: Change role…, Resend invitation, Revoke invitation.
    static func menuItems(_ m: MembersPages.Model, _ row: MemberDirectory.Row, targetPermissions: Set<Permission>)
        -> [HTML]
    {
        let id = row.id.lowercasedString
        guard targetPermissions.isSubset(of: m.auth.permissions) else {
            let hintID = "invite-hint-\(id)"
            let hint = "You can't manage an invitation to \(row.roleName)"
            return [
                """
                <li role="none"><button type="button" role="menuitem"\(MembersPages.disabledItem(hint, id: hintID))>Resend invitation</button>\(MembersPages.menuHint(hint, id: hintID))</li>
                """
            ]
        }
        let form = { (route: Route, label: String, data: String) -> HTML in
            """
            <li role="none"><form method="post" action="\(route.path(row.id))">\(Layout.csrfField(m.auth.csrfToken))\(MembersPages.returnField(m))<button type="submit" role="menuitem" \(data)="\(id)">\(label)</button></form></li>
            """
        }
        return [
            """
            <li role="none"><button type="button" role="menuitem" data-lifecycle="role">Change role…</button></li>
            """,
            form(.memberInvitationResend, "Resend invitation", "data-resend"),
            form(.memberInvitationRevoke, "Revoke invitation", "data-revoke"),
        ]
    }

    static func results(auth: AuthState, outcomes: [InvitationService.Outcome]) -> HTML {
        let invited = outcomes.filter { $0.status == .invited }.count
        let skipped = outcomes.filter { $0.status == .skipped }.count
        let failed = outcomes.filter { $0.status == .failed }.count
        // Failures first, then skips: what needs a look comes first.
        let order: [InvitationService.Outcome.Status: Int] = [.failed: 0, .skipped: 1, .invited: 2]
        let sorted = outcomes.enumerated().sorted {
            (order[$0.element.status]!, $0.offset) < (order[$1.element.status]!, $1.offset)
        }.map(\.element)
        let rows = sorted.map { o -> HTML in
            let badge: HTML =
                switch o.status {
                case .invited: "<span class=\"badge badge-success\">Invited</span>"
                case .skipped: "<span class=\"badge badge-neutral\">Skipped</span>"
                case .failed: "<span class=\"badge badge-danger\">Failed</span>"
                }
            return """
                <tr><td>\(o.email.isEmpty ? "—" : o.email)</td><td>\(o.roleName ?? "—")</td><td>\(badge)</td><td>\(o.reason ?? "")</td></tr>
                """
        }
        let summary =
            "\(invited.grouped) invited, \(skipped.grouped) skipped, \(failed.grouped) failed"
        // The results are not stored (an invitation's own record is its member row and audit event): the CSV
        // travels in the page, as a download link.
        let csv =
            (["email,role,result,code,reason"]
            + sorted.map { o in
                [o.email, o.roleName ?? "", o.status.rawValue, o.code, o.reason ?? ""].map(CSV.field)
                    .joined(separator: ",")
            }).joined(separator: "\r\n") + "\r\n"
        let csvLink =
            "data:text/csv;charset=utf-8,"
            + (csv.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        return Layout.app(
            title: "Invitations", auth: auth, current: "members",
            content: """
                <div class="page-head"><h1>Invitations</h1>
                  <div class="button-row">
                    <a class="button" id="invite-csv" href="\(csvLink)" download="invitations.csv">Download CSV</a>
                    <a class="button" href="\(Route.members.path)?status=invited">Pending invitations</a>
                  </div></div>
                <div class="alert alert-\(failed > 0 ? "warning" : "success")" role="status"><p><strong>\(summary).</strong> \
                \(invited > 0 ? "An email with a link valid for 7 days is queued for each invited person." : "")</p></div>
                <div class="table-wrap" tabindex="0" role="region" aria-label="Results">
                <table class="table">
                  <thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Result</th><th scope="col">Reason</th></tr></thead>
                  <tbody>\(rows)</tbody>
                </table>
                </div>
                <p><a href="\(Route.members.path)">Back to Members</a></p>
                """)
    }

    /// The invited person's page: who invited them to what, then their name and a password.
    static func accept(
        csrf: String, token: String, invitation: InvitationService.Invitation?, name: String? = nil,
        error: String? = nil
    ) -> HTML {
        guard let invitation else {
            return Layout.card(
                title: "Invitation expired",
                content: """
                    <h1>This invitation can't be used</h1>
                    <p>It has expired, was already used, or was withdrawn. Ask the person who invited you to send a new one.</p>
                    <p><a href="\(Route.login.path)">Sign in</a> if you already joined.</p>
                    """)
        }
        let organization = invitation.organization
        let mfa: HTML =
            organization.settings.requireMFA
            ? "<p class=\"help\">Next, \(organization.name) asks you to set up an authenticator app.</p>" : .empty
        return Layout.card(
            title: "Join \(organization.name)",
            content: """
                <h1>Join \(organization.name)</h1>
                <p><strong>\(invitation.inviterName)</strong> invited you to join <strong>\(organization.name)</strong> \
                on Latchkey as \(invitation.member.roleName).</p>
                \(Layout.alert(error))
                <form method="post" action="\(Route.invitationAccept.path)" class="stack">
                  \(Layout.csrfField(csrf))
                  <input type="hidden" name="token" value="\(token)">
                  <label for="accept-email">Email</label>
                  <input id="accept-email" name="email" type="email" value="\(invitation.member.email)" autocomplete="username" readonly>
                  <label for="accept-name">Your name</label>
                  <input id="accept-name" name="name" required maxlength="\(InvitationService.maximumNameLength)" autocomplete="name"
                         value="\(name ?? invitation.member.name)" autofocus>
                  <label for="new-password">Password</label>
                  <input id="new-password" name="password" type="password" autocomplete="new-password" required
                         minlength="\(PasswordPolicy.minimumLength)" maxlength="\(PasswordPolicy.maximumLength)" aria-describedby="password-rule">
                  <p class="help" id="password-rule">\(PasswordPolicy.minimumLength) to \(PasswordPolicy.maximumLength) characters; not a common password and not your email.</p>
                  <label for="confirm-password">Password again</label>
                  <input id="confirm-password" name="confirmPassword" type="password" autocomplete="new-password" required>
                  \(mfa)
                  <button type="submit" class="button button-primary">Join \(organization.name)</button>
                </form>
                """)
    }
}
