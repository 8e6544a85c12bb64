import Foundation
import LatchkeyCore
import LatchkeyStore

/// The Webhooks pages: the organization's endpoints with a form to register one (its secret shown once), and one
/// endpoint's delivery log.
enum WebhooksPages {
    struct Form {
        var url = ""
        var description = ""
        var eventTypes: Set<String> = ["*"]
    }

    static func status(_ endpoint: WebhookEndpoint) -> HTML {
        if !endpoint.enabled { return "<span class=\"badge badge-neutral\">Disabled</span>" }
        if endpoint.failingSince != nil { return "<span class=\"badge badge-warning\">Failing</span>" }
        return "<span class=\"badge badge-success\">Enabled</span>"
    }

    static func events(_ types: [String]) -> HTML {
        types == ["*"]
            ? "All events"
            : HTML(unsafe: types.map { "<code>\(HTML.escape($0))</code>" }.joined(separator: " "))
    }

    static func page(
        auth: AuthState, endpoints: [WebhookEndpoint], notice: String?, error: String?,
        created: (endpoint: WebhookEndpoint, secret: String)?, form: Form
    ) -> HTML {
        let shown: HTML =
            created.map { endpoint, secret in
                """
                <section class="card section" aria-labelledby="created-heading">
                  <h2 id="created-heading">Endpoint registered</h2>
                  <p>Copy its signing secret now: it is shown only this once. Each delivery carries
                  <code>Latchkey-Signature: t=…,v1=…</code>, the HMAC-SHA256 of <code>t.body</code> under it.</p>
                  <p><code class="secret" id="webhook-secret">\(secret)</code></p>
                  <div class="button-row">
                    <button type="button" class="button" data-copy-target="webhook-secret">Copy</button>
                    <span class="muted" id="copy-status" role="status" aria-live="polite"></span>
                  </div>
                  <p class="muted">\(endpoint.url) receives: \(events(endpoint.eventTypes)).</p>
                </section>
                """
            } ?? .empty
        let rows = endpoints.map { endpoint -> HTML in
            """
            <tr data-webhook-id="\(endpoint.id.lowercasedString)">
              <td><a href="\(Route.webhook.path(endpoint.id))">\(endpoint.url)</a>\
            \(endpoint.description.isEmpty ? HTML.empty : "<span class=\"sub\">\(endpoint.description)</span>" as HTML)</td>
              <td>\(events(endpoint.eventTypes))</td>
              <td>\(status(endpoint))</td>
              <td class="nowrap">\(DateText.short(endpoint.createdAt))<span class="sub">\(endpoint.createdByName)</span></td>
            </tr>
            """
        }
        let table: HTML =
            endpoints.isEmpty
            ? "<p class=\"muted\" id=\"no-webhooks\">No endpoints yet.</p>"
            : """
            <div class="table-wrap" tabindex="0" role="region" aria-label="Webhook endpoints">
            <table class="table" id="webhooks-table">
              <thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">Status</th>\
            <th scope="col">Registered</th></tr></thead>
              <tbody>\(rows)</tbody>
            </table>
            </div>
            """
        let all = form.eventTypes.contains("*")
        let choices = WebhookService.eventTypes.map { type -> HTML in
            let id = "event-" + type.replacingOccurrences(of: ".", with: "-")
            return """
                <label class="checkbox" for="\(id)"><input type="checkbox" id="\(id)" name="event" value="\(type)"\
                \(form.eventTypes.contains(type) ? " checked" : "")> <code>\(type)</code></label>
                """
        }
        return Layout.app(
            title: "Webhooks", auth: auth, current: "webhooks",
            content: """
                <h1>Webhooks</h1>
                \(Layout.toast(notice))
                \(Layout.alert(error))
                \(shown)
                <section class="card section" aria-labelledby="webhooks-heading">
                  <h2 id="webhooks-heading">Endpoints</h2>
                  <p class="muted">Each audit event of the chosen types is POSTed as JSON to the endpoint, signed, as it
                  happens. A delivery that fails is tried again with back-off for a day; an endpoint whose deliveries
                  fail for a whole day is disabled. Private, loopback and link-local addresses are refused.</p>
                  \(table)
                </section>
                <section class="card section" aria-labelledby="new-webhook-heading">
                  <h2 id="new-webhook-heading">New endpoint</h2>
                  <form method="post" action="\(Route.webhooks.path)" class="stack narrow">
                    \(Layout.csrfField(auth.csrfToken))
                    <label for="webhook-url">URL</label>
                    <input id="webhook-url" name="url" type="url" maxlength="2000" required value="\(form.url)"
                      placeholder="https://siem.example.com/hooks/latchkey">
                    <label for="webhook-description">Description (optional)</label>
                    <input id="webhook-description" name="description" maxlength="200" value="\(form.description)"
                      placeholder="Security team's SIEM">
                    <fieldset><legend>Events</legend>
                      <label class="checkbox" for="event-all"><input type="checkbox" id="event-all" name="event" value="*"\
                \(all ? " checked" : "")> All events</label>
                      <details><summary>Or only these</summary><div class="checkbox-grid">\(choices)</div></details>
                    </fieldset>
                    <button type="submit" class="button button-primary">Register endpoint</button>
                  </form>
                </section>
                """)
    }

