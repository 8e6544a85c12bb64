import Foundation
import LatchkeyCore
import LatchkeyStore

/// The Mail page: what the outbox holds and what became of it. Never a message's body — mail carries
/// sign-in links meant for its recipient only.
enum MailPages {
    struct Model {
        var messages: [OutboxMessage]
        var counts: [OutboxMessage.Status: Int]
        var status: OutboxMessage.Status?
        var nextCursor: String?
        /// The configured server as safe to show (`smtp://user:***@host:587`), nil when none is configured.
        var server: String?
        var sender: String
        var notice: String?
    }

    static func page(auth: AuthState, model: Model) -> HTML {
        let delivery: HTML =
            if let server = model.server {
                """
                <p class="muted">Mail is handed to <code>\(server)</code> from <code>\(model.sender)</code>. \
                Temporary failures are tried again for 24 hours; the server's last answer is shown.</p>
                """
            } else {
                """
                <div class="alert alert-warning" role="status"><p><strong>No mail server is configured: nothing is \
                sent.</strong> Messages wait here until <code>LATCHKEY_SMTP_URL</code> is set; then they go out.</p></div>
                """
            }
        let total = model.counts.values.reduce(0, +)
        let tabs = ([nil] + OutboxMessage.Status.allCases.map { Optional($0) }).map { status -> HTML in
            let label = status.map(label) ?? "All"
            let count = status.map { model.counts[$0] ?? 0 } ?? total
            let href = status.map { "\(Route.mail.path)?status=\($0.rawValue)" } ?? Route.mail.path
            let current = status == model.status ? " aria-current=\"page\"" : ""
            return "<li><a href=\"\(href)\"\(current)>\(label) <span class=\"count\">\(count)</span></a></li>"
        }
        let rows = model.messages.map { m -> HTML in
            let retry: HTML =
                m.status == .sent
                ? .empty
                : """
                <form method="post" action="\(Route.mailRetry.path(m.id))" class="inline-form">
                  <input type="hidden" name="_csrf" value="\(auth.csrfToken)">
                  <button type="submit" class="button button-small">\(m.status == .failed ? "Retry" : "Send now")</button>
                </form>
                """
            let when: String =
                switch m.status {
                case .sent: DateText.short(m.sentAt!)
                case .failed: DateText.short(m.failedAt!)
                case .queued: m.attempts == 0 ? "Waiting" : "Next try \(DateText.short(m.nextAttemptAt ?? m.createdAt))"
                }
            return """
                <tr>
                  <td class="nowrap">\(DateText.short(m.createdAt))</td>
                  <td>\(m.toEmail)</td>
                  <td>\(m.subject)</td>
                  <td>\(badge(m.status))<span class="sub">\(when)</span></td>
                  <td>\(m.attempts)</td>
                  <td>\(m.lastError.map { HTML("<code class=\"answer\">\($0)</code>") } ?? "—")</td>
                  <td>\(retry)</td>
                </tr>
                """
        }
        var older: HTML = .empty
        if let next = model.nextCursor {
            var components = URLComponents()
            components.path = Route.mail.path
            components.queryItems =
                (model.status.map { [URLQueryItem(name: "status", value: $0.rawValue)] } ?? [])
                + [URLQueryItem(name: "before", value: next)]
            older =
                "<a class=\"button button-small\" rel=\"next\" href=\"\(components.string ?? Route.mail.path)\">Older ›</a>"
        }
        return Layout.app(
            title: "Mail", auth: auth, current: "mail",
            content: """
                <div class="page-head"><h1>Mail</h1></div>
                \(delivery)
                \(Layout.toast(model.notice))
                <nav aria-label="Mail status"><ul class="tabs">\(tabs)</ul></nav>
                <div class="table-wrap card card-flush" tabindex="0" role="region" aria-label="Mail">
                <table class="table">
                  <caption class="visually-hidden">Mail \(model.status.map(label) ?? "")</caption>
                  <thead><tr><th scope="col">Queued</th><th scope="col">To</th><th scope="col">Subject</th>\
                <th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last answer</th>\
                <th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
                  <tbody>\(rows)</tbody>
                </table>
                </div>
                \(model.messages.isEmpty ? HTML(unsafe: "<p class=\"empty\">No messages.</p>") : .empty)
                <div class="pager">\(older)</div>
                """)
    }

    static func label(_ status: OutboxMessage.Status) -> String {
        switch status {
        case .queued: "Queued"
        case .sent: "Sent"
        case .failed: "Failed"
        }
    }

    static func badge(_ status: OutboxMessage.Status) -> HTML {
        let kind =
            switch status {
            case .queued: "badge-neutral"
            case .sent: "badge-success"
            case .failed: "badge-danger"
            }
        return "<span class=\"badge \(kind)\">\(label(status))</span>"
    }
}
