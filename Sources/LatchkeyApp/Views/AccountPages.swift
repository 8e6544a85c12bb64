import Foundation
import LatchkeyCore
import LatchkeyStore

/// The signed-in member's pages: overview and My security.
enum AccountPages {
    /// The invitation to set up MFA where the organization does not require it.
    static func optionalMFABanner(_ auth: AuthState) -> HTML {
        guard auth.mfaStatus != .enabled, !auth.requireMFA else { return .empty }
        return """
            <div class="banner" role="region" aria-label="Security recommendation">
              <strong>Protect your account with two-step verification.</strong>
              <span>Set up an authenticator app so a stolen password is not enough to sign in.</span>
              <a class="button button-primary" href="\(Route.security.path)">Set up MFA</a>
            </div>
            """
    }

    /// What an administrator sees first: MFA coverage, and recent resets with their state.
    struct Dashboard {
        var coverage: MemberDirectory.Coverage
        /// Recent batches with their actor's name (nil when the viewer may not see resets).
        var resets: [(batch: ResetBatch, actor: String)]?
        /// A few pending invitations: who, as what, sent by whom and until when.
        var invitations: [(row: MemberDirectory.Row, invitedBy: String, expiresAt: Date?)] = []
        var now = Date()
    }

    static func home(auth: AuthState, dashboard: Dashboard?) -> HTML {
        Layout.app(
            title: "Overview", auth: auth, current: "home",
            content: """
                <h1>Welcome, \(auth.memberName)</h1>
                \(dashboard.map(self.dashboard) ?? .empty)
                <dl class="facts">
                  <div><dt>Organization</dt><dd id="org-name">\(auth.organizationName)</dd></div>
                  <div><dt>Role</dt><dd id="role-name">\(auth.roleName)</dd></div>
                  <div><dt>Email</dt><dd>\(auth.memberEmail)</dd></div>
                  <div><dt>Multi-factor authentication</dt><dd>\(StatusBadge.mfa(auth.mfaStatus))</dd></div>
                </dl>
                """, banner: optionalMFABanner(auth))
    }

    struct SessionRow {
        var id: UUID
        var createdAt: Date
        var lastSeenAt: Date
        var ip: String
        var userAgent: String
        var current: Bool
    }

