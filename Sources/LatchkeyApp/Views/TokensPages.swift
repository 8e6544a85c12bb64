import Foundation
import LatchkeyCore
import LatchkeyStore

/// The API tokens page.
enum TokensPages {
    /// What the mint form holds (kept when a request is refused).
    struct Form {
        var name = ""
        var permissions: Set<Permission> = []
        var days = 30
    }

    static let dayChoices = [7, 30, 90, 180, 365]

    static func page(
        auth: AuthState, tokens: [APIToken], now: Date, notice: String?, error: String?,
        minted: (token: APIToken, text: String)?, form: Form, stepUpNeeded: Bool
    ) -> HTML {
        let seesAll = TokenService.seesAll(auth)
        let checkboxes = Layout.permissionCheckboxes(auth: auth, prefix: "token", checked: form.permissions)
        let days = HTML(
            unsafe: dayChoices.map {
                "<option value=\"\($0)\"\($0 == form.days ? " selected" : "")>\($0) days</option>"
            }.joined())
        let shown: HTML =
            minted.map { token, text in
                """
                <section class="card section" aria-labelledby="minted-heading">
                  <h2 id="minted-heading">Token “\(token.name)” created</h2>
                  <p>Copy it now: it is shown only this once and cannot be shown again. Send it as
                  <code>Authorization: Bearer &lt;token&gt;</code>.</p>
                  <p><code class="secret" id="minted-token">\(text)</code></p>
                  <div class="button-row">
                    <button type="button" class="button" data-copy-target="minted-token">Copy</button>
                    <span class="muted" id="copy-status" role="status" aria-live="polite"></span>
                  </div>
                  <p class="muted">It may: \(token.permissions.sorted().map(\.rawValue).joined(separator: ", ")).
                  It expires \(DateText.short(token.expiresAt)).</p>
                </section>
                """
            } ?? .empty
        let rows = tokens.map { token -> HTML in
            let status: (String, String) =
                token.revokedAt != nil
                ? ("Revoked", "badge-neutral")
                : (now >= token.expiresAt ? ("Expired", "badge-neutral") : ("Active", "badge-success"))
            let permissions = token.permissions.sorted().map { "<code>\($0.rawValue)</code>" }.joined(separator: " ")
            let revoke: HTML =
                token.isLive(at: now)
                ? """
                <form method="post" action="\(Route.tokenRevoke.path(token.id))" class="inline-form">
                  \(Layout.csrfField(auth.csrfToken))
                  <button type="submit" class="button button-quiet" aria-label="Revoke token \(token.name)">Revoke</button>
                </form>
                """ : .empty
            return """
                <tr data-token-id="\(token.id.lowercasedString)">
                  <td>\(token.name)<span class="sub"><code>\(token.prefix)…</code></span></td>
                  <td>\(HTML(unsafe: permissions))</td>
                  \(seesAll ? "<td>\(token.creatorName)<span class=\"sub\">\(token.creatorEmail)</span></td>" as HTML : .empty)
                  <td class="nowrap">\(token.lastUsedAt.map(DateText.short) ?? "Never")</td>
                  <td class="nowrap">\(DateText.short(token.expiresAt))</td>
                  <td><span class="badge \(status.1)">\(status.0)</span></td>
                  <td>\(revoke)</td>
                </tr>
                """
        }
        let table: HTML =
            tokens.isEmpty
            ? "<p class=\"muted\" id=\"no-tokens\">No tokens yet.</p>"
            : """
            <div class="table-wrap" tabindex="0" role="region" aria-label="API tokens">
            <table class="table" id="tokens-table">
              <thead><tr><th scope="col">Name</th><th scope="col">Permissions</th>\
            \(seesAll ? "<th scope=\"col\">Creator</th>" as HTML : .empty)<th scope="col">Last used</th>\
            <th scope="col">Expires</th><th scope="col">Status</th>\
            <th scope="col"><span class="visually-hidden">Revoke</span></th></tr></thead>
              <tbody>\(rows)</tbody>
            </table>
            </div>
            """
        let stepUp: HTML =
            auth.permissions.contains(.membersResetMFA)
            ? """
            <label for="token-code">Code from your authenticator app\(stepUpNeeded ? "" : " (optional)")</label>
            <input id="token-code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" \
            maxlength="6" aria-describedby="token-code-hint">
            <p class="help" id="token-code-hint">A token that may reset MFA needs a fresh confirmation that it's you
            and expires within 90 days.</p>
            """ : .empty
        return Layout.app(
            title: "API tokens", auth: auth, current: "tokens",
            content: """
                <h1>API tokens</h1>
                \(Layout.toast(notice))
                \(Layout.alert(error))
                \(shown)
                <section class="card section" aria-labelledby="tokens-heading">
                  <h2 id="tokens-heading">\(seesAll ? "Your organization's tokens" : "Your tokens")</h2>
                  <p class="muted">A token lets a script call the JSON API as you, with the permissions you give it
                  — never more than your role holds at the time of each request. It stops working when it is revoked,
                  when it expires, or when you are suspended or removed. Every action it takes is in the audit log
                  under your name and the token's.</p>
                  \(table)
                </section>
                <section class="card section" aria-labelledby="new-token-heading">
                  <h2 id="new-token-heading">New token</h2>
                  <form method="post" action="\(Route.tokens.path)" class="stack narrow">
                    \(Layout.csrfField(auth.csrfToken))
                    <label for="token-name">Name</label>
                    <input id="token-name" name="name" maxlength="100" required value="\(form.name)"
                      placeholder="Help-desk script">
                    <fieldset><legend>Permissions</legend>\(checkboxes)</fieldset>
                    <label for="token-days">Expires in</label>
                    <select id="token-days" name="days">\(days)</select>
                    \(stepUp)
                    <button type="submit" class="button button-primary">Create token</button>
                  </form>
                </section>
                """)
    }
}
