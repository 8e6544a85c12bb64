import Foundation
import LatchkeyCore
import LatchkeyStore

/// Manage Members: the table, its two confirmation modals, and the bulk results.
enum MembersPages {
    struct Model {
        var auth: AuthState
        var filter: MemberDirectory.Filter
        var page: MemberDirectory.Page
        var firstIndex: Int
        var roles: [(id: UUID, name: String)]
        /// Roles' permissions, to disable Reset MFA where the server would refuse it.
        var rolePermissions: [UUID: Set<Permission>]
        var canReset: Bool
        /// The actor's role may lift sign-in locks (`members.manage`).
        var canUnlock: Bool
        /// The actor's role may change roles, suspend, reactivate and remove members.
        var canManage: Bool
        var stepUpNeeded: Bool
        var notice: Notice?
        /// The member the last single action changed: their row is highlighted.
        var changedMemberID: UUID? = nil
        var now: Date
        var idempotencyKey: String
        /// The forms of the member's page send the administrator back there.
        var returnToMember = false
        /// The ⋮ menus' reasons, worked out once per role.
        let hints = MenuHints()

        /// Rows have checkboxes when some bulk action is offered.
        var canSelect: Bool { canReset || canManage }
    }

    /// Why a ⋮ menu item is disabled, per target role. The rules look only at the target's role and at whether the
    /// target is the viewer, so a page asks them once per role and item rather than on each of its 50 rows.
    final class MenuHints {
        enum Item { case reset, unlock, lifecycle }
        private struct Key: Hashable {
            var item: Item
            var roleID: UUID
            var isViewer: Bool
        }
        private var known: [Key: String?] = [:]
        private var plainItems: [AccountStatus: [UInt8]] = [:]

        /// The items of a menu that no rule disables and no lock adds to: the same for every such row of a status.
        func plainItems(for status: AccountStatus, _ build: () -> [UInt8]) -> [UInt8] {
            if let items = plainItems[status] { return items }
            let items = build()
            plainItems[status] = items
            return items
        }

        /// The plain items the table's rows share (`data-items`): one `<template>` per status used, in a fixed order.
        var sharedItems: [UInt8] {
            var out: [UInt8] = []
            for status in AccountStatus.allCases {
                guard let items = plainItems[status] else { continue }
                out += "<template id=\"menu-items-"
                out += status.rawValue
                out += "\">"
                out += items
                out += "</template>\n"
            }
            return out
        }

        func hint(_ item: Item, for row: MemberDirectory.Row, viewer: UUID, _ rule: () -> String?) -> String? {
            let key = Key(item: item, roleID: row.roleID, isViewer: row.id == viewer)
            if let hint = known[key] { return hint }
            let hint = rule()
            known[key] = .some(hint)
            return hint
        }
    }

    /// A message at the top of the table after an action.
    struct Notice: Equatable {
        enum Kind: String { case success, info, error }
        var kind: Kind
        var text: String
    }

    /// The filter as query items (for links and hidden fields).
    static func state(_ filter: MemberDirectory.Filter) -> [(String, String)] {
        var items: [(String, String)] = []
        if !filter.query.isEmpty { items.append(("query", filter.query)) }
        if let role = filter.roleID { items.append(("role", role.lowercasedString)) }
        if let mfa = filter.mfa { items.append(("mfa", mfa.rawValue)) }
        if let status = filter.status { items.append(("status", status.rawValue)) }
        if filter.sort != .name { items.append(("sort", filter.sort.rawValue)) }
        if filter.limit != BulkLimits.defaultPageSize { items.append(("limit", String(filter.limit))) }
        return items
    }

    static func link(_ filter: MemberDirectory.Filter, extra: [(String, String)] = []) -> String {
        let items = state(filter) + extra
        return items.isEmpty ? Route.members.path : Route.members.path + "?" + QueryText.encode(items)
    }

    /// Sends a form's answer back to the member's page when it came from there.
    static func returnField(_ m: Model) -> HTML {
        m.returnToMember ? "<input type=\"hidden\" name=\"return\" value=\"member\">" : .empty
    }

    static func hiddenState(_ filter: MemberDirectory.Filter) -> HTML {
        HTML(
            unsafe: state(filter).map {
                "<input type=\"hidden\" name=\"\(HTML.escape($0.0))\" value=\"\(HTML.escape($0.1))\">"
            }.joined())
    }

    static func relative(_ date: Date?, now: Date) -> String {
        guard let date else { return "never" }
        let seconds = now.timeIntervalSince(date)
        switch seconds {
        case ..<60: return "just now"
        case ..<3600: return "\(Int(seconds / 60)) min ago"
        case ..<86400: let h = Int(seconds / 3600); return h == 1 ? "1 hour ago" : "\(h) hours ago"
        case ..<172_800: return "yesterday"
        case ..<(86400 * 30): return "\(Int(seconds / 86400)) days ago"
        default: return DateText.short(date).prefix(10).description
        }
    }

