import Foundation
import LatchkeyCore
import LatchkeyStore

/// Audit log, organization settings and the demo mailbox.
enum AdminPages {
    static func selected(_ flag: Bool) -> HTML { HTML(unsafe: flag ? " selected" : "") }

    /// A time for people: UTC in the page (and its `datetime`), turned into the reader's own time zone by the
    /// script, with the UTC time kept in its title.
    static func time(_ date: Date) -> HTML {
        let utc = DateText.seconds(date)
        return "<time datetime=\"\(date.formatted(.iso8601))\" data-local title=\"\(utc)\">\(utc)</time>"
    }

    /// The audit log's query as a link, with `extra` keys set (a nil value removes one).
    static func auditLink(_ query: [String: String], _ extra: [String: String?] = [:]) -> String {
        var items = query
        for (key, value) in extra { items[key] = value }
        var components = URLComponents()
        components.path = Route.audit.path
        let kept = items.filter { !$0.value.isEmpty }.sorted { $0.key < $1.key }
        components.queryItems = kept.isEmpty ? nil : kept.map { URLQueryItem(name: $0.key, value: $0.value) }
        return components.string ?? Route.audit.path
    }

    static func resultBadge(_ result: String) -> HTML {
        let badge: String =
            switch result {
            case "success": "badge-success"
            case "skipped": "badge-neutral"
            default: "badge-danger"
            }
        return "<span class=\"badge \(badge)\">\(AuditResult(rawValue: result)?.label ?? result)</span>"
    }

    static func actionLabel(_ action: String) -> String { AuditAction(rawValue: action)?.label ?? action }

    static func audit(
        auth: AuthState, events: [AuditEvent], next: String?, previous: String?, query: [String: String],
        error: String? = nil
    ) -> HTML {
        let q = { (key: String) in query[key] ?? "" }
        var exportComponents = URLComponents()
        exportComponents.queryItems = query.filter { !$0.value.isEmpty && !["cursor", "newer"].contains($0.key) }
            .sorted { $0.key < $1.key }
            .map { URLQueryItem(name: $0.key, value: $0.value) }
        let exportQuery = exportComponents.percentEncodedQuery.map { "?" + $0 } ?? ""
        let actions = AuditAction.allCases.sorted { $0.label < $1.label }.map { action -> HTML in
            "<option value=\"\(action.rawValue)\"\(selected(q("action") == action.rawValue))>\(action.label)</option>"
        }
        let results = AuditResult.allCases.map { result -> HTML in
            "<option value=\"\(result.rawValue)\"\(selected(q("result") == result.rawValue))>\(result.label)</option>"
        }
        let rows = events.map { e -> HTML in
            let batch: HTML =
                e.batchID.map { id -> HTML in
                    """
                    <a class="batch-link" href="\(auditLink([:], ["batch": id.lowercasedString]))" title="Every event of batch \(id.lowercasedString)"><code>\(String(id.lowercasedString.prefix(8)))</code></a>
                    """
                } ?? .empty
            return """
                <tr>
                  <td class="nowrap">\(time(e.occurredAt))</td>
                  <td>\(e.actorEmail)<span class="sub">\(e.actorRole)\(e.actorTokenID == nil ? "" : " · API token “\(e.actorTokenName)”")</span></td>
                  <td>\(actionLabel(e.action))<span class="sub"><code>\(e.action)</code></span></td>
                  <td>\(e.targetEmail)</td>
                  <td>\(resultBadge(e.result))</td>
                  <td>\(e.reason)\(e.ticket.isEmpty ? HTML.empty : "<span class=\"sub\">Ticket: \(e.ticket)</span>")</td>
                  <td>\(batch)</td>
                  <td><a href="\(Route.auditEvent.path(e.id))" aria-label="Details of event \(String(e.seq)): \(actionLabel(e.action))\(e.targetEmail.isEmpty ? "" : " for \(e.targetEmail)")">Details</a></td>
                </tr>
                """
        }
        let filterless = query.filter { !["cursor", "newer"].contains($0.key) }
        let batchNote: HTML =
            q("batch").isEmpty
            ? .empty
            : """
            <p class="selection-bar" id="batch-filter">Showing the events of batch <code>\(q("batch"))</code>.
            <a href="\(auditLink(filterless, ["batch": nil]))">Show every event</a></p>
            """
        let pager: HTML = """
            <nav class="pager" aria-label="Pages">
              \(previous == nil ? HTML(unsafe: "<span class=\"button button-small\" aria-disabled=\"true\">« Newest</span><span class=\"button button-small\" aria-disabled=\"true\">‹ Newer</span>") : "<a class=\"button button-small\" href=\"\(auditLink(filterless))\">« Newest</a><a class=\"button button-small\" rel=\"prev\" href=\"\(auditLink(filterless, ["newer": previous]))\">‹ Newer</a>")
              \(next == nil ? HTML(unsafe: "<span class=\"button button-small\" aria-disabled=\"true\">Older ›</span>") : "<a class=\"button button-small\" rel=\"next\" href=\"\(auditLink(filterless, ["cursor": next]))\">Older ›</a>")
            </nav>
            """
        return Layout.app(
            title: "Audit log", auth: auth, current: "audit",
            content: """
                <div class="page-head"><h1>Audit log</h1>
                  <div class="button-row">
                    <a class="button" href="\(Route.auditExportCSV.path)\(exportQuery)">Export CSV</a>
                    <a class="button" href="\(Route.auditExportJSONLines.path)\(exportQuery)">Export JSON Lines</a>
                  </div>
                </div>
                \(Layout.alert(error))
                <form method="get" action="\(Route.audit.path)" class="filters" role="search">
                  \(q("batch").isEmpty ? HTML.empty : "<input type=\"hidden\" name=\"batch\" value=\"\(q("batch"))\">")
                  <span class="filter"><label for="action">Action</label>
                  <select id="action" name="action"><option value="">All</option>\(actions)</select></span>
                  <span class="filter"><label for="result">Result</label>
                  <select id="result" name="result"><option value="">All</option>\(results)</select></span>
                  <span class="filter"><label for="actor">Actor email</label>
                  <input id="actor" name="actor" type="search" value="\(q("actor"))"></span>
                  <span class="filter"><label for="target">Target email</label>
                  <input id="target" name="target" type="search" value="\(q("target"))"></span>
                  <span class="filter"><label for="from">From</label>
                  <input id="from" name="from" type="date" value="\(q("from"))"></span>
                  <span class="filter"><label for="to">To</label>
                  <input id="to" name="to" type="date" value="\(q("to"))"></span>
                  <button type="submit" class="button">Filter</button>
                </form>
                \(batchNote)
                <p class="muted" id="time-zone-note">Newest first. Times are shown in UTC.</p>
                <div class="table-wrap" tabindex="0" role="region" aria-label="Audit events">
                <table class="table members" id="audit-table">
                  <thead><tr><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th>
                    <th scope="col">Target</th><th scope="col">Result</th><th scope="col">Reason</th><th scope="col">Batch</th>
                    <th scope="col"><span class="visually-hidden">Details</span></th></tr></thead>
                  <tbody>\(rows)</tbody>
                </table>
                </div>
                \(events.isEmpty ? HTML(unsafe: "<p class=\"empty\">No events match.</p>") : .empty)
                \(pager)
                """)
    }