    static func security(
        auth: AuthState, hasAuthenticator: Bool, recoveryCodesLeft: Int, sessions: [SessionRow], notice: String? = nil,
        error: String? = nil
    ) -> HTML {
        let rows = sessions.map { row -> HTML in
            let action: HTML =
                row.current
                ? "<span class=\"badge badge-neutral\">This device</span>"
                : """
                <form method="post" action="\(Route.securitySessionRevoke.path(row.id))" class="inline-form">
                  \(Layout.csrfField(auth.csrfToken))
                  <button type="submit" class="button button-small">Sign out</button>
                </form>
                """
            return """
                <tr>
                  <td>\(DateText.short(row.createdAt))</td>
                  <td>\(DateText.short(row.lastSeenAt))</td>
                  <td>\(row.ip)</td>
                  <td><span title="\(row.userAgent)">\(UserAgentLabel.describe(row.userAgent))</span></td>
                  <td>\(action)</td>
                </tr>
                """
        }
        // One code field per action, each saying what its code is for (not three identical fields).
        let codeField = { (id: String, purpose: String) -> HTML in
            """
            <label for="current-code-\(id)">\(purpose)</label>
            <input id="current-code-\(id)" name="code" class="code-input" inputmode="numeric" autocomplete="one-time-code"
                   pattern="[0-9]{6}" maxlength="6" required aria-describedby="current-code-\(id)-help">
            <p class="help" id="current-code-\(id)-help">The 6-digit code your authenticator app shows now.</p>
            """
        }
        let authenticator: HTML
        if hasAuthenticator {
            authenticator = """
                <p>\(StatusBadge.mfa(.enabled)) An authenticator app is set up.</p>
                <form method="post" action="\(Route.securityAuthenticator.path)" class="stack narrow">
                  \(Layout.csrfField(auth.csrfToken))
                  \(codeField("replace", "Code to confirm replacing your authenticator app"))
                  <button type="submit" class="button">Replace authenticator app</button>
                </form>
                """
        } else {
            authenticator = """
                <p>\(StatusBadge.mfa(auth.mfaStatus)) No authenticator app is set up.</p>
                <form method="post" action="\(Route.securityAuthenticator.path)" class="stack narrow">
                  \(Layout.csrfField(auth.csrfToken))
                  <button type="submit" class="button button-primary">Set up authenticator app</button>
                </form>
                """
        }
        let recovery: HTML =
            hasAuthenticator
            ? """
            <p>\(recoveryCodesLeft) of \(RecoveryCodes.count) recovery codes left.</p>
            <form method="post" action="\(Route.securityRecoveryCodes.path)" class="stack narrow">
              \(Layout.csrfField(auth.csrfToken))
              \(codeField("recovery", "Code to confirm new recovery codes"))
              <button type="submit" class="button">Generate new recovery codes</button>
            </form>
            """
            : "<p class=\"muted\">Recovery codes come with an authenticator app.</p>"
        let password: HTML = """
            <form method="post" action="\(Route.securityPassword.path)" class="stack narrow">
              \(Layout.csrfField(auth.csrfToken))
              <label for="current-password">Current password</label>
              <input id="current-password" name="currentPassword" type="password" autocomplete="current-password" required>
              <label for="new-password">New password</label>
              <input id="new-password" name="newPassword" type="password" autocomplete="new-password" required
                     minlength="\(PasswordPolicy.minimumLength)" maxlength="\(PasswordPolicy.maximumLength)" aria-describedby="password-rule">
              <p class="help" id="password-rule">\(PasswordPolicy.minimumLength) to \(PasswordPolicy.maximumLength) characters; not a common password and not your email.</p>
              <label for="confirm-password">New password again</label>
              <input id="confirm-password" name="confirmPassword" type="password" autocomplete="new-password" required>
              \(hasAuthenticator ? codeField("password", "Code to confirm the password change") : .empty)
              <button type="submit" class="button">Change password</button>
              <p class="help">Your other sessions are signed out.</p>
            </form>
            """
        return Layout.app(
            title: "My security", auth: auth, current: "security",
            content: """
                <h1>My security</h1>
                \(Layout.toast(notice))
                \(Layout.alert(error))
                <section class="card section" aria-labelledby="password-heading">
                  <h2 id="password-heading">Password</h2>
                  \(password)
                </section>
                <section class="card section" aria-labelledby="authenticator-heading">
                  <h2 id="authenticator-heading">Authenticator app</h2>
                  \(authenticator)
                </section>
                <section class="card section" aria-labelledby="recovery-heading">
                  <h2 id="recovery-heading">Recovery codes</h2>
                  \(recovery)
                </section>
                <section class="card section" aria-labelledby="sessions-heading">
                  <div class="page-head"><h2 id="sessions-heading">Where you're signed in</h2>
                  \(sessions.count > 1 ? HTML(unsafe: """
                      <form method="post" action="\(Route.securitySessionsRevokeOthers.path)" class="inline-form">\(Layout.csrfField(auth.csrfToken).raw)\
                      <button type="submit" class="button" id="revoke-others">Sign out all other sessions</button></form>
                      """) : .empty)</div>
                  <div class="table-wrap" tabindex="0" role="region" aria-label="Your sessions">
                  <table class="table">
                    <thead><tr><th scope="col">Signed in</th><th scope="col">Last active</th><th scope="col">IP address</th>
                      <th scope="col">Device</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
                    <tbody>\(rows)</tbody>
                  </table>
                  </div>
                </section>
                """, banner: optionalMFABanner(auth))
    }
}

enum StatusBadge {
    static func mfa(_ status: MFAStatus) -> HTML {
        switch status {
        case .enabled: "<span class=\"badge badge-success\"><span aria-hidden=\"true\">●</span> \(status.label)</span>"
        case .notSetUp: "<span class=\"badge badge-neutral\"><span aria-hidden=\"true\">○</span> \(status.label)</span>"
        case .resetPending:
            "<span class=\"badge badge-warning\"><span aria-hidden=\"true\">◐</span> \(status.label)</span>"
        }
    }
}