    static func page(_ m: Model) -> HTML {
        let filter = m.filter
        let last = m.firstIndex + m.page.rows.count - 1
        let capped = m.page.total > BulkLimits.maximumPerRequest
        let totalText = capped ? "\(BulkLimits.maximumPerRequest.grouped)+" : m.page.total.grouped
        let showing = m.page.rows.isEmpty ? "No members match" : "Showing \(m.firstIndex)–\(last) of \(totalText)"
        let roleOptions = m.roles.map { role -> HTML in
            "<option value=\"\(role.id.lowercasedString)\"\(HTML(unsafe: filter.roleID == role.id ? " selected" : ""))>\(role.name)</option>"
        }
        let mfaOptions = MFAStatus.allCases.map { status -> HTML in
            "<option value=\"\(status.rawValue)\"\(HTML(unsafe: filter.mfa == status ? " selected" : ""))>\(status.label)</option>"
        }
        let statusOptions = MemberDirectory.Status.allCases.map { status -> HTML in
            "<option value=\"\(status.rawValue)\"\(HTML(unsafe: filter.status == status ? " selected" : ""))>\(status.label)</option>"
        }
        var rowsHTML: [UInt8] = []
        rowsHTML.reserveCapacity(m.page.rows.count * 2_400)
        for row in m.page.rows { appendRow(m, row, to: &rowsHTML) }
        let rows = HTML(unsafe: rowsHTML)
        let sharedItems = HTML(unsafe: m.hints.sharedItems)
        let sortLink = { (column: String, label: String) -> HTML in
            let ascending = MemberDirectory.Sort(rawValue: column)!
            let descending = MemberDirectory.Sort(rawValue: "-" + column)!
            var next = filter
            next.sort = filter.sort == ascending ? descending : ascending
            let current = filter.sort == ascending ? "ascending" : (filter.sort == descending ? "descending" : "none")
            let arrow = current == "ascending" ? " ▲" : (current == "descending" ? " ▼" : "")
            return """
                <th scope="col" class="col-\(column)" aria-sort="\(current)"><a class="sort" href="\(link(next))">\(label)\(arrow)</a></th>
                """
        }
        let pager: HTML = """
            <nav class="pager" aria-label="Pages">
              <form method="get" action="\(Route.members.path)" class="page-size">
                \(hiddenState({ var f = filter; f.limit = BulkLimits.defaultPageSize; return f }()))
                <label for="limit">Rows per page</label>
                <select id="limit" name="limit" data-autosubmit>
                  \(BulkLimits.pageSizes.map { size -> HTML in "<option value=\"\(size)\"\(HTML(unsafe: size == filter.limit ? " selected" : ""))>\(size)</option>" })
                </select>
                <noscript><button type="submit" class="button button-small">Apply</button></noscript>
              </form>
              \(m.page.previousCursor.map { cursor -> HTML in "<a class=\"button button-small\" rel=\"prev\" href=\"\(link(filter, extra: [("before", cursor), ("from", String(max(1, m.firstIndex - filter.limit)))]))\">‹ Previous</a>" } ?? "<span class=\"button button-small\" aria-disabled=\"true\">‹ Previous</span>")
              \(m.page.nextCursor.map { cursor -> HTML in "<a class=\"button button-small\" rel=\"next\" href=\"\(link(filter, extra: [("after", cursor), ("from", String(m.firstIndex + m.page.rows.count))]))\">Next ›</a>" } ?? "<span class=\"button button-small\" aria-disabled=\"true\">Next ›</span>")
            </nav>
            """
        var actionItems: [HTML] = []
        if m.canReset {
            actionItems.append(
                "<li role=\"none\"><button type=\"button\" role=\"menuitem\" data-bulk-reset>Reset MFA</button></li>")
        }
        if m.canManage {
            for (action, label) in [
                ("role", "Change role…"), ("suspend", "Suspend"), ("reactivate", "Reactivate"), ("remove", "Remove…"),
            ] {
                actionItems.append(
                    "<li role=\"none\"><button type=\"button\" role=\"menuitem\" data-bulk-lifecycle=\"\(action)\">\(label)</button></li>"
                )
            }
        }
        let actions: HTML =
            actionItems.isEmpty
            ? .empty
            : """
            <div class="menu-wrap">
              <button type="button" class="button" id="actions-button" aria-haspopup="menu" aria-expanded="false"
                      aria-controls="actions-menu" disabled>Actions <span aria-hidden="true">▾</span></button>
              <ul class="menu" role="menu" id="actions-menu" aria-labelledby="actions-button" hidden>
                \(actionItems)
              </ul>
            </div>
            """
        let notice: HTML = m.notice.map { Layout.toast($0.text, kind: $0.kind.rawValue) } ?? .empty
        let invite: HTML =
            m.canManage
            ? "<button type=\"button\" class=\"button button-primary\" data-open-invite>Invite members</button>"
            : .empty
        let content: HTML = """
            <div class="page-head">
              <h1>Members</h1>
              <div class="button-row">\(actions)\(invite)</div>
            </div>
            <div id="toast" aria-live="polite">\(notice)</div>
            <form method="get" action="\(Route.members.path)" class="filters" role="search">
              <label class="visually-hidden" for="query">Search name or email</label>
              <input id="query" name="query" type="search" placeholder="Search name or email…" value="\(filter.query)">
              <span class="filter"><label for="role-filter">Role</label>
              <select id="role-filter" name="role" data-autosubmit><option value="">All</option>\(roleOptions)</select></span>
              <span class="filter"><label for="mfa-filter">MFA</label>
              <select id="mfa-filter" name="mfa" data-autosubmit><option value="">All</option>\(mfaOptions)</select></span>
              <span class="filter"><label for="status-filter">Status</label>
              <select id="status-filter" name="status" data-autosubmit><option value="">All</option>\(statusOptions)</select></span>
              \(filter.sort != .name ? HTML(unsafe: "<input type=\"hidden\" name=\"sort\" value=\"\(filter.sort.rawValue)\">") : .empty)
              \(filter.limit != BulkLimits.defaultPageSize ? HTML(unsafe: "<input type=\"hidden\" name=\"limit\" value=\"\(filter.limit)\">") : .empty)
              <button type="submit" class="button">Search</button>
              <span class="count" id="showing">\(showing)</span>
            </form>
            <div class="selection-bar" id="selection-bar" hidden data-total="\(m.page.total)" data-capped="\(capped ? "true" : "false")" data-maximum="\(BulkLimits.maximumPerRequest)" data-page-count="\(m.page.rows.count)"></div>
            <div class="table-wrap" tabindex="0" role="region" aria-label="Members">
            <table class="table members" id="members-table">
              <thead><tr>
                <th scope="col" class="col-check">\(m.canSelect ? HTML(unsafe: "<input type=\"checkbox\" id=\"select-page\" aria-label=\"Select all members on this page\">") : .empty)</th>
                \(sortLink("name", "Name"))
                \(sortLink("email", "Email"))
                <th scope="col" class="col-role">Role</th>
                <th scope="col">MFA</th>
                <th scope="col" class="col-last">Last sign-in</th>
                <th scope="col" class="col-menu"><span class="visually-hidden">Actions</span></th>
              </tr></thead>
              <tbody>\(rows)</tbody>
            </table>
            </div>
            \(sharedItems)\(m.page.rows.isEmpty ? HTML(unsafe: "<p class=\"empty\">No members match these filters.</p>") : .empty)
            \(pager)
            \(m.canReset ? [singleDialog(m), bulkDialog(m)] : [])
            \(m.canManage ? bulkLifecycleDialogs(m) : [])
            \(m.canManage ? lifecycleDialogs(m) : [])
            \(m.canManage ? InvitePages.dialog(m) : .empty)
            """
        return Layout.app(title: "Members", auth: m.auth, current: "members", content: content)
    }