    /// One audit event in full: who, what, to whom, the outcome, where the request came from, and its place in the
    /// tamper-evident chain.
    static func auditEvent(auth: AuthState, event e: AuditEvent, batchResults: Bool) -> HTML {
        let row = { (label: String, value: HTML) -> HTML in "<div><dt>\(label)</dt><dd>\(value)</dd></div>" }
        let wide = { (label: String, value: HTML) -> HTML in
            "<div class=\"wide\"><dt>\(label)</dt><dd>\(value)</dd></div>"
        }
        let text = { (value: String) -> HTML in value.isEmpty ? "<span class=\"muted\">—</span>" : "\(value)" }
        var rows: [HTML] = [
            row("Time", "\(time(e.occurredAt))<span class=\"sub\">\(DateText.seconds(e.occurredAt))</span>"),
            row("Action", "\(actionLabel(e.action)) <code>\(e.action)</code>"),
            row("Result", resultBadge(e.result)),
            row(
                "Actor",
                "\(text(e.actorEmail))<span class=\"sub\">\(e.actorRole)\(e.actorTokenID == nil ? "" : " · through API token “\(e.actorTokenName)”")</span>"
            ),
            row("Target", text(e.targetEmail)),
            row("Reason", text(e.reason)),
            row("Ticket", text(e.ticket)),
        ]
        if let batch = e.batchID {
            let results: HTML =
                batchResults
                ? " · <a href=\"\(Route.resetResults.path(batch))\">Results</a>" : .empty
            rows.append(
                row(
                    "Batch",
                    "<code>\(batch.lowercasedString)</code><span class=\"sub\"><a href=\"\(auditLink([:], ["batch": batch.lowercasedString]))\">Every event of this batch</a>\(results)</span>"
                ))
        }
        rows += [
            row("IP address", text(e.ip)),
            row("Request id", e.requestID.isEmpty ? text("") : "<code>\(e.requestID)</code>"),
            row("Position in the chain", "\(String(e.seq))"),
            wide(
                "Device",
                e.userAgent.isEmpty
                    ? text("")
                    : "\(UserAgentLabel.describe(e.userAgent))<span class=\"sub ua-raw\">\(e.userAgent)</span>"),
            wide("Hash", "<code class=\"hash\">\(e.hash)</code>"),
            wide("Previous hash", "<code class=\"hash\">\(e.prevHash)</code>"),
        ]
        return Layout.app(
            title: "Audit event", auth: auth, current: "audit",
            content: """
                <p class="breadcrumb"><a href="\(Route.audit.path)">Audit log</a> ›</p>
                <div class="page-head"><h1>\(actionLabel(e.action))\(e.targetEmail.isEmpty ? "" : " · \(e.targetEmail)")</h1></div>
                <dl class="facts event-facts" id="event">\(rows)</dl>
                """)
    }