extension AccountPages {
    /// MFA coverage as a stacked bar (an inline SVG image) with a legend whose every part links to the table
    /// filtered on it (the links are text, so nothing rests on colour alone), and
    /// the recent resets with links to their results.
    static func dashboard(_ d: Dashboard) -> HTML {
        let c = d.coverage
        let parts: [(label: String, count: Int, query: String, css: String)] = [
            ("Enabled", c.enabled, "mfa=enabled", "seg-enabled"),
            ("Not set up", c.notSetUp, "mfa=not_set_up", "seg-none"),
            ("Reset — pending setup", c.resetPending, "mfa=reset_pending", "seg-pending"),
        ]
        var x = 0.0
        let segments = parts.filter { $0.count > 0 }.map { part -> HTML in
            let width = c.total == 0 ? 0 : Double(part.count) / Double(c.total) * 100
            defer { x += width }
            return """
                <rect class="\(part.css)" x="\(String(format: "%.3f", x))%" y="0" width="\(String(format: "%.3f", width))%" \
                height="100%"><title>\(part.label): \(part.count)</title></rect>
                """
        }
        let percent = c.total == 0 ? 0 : c.enabled * 100 / c.total
        let legend =
            (parts.map { ($0.label, $0.count, $0.query, $0.css) } + [
                ("Locked", c.locked, "status=locked", "seg-locked"),
                ("Suspended", c.suspended, "status=suspended", "seg-suspended"),
                ("Invited", c.invited, "status=invited", "seg-invited"),
            ]).map { label, count, query, css -> HTML in
                """
                <li><span class="swatch \(css)" aria-hidden="true"></span>
                  <a href="\(Route.members.path)?\(query)">\(label)</a> <strong>\(count.grouped)</strong></li>
                """
            }
        let resets: HTML =
            d.resets.map { resets in
                let rows = resets.map { batch, actor -> HTML in
                    let state: String =
                        batch.status == .completed
                        ? "\(batch.resetCount) reset · \(batch.skippedCount) skipped · \(batch.failedCount) failed"
                        : "Running — \(batch.processed.grouped) of \(batch.total.grouped)"
                    return """
                        <tr>
                          <td>\(DateText.short(batch.createdAt))</td>
                          <td>\(actor)</td>
                          <td>\(batch.total.grouped)</td>
                          <td>\(state)</td>
                          <td><a href="\(Route.resetResults.path(batch.id))">\(batch.status == .completed ? "Results" : "Progress")</a></td>
                        </tr>
                        """
                }
                return """
                    <section class="card section" aria-labelledby="resets-heading">
                      <h2 id="resets-heading">Recent MFA resets</h2>
                      \(resets.isEmpty
                        ? HTML(unsafe: "<p class=\"empty\">No resets yet.</p>")
                        : """
                        <div class="table-wrap" tabindex="0" role="region" aria-label="Recent MFA resets">
                        <table class="table">
                          <thead><tr><th scope="col">When</th><th scope="col">By</th><th scope="col">Members</th>
                            <th scope="col">Outcome</th><th scope="col"><span class="visually-hidden">Link</span></th></tr></thead>
                          <tbody>\(rows)</tbody>
                        </table>
                        </div>
                        """)
                    </section>
                    """
            } ?? .empty
        return """
            <section class="card section" aria-labelledby="coverage-heading">
              <h2 id="coverage-heading">MFA coverage</h2>
              <p><strong>\(percent)%</strong> of \(c.total.grouped) members have MFA enabled.</p>
              <svg class="coverage" role="img" aria-label="MFA coverage: \(c.enabled) enabled, \(c.notSetUp) not set up, \(c.resetPending) pending setup after a reset"
                   width="100%" height="28" preserveAspectRatio="none">\(segments)</svg>
              <ul class="legend">\(legend)</ul>
            </section>
            \(resets)
            \(invitations(d))
            """
    }

    static func invitations(_ d: Dashboard) -> HTML {
        let rows = d.invitations.map { row, invitedBy, expiresAt -> HTML in
            let expiry: String =
                if let expiresAt, expiresAt > d.now { "until \(DateText.short(expiresAt))" } else { "expired" }
            return """
                <tr><td><a href="\(Route.memberPage.path(row.id))">\(row.email)</a></td><td>\(row.roleName)</td>
                <td>\(invitedBy)</td><td>\(expiry)</td></tr>
                """
        }
        let count = d.coverage.invited
        return """
            <section class="card section" aria-labelledby="invitations-heading">
              <h2 id="invitations-heading">Pending invitations</h2>
              \(count == 0
                ? HTML(unsafe: "<p class=\"empty\">No pending invitations.</p>")
                : """
                <div class="table-wrap" tabindex="0" role="region" aria-label="Pending invitations">
                <table class="table">
                  <thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Invited by</th><th scope="col">Link</th></tr></thead>
                  <tbody>\(rows)</tbody>
                </table>
                </div>
                <p><a href="\(Route.members.path)?status=invited">All \(count.grouped) pending invitations</a></p>
                """)
            </section>
            """
    }
}