    /// The ⋮ menu of one member on their own page: every action the viewer's role offers, disabled with the reason
    /// where a rule forbids it (the Members table's rows show the same), behind a visible "Actions" button.
    static func menu(_ m: Model, _ row: MemberDirectory.Row) -> HTML {
        var out: [UInt8] = []
        appendMenu(m, row, id: row.id.lowercasedString, inRow: false, to: &out)
        return HTML(unsafe: out)
    }

    /// Why Reset MFA is disabled for this row, if it is.
    static func resetHint(_ m: Model, _ row: MemberDirectory.Row, _ targetPermissions: Set<Permission>) -> String? {
        m.hints.hint(.reset, for: row, viewer: m.auth.memberID) {
            switch ResetPolicy.check(
                actorID: m.auth.memberID, actorPermissions: m.auth.permissions, targetID: row.id,
                targetPermissions: targetPermissions)
            {
            case .selfAction: "You cannot reset your own MFA here — use My security"
            case .higherPrivilege: "You can't reset an \(row.roleName)'s MFA"
            default: nil
            }
        }
    }

    /// Why Change role…, Suspend, Reactivate and Remove… are disabled for this row, if they are.
    static func lifecycleHint(_ m: Model, _ row: MemberDirectory.Row, _ targetPermissions: Set<Permission>)
        -> String?
    {
        m.hints.hint(.lifecycle, for: row, viewer: m.auth.memberID) {
            switch LifecyclePolicy.check(
                actorID: m.auth.memberID, actorPermissions: m.auth.permissions, targetID: row.id,
                targetPermissions: targetPermissions, grantedPermissions: nil)
            {
            case .selfAction: "You cannot change your own account here"
            case .notPermittedRole: "You can't change an \(row.roleName)'s account"
            default: nil
            }
        }
    }

    /// The items of one row's menu.
    static func menuItems(_ m: Model, _ row: MemberDirectory.Row, targetPermissions: Set<Permission>, id: String)
        -> [UInt8]
    {
        var items: [UInt8] = []
        if row.status == .invited {
            if m.canManage {
                for item in InvitePages.menuItems(m, row, targetPermissions: targetPermissions) { items += item.bytes }
            }
        } else if m.canReset {
            let hint = resetHint(m, row, targetPermissions)
            items += "<li role=\"none\"><button type=\"button\" role=\"menuitem\" data-reset-member"
            appendDisabled(hint, prefix: "reset-hint-", id: id, to: &items)
            items += ">Reset MFA</button>"
            appendHint(hint, prefix: "reset-hint-", id: id, to: &items)
            items += "</li>"
        }
        if m.canUnlock, row.lockedUntil != nil, row.status != .invited {
            let hint = m.hints.hint(.unlock, for: row, viewer: m.auth.memberID) {
                switch UnlockPolicy.check(
                    actorID: m.auth.memberID, actorPermissions: m.auth.permissions, targetID: row.id,
                    targetPermissions: targetPermissions)
                {
                case .selfAction: "You cannot unlock your own sign-in"
                case .higherPrivilege: "You can't unlock an \(row.roleName)'s sign-in"
                default: nil
                }
            }
            let item: HTML =
                hint == nil
                ? """
                <li role="none"><form method="post" action="\(Route.membersUnlock.path)">\(Layout.csrfField(m.auth.csrfToken))\(hiddenState(m.filter))\(returnField(m))<input type="hidden" name="memberId" value="\(id)"><button type="submit" role="menuitem" data-unlock-member="\(id)">Unlock sign-in</button></form></li>
                """
                : """
                <li role="none"><button type="button" role="menuitem" data-unlock-member="\(id)"\(disabledItem(hint, id: "unlock-hint-\(id)"))>Unlock sign-in</button>\(menuHint(hint, id: "unlock-hint-\(id)"))</li>
                """
            items += item.bytes
        }
        if m.canManage, row.status != .invited {
            appendLifecycleItems(m, row, hint: lifecycleHint(m, row, targetPermissions), id: id, to: &items)
        }
        return items
    }