    static func detail(
        auth: AuthState, endpoint: WebhookEndpoint, deliveries: [WebhookDelivery], older: String?, notice: String?
    ) -> HTML {
        let rows = deliveries.map { delivery -> HTML in
            let badge: HTML =
                switch delivery.status {
                case .delivered: "<span class=\"badge badge-success\">Delivered</span>"
                case .failed: "<span class=\"badge badge-danger\">Failed</span>"
                case .pending:
                    delivery.attempts == 0
                        ? "<span class=\"badge badge-neutral\">Queued</span>"
                        : "<span class=\"badge badge-warning\">Retrying</span>"
                }
            let next: HTML =
                delivery.status == .pending && delivery.attempts > 0
                ? "<span class=\"sub\">next try \(DateText.short(delivery.nextAttemptAt))</span>" : .empty
            return """
                <tr data-delivery-id="\(delivery.id.lowercasedString)">
                  <td class="nowrap">\(DateText.short(delivery.createdAt))</td>
                  <td><code>\(delivery.eventType)</code></td>
                  <td>\(badge)\(next)</td>
                  <td>\(delivery.attempts)</td>
                  <td>\(delivery.lastStatusCode.map(String.init) ?? "—")</td>
                  <td>\(delivery.lastError.isEmpty ? "—" : delivery.lastError)</td>
                </tr>
                """
        }
        let table: HTML =
            deliveries.isEmpty
            ? "<p class=\"muted\" id=\"no-deliveries\">No deliveries yet: events of its types will appear here.</p>"
            : """
            <div class="table-wrap" tabindex="0" role="region" aria-label="Deliveries">
            <table class="table" id="deliveries-table">
              <thead><tr><th scope="col">Queued</th><th scope="col">Event</th><th scope="col">Status</th>\
            <th scope="col">Attempts</th><th scope="col">Response</th><th scope="col">Last error</th></tr></thead>
              <tbody>\(rows)</tbody>
            </table>
            </div>
            """
        let pager: HTML =
            older.map {
                "<p><a class=\"button\" href=\"\(Route.webhook.path(endpoint.id))?cursor=\($0)\">Older ›</a></p>"
            } ?? .empty
        func action(_ route: Route, _ label: String, quiet: Bool = true) -> HTML {
            """
            <form method="post" action="\(route.path(endpoint.id))" class="inline-form">
              \(Layout.csrfField(auth.csrfToken))
              <button type="submit" class="button\(quiet ? " button-quiet" : " button-danger")">\(label)</button>
            </form>
            """
        }
        let disabledNote: HTML =
            endpoint.enabled ? .empty : "<p class=\"muted\">Disabled: \(endpoint.disabledReason)</p>"
        return Layout.app(
            title: "Webhook", auth: auth, current: "webhooks",
            content: """
                <p><a href="\(Route.webhooks.path)">‹ Webhooks</a></p>
                <h1>\(endpoint.url)</h1>
                \(Layout.toast(notice))
                <section class="card section" aria-labelledby="endpoint-heading">
                  <h2 id="endpoint-heading">Endpoint</h2>
                  <p>\(status(endpoint)) \(endpoint.description)</p>
                  \(disabledNote)
                  <p>Events: \(events(endpoint.eventTypes))</p>
                  <p class="muted">Registered \(DateText.short(endpoint.createdAt)) by \(endpoint.createdByName).\
                \(endpoint.failingSince.map { " Failing since \(DateText.short($0))." } ?? "")</p>
                  <div class="button-row">
                    \(endpoint.enabled ? action(.webhookDisable, "Disable") : action(.webhookEnable, "Enable"))
                    \(action(.webhookDelete, "Delete", quiet: false))
                  </div>
                </section>
                <section class="card section" aria-labelledby="deliveries-heading">
                  <h2 id="deliveries-heading">Deliveries</h2>
                  \(table)
                  \(pager)
                </section>
                """)
    }
}
