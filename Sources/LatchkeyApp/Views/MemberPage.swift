import Foundation
import LatchkeyCore
import LatchkeyStore

/// One member, as an administrator sees them: who they are, their role and status, what second factors they
/// have (never a secret), where they are signed in, what happened to them lately — and the same actions as
/// the ⋮ menu of the Members table.
enum MemberPage {
    struct Model {
        /// The Members page's model, for the ⋮ menu and its dialogs (forms return here).
        var members: MembersPages.Model
        var member: MemberDirectory.Row
        /// When the confirmed authenticator was set up; nil when there is none.
        var authenticatorSince: Date?
        var recoveryCodesLeft: Int
        var sessions: [Session]
        var events: [AuditEvent]
    }

    static func page(_ m: Model) -> HTML {
        let member = m.member
        let badges: [HTML] = [
            member.status == .invited
                ? "<span class=\"badge badge-info\"><span aria-hidden=\"true\">✉</span> Invited, not yet joined</span>"
                : StatusBadge.mfa(member.mfaStatus),
            member.status == .suspended
                ? "<span class=\"badge badge-neutral\"><span aria-hidden=\"true\">⏸</span> Suspended</span>" : .empty,
            MembersPages.lockedBadge(member.lockedUntil),
        ]
        let authenticator: String =
            switch (m.authenticatorSince, member.mfaStatus) {
            case (let since?, _): "Set up on \(DateText.short(since))"
            case (nil, .resetPending): "Reset — they set it up again at next sign-in"
            case (nil, _): "Not set up"
            }
        let lock: String =
            switch member.lockedUntil {
            case nil: "Not locked"
            case .distantFuture?: "Locked until an administrator unlocks it"
            case let until?: "Locked until \(DateText.short(until))"
            }
        let sessions = m.sessions.map { session -> HTML in
            """
            <tr>
              <td class="ua">\(String(session.userAgent.prefix(80)))</td>
              <td>\(session.ip)</td>
              <td>\(DateText.short(session.createdAt))</td>
              <td>\(MembersPages.relative(session.lastSeenAt, now: m.members.now))</td>
            </tr>
            """
        }
        let events = m.events.map { event -> HTML in
            """
            <tr>
              <td>\(DateText.short(event.occurredAt))</td>
              <td><code>\(event.action)</code></td>
              <td>\(event.actorEmail == member.email ? "themselves" : event.actorEmail)</td>
              <td>\(event.result)</td>
              <td>\(event.reason)</td>
            </tr>
            """
        }
        let notice: HTML = m.members.notice.map { Layout.toast($0.text, kind: $0.kind.rawValue) } ?? .empty
        var audit = URLComponents()
        audit.path = Route.audit.path
        audit.queryItems = [URLQueryItem(name: "target", value: member.email)]
        let content: HTML = """
            <p class="breadcrumb"><a href="\(Route.members.path)">Members</a> <span aria-hidden="true">›</span> \(member.name)</p>
            <div class="page-head">
              <div>
                <h1>\(member.name)</h1>
                <p class="muted">\(member.email) · \(member.roleName)</p>
                <p class="badges">\(badges)</p>
              </div>
              \(MembersPages.menu(m.members, member))
            </div>
            <div id="toast" aria-live="polite">\(notice)</div>
            <section class="card section" aria-labelledby="mfa-heading">
              <h2 id="mfa-heading">Sign-in and MFA</h2>
              <dl class="facts">
                <div><dt>Authenticator app</dt><dd>\(authenticator)</dd></div>
                <div><dt>Recovery codes left</dt><dd>\(m.recoveryCodesLeft) of \(RecoveryCodes.count)</dd></div>
                <div><dt>Last sign-in</dt><dd>\(MembersPages.relative(member.lastSignInAt, now: m.members.now))</dd></div>
                <div><dt>Sign-in</dt><dd>\(lock)</dd></div>
              </dl>
            </section>
            <section class="card section" aria-labelledby="sessions-heading">
              <h2 id="sessions-heading">Sessions (\(m.sessions.count))</h2>
              \(m.sessions.isEmpty
                ? HTML(unsafe: "<p class=\"empty\">Not signed in anywhere.</p>")
                : """
                <div class="table-wrap" tabindex="0" role="region" aria-label="Sessions of \(member.name)">
                <table class="table">
                  <thead><tr><th scope="col">Device</th><th scope="col">Where</th><th scope="col">Signed in</th>
                    <th scope="col">Last seen</th></tr></thead>
                  <tbody>\(sessions)</tbody>
                </table>
                </div>
                """)
            </section>
            <section class="card section" aria-labelledby="activity-heading">
              <h2 id="activity-heading">Recent activity</h2>
              \(m.events.isEmpty
                ? HTML(unsafe: "<p class=\"empty\">Nothing recorded yet.</p>")
                : """
                <div class="table-wrap" tabindex="0" role="region" aria-label="Recent activity of \(member.name)">
                <table class="table">
                  <thead><tr><th scope="col">Time</th><th scope="col">Action</th><th scope="col">By</th>
                    <th scope="col">Result</th><th scope="col">Reason</th></tr></thead>
                  <tbody>\(events)</tbody>
                </table>
                </div>
                """)
              <p><a href="\(audit.string ?? Route.audit.path)">All their events in the audit log</a></p>
            </section>
            \(m.members.canReset ? MembersPages.singleDialog(m.members) : .empty)
            \(m.members.canManage ? MembersPages.lifecycleDialogs(m.members) : [])
            """
        return Layout.app(title: member.name, auth: m.members.auth, current: "members", content: content)
    }
}