    /// `menu`, or a table row's ⋮ menu, appended to `out`. A page of 50 rows writes 50 of these, so a row's menu is
    /// lean: the member it acts on is named by its row (`data-member-id`, `data-name`, `data-email`, `data-role-id`
    /// on the `<tr>`; a member's page puts them on the menu itself), and the items of a row that no rule disables
    /// and no lock adds to — the same for every such row of its status — are written once per page in a
    /// `<template>` the script copies into each such menu (`data-items`). The menu needs the script to open, so a
    /// page without it loses nothing. The rest is appended piece by piece rather than built as interpolated values
    /// and copied into one another. `id` is the row's id as text (formatted once per row, by the caller).
    static func appendMenu(
        _ m: Model, _ row: MemberDirectory.Row, id: String, inRow: Bool, to out: inout [UInt8]
    ) {
        let targetPermissions = m.rolePermissions[row.roleID] ?? []
        let plain =
            row.status != .invited && row.lockedUntil == nil
            && (!m.canReset || resetHint(m, row, targetPermissions) == nil)
            && (!m.canManage || lifecycleHint(m, row, targetPermissions) == nil)
        let items =
            plain
            ? m.hints.plainItems(for: row.status) { menuItems(m, row, targetPermissions: targetPermissions, id: id) }
            : menuItems(m, row, targetPermissions: targetPermissions, id: id)
        guard !items.isEmpty else { return }
        if inRow {
            out += "<div class=\"menu-wrap\"><button type=\"button\" class=\"icon-button\" id=\"menu-"
        } else {
            out += "<div class=\"menu-wrap\" data-member=\""
            out += id
            out += "\""
            appendMemberData(row, to: &out)
            out += ">\n  <button type=\"button\" class=\"button\" id=\"menu-"
        }
        out += id
        out += "\" aria-haspopup=\"menu\" aria-expanded=\"false\" aria-controls=\"menu-list-"
        out += id
        out += "\" aria-label=\"Actions for "
        HTML.appendEscaped(row.name, to: &out)
        out += inRow ? "\" data-row-menu>⋮</button>" : "\" data-row-menu>Actions ▾</button>\n  "
        out += "<ul class=\"menu menu-right\" role=\"menu\" id=\"menu-list-"
        out += id
        out += "\" aria-labelledby=\"menu-"
        out += id
        if plain && inRow {
            out += "\" data-items=\""
            out += row.status.rawValue
            out += "\" hidden></ul></div>"
        } else {
            out += "\" hidden>\n    "
            out += items
            out += "\n  </ul>\n</div>"
        }
    }

    /// What the ⋮ items' dialogs say of the member they act on, as attributes (on the row, or on a member's page's
    /// menu): ` data-name="…" data-email="…" data-role-id="…"`.
    static func appendMemberData(_ row: MemberDirectory.Row, to out: inout [UInt8]) {
        out += " data-name=\""
        HTML.appendEscaped(row.name, to: &out)
        out += "\" data-email=\""
        HTML.appendEscaped(row.email, to: &out)
        out += "\" data-role-id=\""
        out += row.roleID.lowercasedString
        out += "\""
    }

    /// One row of the table, appended to `out`.
    static func appendRow(_ m: Model, _ row: MemberDirectory.Row, to out: inout [UInt8]) {
        let id = row.id.lowercasedString
        out += row.id == m.changedMemberID ? "<tr class=\"row-changed\" data-member-id=\"" : "<tr data-member-id=\""
        out += id
        out += "\" data-mfa=\""
        out += row.status == .invited ? "invited" : row.mfaStatus.rawValue
        out += "\""
        appendMemberData(row, to: &out)
        out += ">\n  <td class=\"col-check\">"
        if m.canSelect {
            out += "<input type=\"checkbox\" class=\"row-check\" value=\""
            out += id
            out += "\" aria-label=\"Select "
            HTML.appendEscaped(row.name, to: &out)
            out += "\">"
        }
        out += "</td>\n  <td class=\"col-name\"><a class=\"name\" href=\""
        out += memberPathPrefix
        out += id
        out += memberPathSuffix
        out += "\">"
        HTML.appendEscaped(row.name, to: &out)
        out += "</a>"
        out += lockedBadge(row.lockedUntil).bytes
        if row.status == .suspended {
            out += " <span class=\"badge badge-neutral\"><span aria-hidden=\"true\">⏸</span> Suspended</span>"
        }
        if row.status == .invited {
            out += " <span class=\"badge badge-info\"><span aria-hidden=\"true\">✉</span> Invited</span>"
        }
        out += "<span class=\"folded\">"
        HTML.appendEscaped(row.email, to: &out)
        out += " · "
        HTML.appendEscaped(row.roleName, to: &out)
        out += "</span></td>\n  <td class=\"col-email\">"
        HTML.appendEscaped(row.email, to: &out)
        out += "</td>\n  <td class=\"col-role\">"
        HTML.appendEscaped(row.roleName, to: &out)
        out += "</td>\n  <td class=\"col-mfa\">"
        if row.status == .invited {
            out += "<span class=\"muted\">—</span>"
        } else {
            out += StatusBadge.mfa(row.mfaStatus).bytes
        }
        out += "</td>\n  <td class=\"col-last\">"
        HTML.appendEscaped(row.status == .invited ? "Not yet" : relative(row.lastSignInAt, now: m.now), to: &out)
        out += "</td>\n  <td class=\"col-menu\">"
        appendMenu(m, row, id: id, inRow: true, to: &out)
        out += "</td>\n</tr>"
    }

