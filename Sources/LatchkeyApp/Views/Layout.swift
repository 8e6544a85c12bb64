import Foundation
import LatchkeyCore
import LatchkeyStore

/// The page frame: header with the organization and the member's menu, left navigation, content.
enum Layout {
    /// A full page for a signed-in member; the navigation shows only what their role may open.
    static func app(
        title: String, auth: AuthState, current: String, content: HTML, banner: HTML = .empty
    ) -> HTML {
        var items: [(String, String, String)] = [("home", Route.home.path, "Overview")]
        if auth.permissions.isSuperset(of: [.membersView, .membersManage]) {
            items.append(("members", Route.members.path, "Members"))
        }
        if auth.permissions.contains(.auditView) { items.append(("audit", Route.audit.path, "Audit log")) }
        if auth.permissions.contains(.rolesManage) { items.append(("roles", Route.roles.path, "Roles")) }
        if auth.permissions.contains(.orgSettings) { items.append(("settings", Route.settings.path, "Settings")) }
        // The demo without SMTP keeps its mail in the demo mailbox; anywhere else the Mail page shows delivery.
        if auth.demoMode && !auth.mailDelivery {
            if auth.permissions.contains(.membersView) { items.append(("mailbox", Route.mailbox.path, "Demo mailbox")) }
        } else if auth.permissions.contains(.orgSettings) {
            items.append(("mail", Route.mail.path, "Mail"))
        }
        if auth.permissions.isSuperset(of: WebhookService.required) {
            items.append(("webhooks", Route.webhooks.path, "Webhooks"))
        }
        if !auth.permissions.isEmpty { items.append(("tokens", Route.tokens.path, "API tokens")) }
        items.append(("security", Route.security.path, "My security"))
        let nav = items.map { key, href, label -> HTML in
            key == current
                ? "<li><a href=\"\(href)\" aria-current=\"page\">\(label)</a></li>"
                : "<li><a href=\"\(href)\">\(label)</a></li>"
        }
        let body: HTML = """
            <header class="topbar">
              <a class="brand" href="\(Route.home.path)"><span class="brand-mark" aria-hidden="true">L</span> Latchkey</a>
              <span class="org-name">\(auth.organizationName)</span>
              <div class="account">
                <span class="account-name">\(auth.memberName) <span class="muted">· \(auth.roleName)</span></span>
                <form method="post" action="\(Route.logout.path)" class="inline-form">
                  <input type="hidden" name="_csrf" value="\(auth.csrfToken)">
                  <button type="submit" class="button button-quiet">Sign out</button>
                </form>
              </div>
            </header>
            <div class="shell">
              <nav class="sidenav" aria-label="Main"><ul>\(nav)</ul></nav>
              <main id="main" class="content">
                \(banner)
                \(content)
              </main>
            </div>
            """
        return document(title: title, body: body)
    }

    /// A centred card for the sign-in and enrollment steps.
    static func card(title: String, content: HTML, wide: Bool = false) -> HTML {
        let body: HTML = """
            <main id="main" class="auth-shell">
              <div class="auth-brand"><span class="brand-mark" aria-hidden="true">L</span> Latchkey</div>
              <section class="card auth-card\(wide ? " auth-card-wide" : "")">
                \(content)
              </section>
            </main>
            """
        return document(title: title, body: body)
    }

    static func document(title: String, body: HTML) -> HTML {
        """
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>\(title) · Latchkey</title>
          <link rel="stylesheet" href="\(StaticAssets.shared.stylesheetPath)">
          <script src="\(StaticAssets.shared.scriptPath)" defer></script>
        </head>
        <body>
        <a class="skip-link" href="#main">Skip to content</a>
        \(body)
        </body>
        </html>
        """
    }

    /// An error or notice box; `role="alert"` so screen readers announce it.
    static func alert(_ message: String?, kind: String = "error") -> HTML {
        guard let message, !message.isEmpty else { return .empty }
        return "<div class=\"alert alert-\(kind)\" role=\"alert\">\(message)</div>"
    }

    /// One checkbox named `permission` per permission the member's role holds (all a role or token they make may
    /// get), ids `PREFIX-members-view`…, the `checked` ones ticked.
    static func permissionCheckboxes(auth: AuthState, prefix: String, checked: Set<Permission>) -> HTML {
        HTML(
            unsafe: Permission.allCases.filter { auth.permissions.contains($0) }.map { permission in
                let id = "\(prefix)-\(permission.rawValue.replacingOccurrences(of: ".", with: "-"))"
                return """
                    <label class="checkbox" for="\(id)"><input type="checkbox" id="\(id)" name="permission" \
                    value="\(permission.rawValue)"\(checked.contains(permission) ? " checked" : "")> \
                    \(HTML.escape(permission.label)) <code>\(permission.rawValue)</code></label>
                    """
            }.joined(separator: "\n"))
    }

    /// The one-time message after an action: announced politely (`role="status"`; an error as an alert) and
    /// dismissible with its ×.
    static func toast(_ message: String?, kind: String = "success") -> HTML {
        guard let message, !message.isEmpty else { return .empty }
        return """
            <div class="alert alert-\(kind) toast" role="\(kind == "error" ? "alert" : "status")" data-toast>\
            <span class="toast-text">\(message)</span>\
            <button type="button" class="toast-close" data-dismiss-toast aria-label="Dismiss this message"></button></div>
            """
    }

    static func csrfField(_ token: String) -> HTML {
        "<input type=\"hidden\" name=\"_csrf\" value=\"\(token)\">"
    }
}

enum ErrorPage {
    static func render(title: String, message: String) -> HTML {
        Layout.card(
            title: title,
            content: """
                <h1>\(title)</h1>
                <p>\(message)</p>
                <p><a href="\(Route.home.path)">Go to the start page</a></p>
                """)
    }
}