    static func settings(auth: AuthState, settings: Organization.Settings, notice: String?, error: String?) -> HTML {
        let checked = { (flag: Bool) in HTML(unsafe: flag ? " checked" : "") }
        return Layout.app(
            title: "Settings", auth: auth, current: "settings",
            content: """
                <h1>Security settings</h1>
                \(Layout.toast(notice))
                \(Layout.alert(error))
                <form method="post" action="\(Route.settings.path)" class="card section stack settings">
                  \(Layout.csrfField(auth.csrfToken))
                  <label class="checkbox"><input type="checkbox" name="requireMFA" value="on"\(checked(settings.requireMFA))>
                    Require multi-factor authentication for every member</label>
                  <p class="help">Members without MFA must set it up at their next sign-in before anything else.</p>
                  <label for="stepUp">Step-up window (minutes)</label>
                  <input id="stepUp" name="stepUpMinutes" type="number" min="1" max="60" required value="\(settings.stepUpWindowSeconds / 60)">
                  <p class="help">Resetting another member's MFA needs an MFA check at most this old.</p>
                  <label for="lifetime">Session lifetime (hours)</label>
                  <input id="lifetime" name="sessionHours" type="number" min="1" max="720" required value="\(settings.sessionLifetimeSeconds / 3600)">
                  <label for="idle">Idle timeout (minutes)</label>
                  <input id="idle" name="idleMinutes" type="number" min="5" max="1440" required value="\(settings.idleTimeoutSeconds / 60)">
                  <fieldset>
                    <legend>Reset notifications</legend>
                    <p class="help">An email to the member whose MFA is reset is always queued\(auth.mailDelivery ? HTML(unsafe: " and sent") : HTML(unsafe: " (no mail server is configured, so it is not sent)")); see <a href="\(auth.mailDelivery || !auth.demoMode ? Route.mail.path : Route.mailbox.path)">\(auth.mailDelivery || !auth.demoMode ? "Mail" : "Demo mailbox")</a>.</p>
                    <label class="checkbox"><input type="checkbox" name="notifyOwners" value="on"\(checked(settings.notifyOwnersOnReset))>
                      Also email a summary of every bulk reset to the organization's owners</label>
                  </fieldset>
                  <button type="submit" class="button button-primary">Save settings</button>
                </form>
                """)
    }

    /// The confirmation a weakening of security settings needs: what it takes away, and a fresh code.
    static func confirmSettings(
        auth: AuthState, proposed: Organization.Settings, effects: [String], error: String?
    ) -> HTML {
        let items = effects.map { effect -> HTML in "<li>\(effect)</li>" }
        return Layout.app(
            title: "Confirm security settings", auth: auth, current: "settings",
            content: """
                <h1>Confirm weaker security settings</h1>
                \(Layout.alert(error))
                <form method="post" action="\(Route.settings.path)" class="card section stack settings">
                  \(Layout.csrfField(auth.csrfToken))
                  <input type="hidden" name="confirming" value="1">
                  \(proposed.requireMFA ? HTML(unsafe: "<input type=\"hidden\" name=\"requireMFA\" value=\"on\">") : .empty)
                  <input type="hidden" name="stepUpMinutes" value="\(proposed.stepUpWindowSeconds / 60)">
                  <input type="hidden" name="sessionHours" value="\(proposed.sessionLifetimeSeconds / 3600)">
                  <input type="hidden" name="idleMinutes" value="\(proposed.idleTimeoutSeconds / 60)">
                  \(proposed.notifyOwnersOnReset ? HTML(unsafe: "<input type=\"hidden\" name=\"notifyOwners\" value=\"on\">") : .empty)
                  <p>These changes weaken the security of \(auth.organizationName):</p>
                  <ul class="effects">\(items)</ul>
                  <p class="help">Every owner will be emailed what changed. To go on, enter a code from your authenticator app.</p>
                  <label for="code">Code from your authenticator app</label>
                  <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="7" required autofocus>
                  <div class="modal-actions">
                    <a class="button" href="\(Route.settings.path)">Cancel</a>
                    <button type="submit" class="button button-danger">Weaken security settings</button>
                  </div>
                </form>
                """)
    }

    static func mailbox(auth: AuthState, messages: [OutboxMessage]) -> HTML {
        let items = messages.map { m -> HTML in
            """
            <article class="card section mail-item">
              <header><h2>\(m.subject)</h2>
              <p class="muted">To \(m.toEmail) · \(DateText.seconds(m.createdAt))\(m.sentAt == nil ? " · not sent (no mail server is configured)" : " · sent")</p></header>
              <pre class="mail">\(m.body)</pre>
            </article>
            """
        }
        return Layout.app(
            title: "Demo mailbox", auth: auth, current: "mailbox",
            content: """
                <h1>Demo mailbox</h1>
                <p class="muted">In demo mode mail stays in the outbox; this page shows what members and owners would receive.</p>
                \(items)
                \(messages.isEmpty ? HTML(unsafe: "<p class=\"empty\">No messages yet.</p>") : .empty)
                """)
    }
}

extension DateText {
    /// UTC time with seconds, e.g. "2026-11-29 10:04:31 UTC".
    static func seconds(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d UTC", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }
}