    /// A member's page path around its id (`Route.memberPage` has one `:id`), split once.
    static let (memberPathPrefix, memberPathSuffix): (String, String) = {
        let parts = Route.memberPage.path(UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
            .components(separatedBy: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)).lowercasedString)
        precondition(parts.count == 2, "the member page's route has one id")
        return (parts[0], parts[1])
    }()

    /// ⋮ → Change role…, Suspend or Reactivate, Remove…: disabled, with the reason tied to them, where a rule
    /// forbids them.
    static func appendLifecycleItems(
        _ m: Model, _ row: MemberDirectory.Row, hint: String?, id: String, to out: inout [UInt8]
    ) {
        let actions =
            row.status == .suspended
            ? [("role", "Change role…"), ("reactivate", "Reactivate"), ("remove", "Remove…")]
            : [("role", "Change role…"), ("suspend", "Suspend"), ("remove", "Remove…")]
        for (action, label) in actions {
            out += "<li role=\"none\"><button type=\"button\" role=\"menuitem\" data-lifecycle=\""
            out += action
            out += "\""
            appendDisabled(hint, prefix: "lifecycle-hint-", id: id, to: &out)
            out += ">"
            out += label
            out += "</button></li>"
        }
        if hint != nil {
            out += "<li role=\"none\" class=\"menu-note\">"
            appendHint(hint, prefix: "lifecycle-hint-", id: id, to: &out)
            out += "</li>"
        }
    }

    /// `disabledItem`, appended (the hint's id is `prefix` + `id`).
    static func appendDisabled(_ hint: String?, prefix: String, id: String, to out: inout [UInt8]) {
        guard hint != nil else { return }
        out += " aria-disabled=\"true\" data-disabled=\"true\" aria-describedby=\""
        out += prefix
        out += id
        out += "\""
    }

    /// `menuHint`, appended.
    static func appendHint(_ hint: String?, prefix: String, id: String, to out: inout [UInt8]) {
        guard let hint else { return }
        out += "<span class=\"menu-hint\" id=\""
        out += prefix
        out += id
        out += "\">"
        HTML.appendEscaped(hint, to: &out)
        out += "</span>"
    }

    /// The confirmation dialogs of the lifecycle actions (one each; the script fills in the member).
    static func lifecycleDialogs(_ m: Model) -> [HTML] {
        let grantable = m.roles.filter { (m.rolePermissions[$0.id] ?? []).isSubset(of: m.auth.permissions) }
        let options = grantable.map { role -> HTML in
            "<option value=\"\(role.id.lowercasedString)\">\(role.name)</option>"
        }
        let dialog = { (action: String, route: Route, title: HTML, body: HTML, button: String, danger: Bool) -> HTML in
            """
            <dialog id="lifecycle-\(action)" class="modal" aria-labelledby="lifecycle-\(action)-title"
                    aria-describedby="lifecycle-\(action)-desc" data-confirm>
              <form method="post" action="\(route.path)" class="stack">
                \(Layout.csrfField(m.auth.csrfToken))
                \(hiddenState(m.filter))\(returnField(m))
                <input type="hidden" name="memberId" value="" data-field="member-id">
                <h2 id="lifecycle-\(action)-title">\(title)</h2>
                <p class="muted" data-field="email"></p>
                <div id="lifecycle-\(action)-desc">\(body)</div>
                <label for="lifecycle-\(action)-reason">Reason or ticket (optional)</label>
                <input id="lifecycle-\(action)-reason" name="reason" maxlength="\(BulkLimits.maximumReasonLength)" autocomplete="off">
                <div class="modal-actions">
                  <button type="button" class="button" data-close>Cancel</button>
                  <button type="submit" class="button \(danger ? "button-danger" : "button-primary")">\(button)</button>
                </div>
              </form>
            </dialog>
            """
        }
        let organization = m.auth.organizationName
        return [
            dialog(
                "role", .membersRole, "Change the role of <span data-field=\"name\"></span>",
                """
                <label for="lifecycle-role-select">New role</label>
                <select id="lifecycle-role-select" name="roleId" data-field="role-id" required>\(options)</select>
                <p>Only roles with no more access than yours are offered. An email telling <span data-field="first"></span> is queued.</p>
                """, "Change role", false),
            dialog(
                "suspend", .membersSuspend, "Suspend <span data-field=\"name\"></span>?",
                """
                <p><span data-field="first"></span> can't sign in until reactivated; they are signed out now.</p>
                """, "Suspend", true),
            dialog(
                "reactivate", .membersReactivate, "Reactivate <span data-field=\"name\"></span>?",
                "<p><span data-field=\"first\"></span> can sign in again with their password and MFA.</p>",
                "Reactivate",
                false),
            dialog(
                "remove", .membersRemove, "Remove <span data-field=\"name\"></span> from \(organization)?",
                """
                <p>They lose access at once. Their audit history is kept.</p>
                <p class="warning"><strong>This cannot be undone.</strong></p>
                """, "Remove", true),
        ]
    }

    /// Actions → Change role…, Suspend, Reactivate, Remove… for a selection: the confirmation says how many and
    /// whom, asks for the typed count above the threshold, and leads to per-member results.
    static func bulkLifecycleDialogs(_ m: Model) -> [HTML] {
        let grantable = m.roles.filter { (m.rolePermissions[$0.id] ?? []).isSubset(of: m.auth.permissions) }
        let options = grantable.map { role -> HTML in
            "<option value=\"\(role.id.lowercasedString)\">\(role.name)</option>"
        }
        let dialog = {
            (action: String, route: Route, verb: String, question: String, body: HTML, danger: Bool) -> HTML in
            """
            <dialog id="bulk-\(action)" class="modal" aria-labelledby="bulk-\(action)-title" aria-describedby="bulk-\(action)-desc"
              data-confirm data-typed-confirmation-above="\(BulkLimits.typedConfirmationAbove)" data-verb="\(verb)">
              <form method="post" action="\(route.path)" class="stack">
                \(Layout.csrfField(m.auth.csrfToken))
                <input type="hidden" name="bulk" value="1">
                <div data-field="targets"></div>
                <h2 id="bulk-\(action)-title">\(question) <span data-field="count"></span> <span data-field="noun">members</span>?</h2>
                <div id="bulk-\(action)-desc">
                  <p>For <strong data-field="scope"></strong>:</p>
                  <p class="names" data-field="names"></p>
                  \(body)
                </div>
                <label for="bulk-\(action)-reason">Reason or ticket (optional)</label>
                <input id="bulk-\(action)-reason" name="reason" maxlength="\(BulkLimits.maximumReasonLength)" autocomplete="off">
                \(typedCount(id: "bulk-\(action)-confirm"))
                <div class="modal-actions">
                  <button type="button" class="button" data-close>Cancel</button>
                  <button type="submit" class="button \(danger ? "button-danger" : "button-primary")" data-field="submit">\(verb)</button>
                </div>
              </form>
            </dialog>
            """
        }
        return [
            dialog(
                "role", .membersRole, "Change the role of", "Change the role of",
                """
                <label for="bulk-role-select">New role</label>
                <select id="bulk-role-select" name="roleId" required>\(options)</select>
                <p>Only roles with no more access than yours are offered. Members you may not change are listed as
                failed in the results; an email to each changed member is queued.</p>
                """, false),
            dialog(
                "suspend", .membersSuspend, "Suspend", "Suspend",
                "<p>They can't sign in until reactivated; they are signed out everywhere now.</p>", true),
            dialog(
                "reactivate", .membersReactivate, "Reactivate", "Reactivate",
                "<p>They can sign in again with their password and MFA.</p>", false),
            dialog(
                "remove", .membersRemove, "Remove", "Remove",
                """
                <p>They lose access at once. Their audit history is kept.</p>
                <p class="warning"><strong>This cannot be undone.</strong></p>
                """, true),
        ]
    }

    /// One member's row in a results table: who, the outcome as a badge (`done` names a change), the reason.
    static func resultRow(_ outcome: BatchOutcome, done: String) -> HTML {
        let label: HTML =
            switch outcome.status {
            case "skipped": "<span class=\"badge badge-neutral\">Skipped</span>"
            case "failed": "<span class=\"badge badge-danger\">Failed</span>"
            case "not_done": "<span class=\"badge badge-warning\">Not done</span>"
            default: "<span class=\"badge badge-success\">\(done)</span>"
            }
        let shown = outcome.email.isEmpty ? outcome.memberID.lowercasedString : outcome.email
        return """
            <tr data-status="\(outcome.status)"><td>\(outcome.name.isEmpty ? "—" : outcome.name)<span class="folded">\(shown)</span></td>\
            <td class="col-email">\(shown)</td><td>\(label)</td><td>\(outcome.reason)</td></tr>
            """
    }

    // MARK: Results

    struct ResultsModel {
        var auth: AuthState
        var batch: ResetBatch
        /// One page of the results, those needing attention first.
        var rows: [BatchOutcome]
        /// The outcome shown (nil: all).
        var group: ResetRepository.OutcomeGroup?
        /// The cursor of the next page, if there is one.
        var next: String?
        var isFirstPage: Bool
        /// Members a retry would ask about again (not done, or refused only for the actor's permission then).
        var retryable: Int
        var stepUpNeeded: Bool
        var notice: Notice?
    }

    /// A running job: how far it is, about how long is left, and Cancel.
    static func progress(auth: AuthState, batch: ResetBatch, notice: Notice?) -> HTML {
        let id = batch.id.lowercasedString
        let percent = batch.total == 0 ? 0 : batch.processed * 100 / batch.total
        let cancelling = batch.cancelRequestedAt != nil
        // A request that runs in the foreground (up to the synchronous limit) ends with its request: no Cancel.
        let cancel: HTML =
            !batch.background
            ? .empty
            : cancelling
                ? "<p class=\"muted\" id=\"job-cancelling\">Cancelling — the job stops after the members being reset now.</p>"
                : """
                <form method="post" action="\(Route.resetCancel.path(batch.id))" class="inline-form">
                  \(Layout.csrfField(auth.csrfToken))
                  <button type="submit" class="button" id="cancel-job" aria-describedby="cancel-help">Cancel</button>
                </form>
                <p class="help" id="cancel-help">Cancel finishes the members being reset right now, then stops. Members already
                reset stay reset; the results list those it did not reach.</p>
                """
        return Layout.app(
            title: "Resetting MFA", auth: auth, current: "members",
            content: """
                <h1>Resetting MFA</h1>
                <div id="toast">\(notice.map { Layout.toast($0.text, kind: $0.kind.rawValue) } ?? .empty)</div>
                <div class="card section" id="job" data-job="\(id)" data-poll="\(Route.apiResetJob.path(batch.id))"
                     data-total="\(batch.total)">
                  <p id="job-label">Resetting MFA — <span id="job-percent">\(percent)%</span></p>
                  <progress id="job-progress" max="\(batch.total)" value="\(batch.processed)" aria-labelledby="job-label">\(percent)%</progress>
                  <p class="job-figures"><span id="job-count">\(batch.processed.grouped) of \(batch.total.grouped) members</span>
                  · <span id="job-eta">estimating time left…</span></p>
                  <p class="muted" id="job-status" role="status"></p>
                  <div class="job-actions">\(cancel)</div>
                  <p class="muted">You can leave this page and come back: the reset continues on the server.
                  This page updates itself; <a href="\(Route.resetResults.path(batch.id))">reload it</a> to check by hand.</p>
                </div>
                <p><a href="\(Route.members.path)">Back to Members</a></p>
                """)
    }

    /// A finished batch: the summary, the reason given, a retry where one could help, the CSV, the batch's audit
    /// events, and one page of members — those that need attention first, with a tab per outcome.
    static func results(_ m: ResultsModel) -> HTML {
        let batch = m.batch
        let id = batch.id.lowercasedString
        let (title, done): (String, String) =
            switch AuditAction(rawValue: batch.action) {
            case .mfaReset?:
                (batch.status == .cancelled ? "MFA reset results (cancelled)" : "MFA reset results", "reset")
            case .roleChanged?: ("Change role to \(batch.detail): results", "changed")
            case .memberSuspended?: ("Suspend: results", "suspended")
            case .memberReactivated?: ("Reactivate: results", "reactivated")
            case .memberRemoved?: ("Remove: results", "removed")
            default: ("Results", "changed")
            }
        let notDone = batch.status == .cancelled ? batch.notDoneCount : 0
        let rows = m.rows.map { resultRow($0, done: done.capitalized) }
        let retry: HTML =
            m.retryable == 0
            ? .empty
            : """
            <form method="post" action="\(Route.membersResetMFA.path)" class="retry-form" id="retry-form">
              \(Layout.csrfField(m.auth.csrfToken))
              <input type="hidden" name="bulk" value="1">
              <input type="hidden" name="retryOf" value="\(id)">
              <input type="hidden" name="return" value="results">
              <input type="hidden" name="reason" value="\(batch.reason)">
              <input type="hidden" name="idempotencyKey" value="retry-\(id)">
              \(stepUpField(stepUpNeeded: m.stepUpNeeded, id: "retry-code"))
              <button type="submit" class="button" id="retry-failed">Retry \(m.retryable.grouped) \(m.retryable == 1 ? "member" : "members")</button>
              <span class="help">Asks again for the members not done or refused for want of permission\(batch.reason.isEmpty ? "" : ", with the same reason or ticket").</span>
            </form>
            """
        // The results of one outcome (nil: all), from their first page or after a cursor.
        let link = { (group: ResetRepository.OutcomeGroup?, after: String?) -> String in
            let items = [group.map { ("show", $0.rawValue) }, after.map { ("after", $0) }].compactMap { $0 }
            let path = Route.resetResults.path(batch.id)
            return items.isEmpty ? path : path + "?" + QueryText.encode(items)
        }
        let tab = { (group: ResetRepository.OutcomeGroup?, label: String, count: Int) -> HTML in
            """
            <li><a href="\(link(group, nil))"\(HTML(unsafe: group == m.group ? " aria-current=\"page\"" : ""))>\(label) <span class="count">\(count.grouped)</span></a></li>
            """
        }
        var tabs: [HTML] = [tab(nil, "All", batch.processed + notDone)]
        if batch.failedCount > 0 { tabs.append(tab(.failed, "Failed", batch.failedCount)) }
        if notDone > 0 { tabs.append(tab(.notDone, "Not done", notDone)) }
        if batch.skippedCount > 0 { tabs.append(tab(.skipped, "Skipped", batch.skippedCount)) }
        if batch.resetCount > 0 { tabs.append(tab(.done, done.capitalized, batch.resetCount)) }
        let pager: HTML =
            m.isFirstPage && m.next == nil
            ? .empty
            : """
            <nav class="pager" aria-label="Result pages">
              \(m.isFirstPage ? HTML(unsafe: "<span class=\"button button-small\" aria-disabled=\"true\">« First page</span>") : "<a class=\"button button-small\" href=\"\(link(m.group, nil))\">« First page</a>")
              \(m.next.map { cursor -> HTML in "<a class=\"button button-small\" rel=\"next\" href=\"\(link(m.group, cursor))\">Next \(BulkLimits.resultsPageSize) ›</a>" } ?? "<span class=\"button button-small\" aria-disabled=\"true\">Next ›</span>")
            </nav>
            """
        let summary =
            [
                "\(batch.resetCount.grouped) \(done)", "\(batch.skippedCount.grouped) skipped",
                "\(batch.failedCount.grouped) failed",
            ] + (notDone > 0 ? ["\(notDone.grouped) not done"] : [])
        return Layout.app(
            title: title, auth: m.auth, current: "members",
            content: """
                <div class="page-head"><h1>\(title)</h1></div>
                <div id="toast">\(m.notice.map { Layout.toast($0.text, kind: $0.kind.rawValue) } ?? .empty)</div>
                <p class="summary" id="summary">\(summary.joined(separator: " · "))</p>
                \(batch.status == .cancelled ? HTML(unsafe: "<p class=\"muted\" id=\"cancelled-note\">The job was cancelled after \(batch.processed.grouped) of \(batch.total.grouped) members: nothing was changed for the \(notDone.grouped) it did not reach.</p>") : .empty)
                \(batch.reason.isEmpty ? HTML.empty : "<p class=\"muted\" id=\"batch-reason\">Reason or ticket: \(batch.reason)</p>")
                \(retry)
                <div class="button-row">
                  <a class="button" href="\(Route.resetResultsCSV.path(batch.id))" download>Download CSV</a>
                  \(m.auth.permissions.contains(.auditView) ? HTML(unsafe: "<a class=\"button\" id=\"batch-audit\" href=\"\(Route.audit.path)?batch=\(id)\">Audit events</a>") : .empty)
                  <a class="button button-quiet" href="\(Route.members.path)">Back to Members</a>
                </div>
                <nav aria-label="Results by outcome"><ul class="tabs" id="result-tabs">\(tabs)</ul></nav>
                <div class="table-wrap" tabindex="0" role="region" aria-label="Results per member">
                <table class="table" id="results">
                  <thead><tr><th scope="col">Member</th><th scope="col" class="col-email">Email</th><th scope="col">Result</th><th scope="col">Reason</th></tr></thead>
                  <tbody>\(rows)</tbody>
                </table>
                </div>
                \(rows.isEmpty ? HTML(unsafe: "<p class=\"empty\">No members here.</p>") : .empty)
                \(pager)
                """)
    }

    /// The `Locked` badge, with until when in its title.
    static func lockedBadge(_ until: Date?) -> HTML {
        guard let until else { return .empty }
        let title =
            until == .distantFuture
            ? "Sign-in locked until an administrator unlocks it" : "Sign-in locked until \(DateText.short(until))"
        return
            " <span class=\"badge badge-danger\" title=\"\(title)\"><span aria-hidden=\"true\">⊘</span> Locked</span>"
    }

    /// Marks a menu item a rule forbids as disabled, its reason tied to it.
    static func disabledItem(_ hint: String?, id: String) -> HTML {
        hint == nil ? .empty : " aria-disabled=\"true\" data-disabled=\"true\" aria-describedby=\"\(id)\""
    }

    static func menuHint(_ hint: String?, id: String) -> HTML {
        hint.map { "<span class=\"menu-hint\" id=\"\(id)\">\($0)</span>" } ?? .empty
    }

    /// Above the threshold a bulk confirmation asks for the number of members, typed: the label names it ("Type 49
    /// to confirm") and a typed number that does not match is said so, tied to the field.
    static func typedCount(id: String) -> HTML {
        """
        <div data-field="confirm-count" class="typed-count" hidden>
          <label for="\(id)">Type <strong data-field="count"></strong> to confirm</label>
          <input id="\(id)" name="confirmCount" inputmode="numeric" autocomplete="off" data-field="confirm-input"
                 aria-describedby="\(id)-mismatch">
          <p class="field-error" id="\(id)-mismatch" data-field="confirm-mismatch" aria-live="polite"></p>
        </div>
        """
    }

    static func stepUpField(_ m: Model, id: String) -> HTML { stepUpField(stepUpNeeded: m.stepUpNeeded, id: id) }

    static func stepUpField(stepUpNeeded: Bool, id: String) -> HTML {
        guard stepUpNeeded else { return .empty }
        return """
            <div class="step-up">
              <p><strong>Confirm it's you:</strong> enter a code from your authenticator app.</p>
              <label for="\(id)">Authentication code</label>
              <input id="\(id)" name="code" class="code-input" inputmode="numeric" autocomplete="one-time-code"
                     pattern="[0-9]{6}" maxlength="6" required>
            </div>
            """
    }

    static func singleDialog(_ m: Model) -> HTML {
        """
        <dialog id="single-reset" class="modal" aria-labelledby="single-title" aria-describedby="single-desc" data-confirm>
          <form method="post" action="\(Route.membersResetMFA.path)" class="stack" id="single-form">
            \(Layout.csrfField(m.auth.csrfToken))
            \(hiddenState(m.filter))\(returnField(m))
            <input type="hidden" name="memberId" value="" data-field="member-id">
            <h2 id="single-title">Reset MFA for <span data-field="name"></span>?</h2>
            <p class="muted" data-field="email"></p>
            <div id="single-desc">
              <p>This will:</p>
              <ul>
                <li>remove <span data-field="first"></span>'s authenticator app and recovery codes</li>
                <li>sign <span data-field="first"></span> out of every device</li>
                <li>require <span data-field="first"></span> to set up MFA again at next sign-in\(m.auth.requireMFA ? "" : " (if they choose to; MFA is optional here)")</li>
              </ul>
              <p><span data-field="first"></span>'s account, role and data are not changed.</p>
              <p class="warning"><strong>This action cannot be undone.</strong></p>
            </div>
            <label for="single-reason">Reason or ticket (optional)</label>
            <input id="single-reason" name="reason" maxlength="\(BulkLimits.maximumReasonLength)" autocomplete="off">
            \(stepUpField(m, id: "single-code"))
            <div class="modal-actions">
              <button type="button" class="button" data-close>Cancel</button>
              <button type="submit" class="button button-danger">Reset MFA</button>
            </div>
          </form>
        </dialog>
        """
    }

    static func bulkDialog(_ m: Model) -> HTML {
        """
        <dialog id="bulk-reset" class="modal" aria-labelledby="bulk-title" aria-describedby="bulk-desc"
          data-confirm data-selection="\(Route.membersSelection.path)" data-typed-confirmation-above="\(BulkLimits.typedConfirmationAbove)" data-verb="Reset MFA for">
          <form method="post" action="\(Route.membersResetMFA.path)" class="stack" id="bulk-form">
            \(Layout.csrfField(m.auth.csrfToken))
            <input type="hidden" name="idempotencyKey" value="\(m.idempotencyKey)">
            <input type="hidden" name="bulk" value="1">
            <div data-field="targets"></div>
            <h2 id="bulk-title">Reset MFA for <span data-field="count"></span> <span data-field="noun">members</span>?</h2>
            <div id="bulk-desc">
              <p>MFA will be reset for <strong data-field="scope"></strong>:</p>
              <p class="names" data-field="names"></p>
              <p class="skip-preview" data-field="skip" id="bulk-skip"></p>
              <p>Each member's authenticator app and recovery codes are removed and they are signed out everywhere.
              They must set up MFA again at next sign-in.</p>
              <p class="warning"><strong>This action cannot be undone.</strong></p>
            </div>
            <label for="bulk-reason">Reason or ticket (optional)</label>
            <input id="bulk-reason" name="reason" maxlength="\(BulkLimits.maximumReasonLength)" autocomplete="off">
            \(typedCount(id: "bulk-confirm"))
            \(stepUpField(m, id: "bulk-code"))
            <div class="modal-actions">
              <button type="button" class="button" data-close>Cancel</button>
              <button type="submit" class="button button-danger" data-field="submit">Reset MFA</button>
            </div>
          </form>
        </dialog>
        """
    }
}
