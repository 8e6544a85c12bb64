import Foundation
import LatchkeyCore
import LatchkeyStore

/// The Roles page.
enum RolesPages {
    static func page(auth: AuthState, roles: [(role: Role, members: Int)], notice: String?, error: String?) -> HTML {
        let checkboxes = { (prefix: String, checked: Set<Permission>) -> HTML in
            Layout.permissionCheckboxes(auth: auth, prefix: prefix, checked: checked)
        }
        let rows = roles.map { role, members -> HTML in
            let permissions = role.permissions.sorted().map { "<code>\($0.rawValue)</code>" }.joined(separator: " ")
            let id = role.id.lowercasedString
            let editable = role.builtIn == nil && role.permissions.isSubset(of: auth.permissions)
            let edit: HTML =
                editable
                ? """
                <details class="role-edit">
                  <summary>Edit</summary>
                  <form method="post" action="\(Route.role.path(role.id))" class="stack">
                    \(Layout.csrfField(auth.csrfToken))
                    <label for="name-\(id)">Name</label>
                    <input id="name-\(id)" name="name" value="\(role.name)" maxlength="50" required>
                    <fieldset><legend>Permissions</legend>\(checkboxes("edit-\(id)", role.permissions))</fieldset>
                    <button type="submit" class="button button-primary">Save</button>
                  </form>
                </details>
                """
                : (role.builtIn != nil ? .empty : "<span class=\"muted\">Holds more than your role</span>")
            return """
                <tr data-role-id="\(id)">
                  <td>\(role.name)\(role.builtIn != nil ? HTML(unsafe: " <span class=\"badge badge-neutral\">Built in</span>") : .empty)</td>
                  <td>\(HTML(unsafe: permissions.isEmpty ? "<span class=\"muted\">none</span>" : permissions))</td>
                  <td><a href="\(Route.members.path)?role=\(id)">\(members.grouped)</a></td>
                  <td>\(edit)</td>
                </tr>
                """
        }
        return Layout.app(
            title: "Roles", auth: auth, current: "roles",
            content: """
                <h1>Roles</h1>
                \(Layout.toast(notice))
                \(Layout.alert(error))
                <section class="card section" aria-labelledby="roles-heading">
                  <h2 id="roles-heading">Your organization's roles</h2>
                  <p class="muted">Owner, Admin and Member are built in. A custom role can hold only permissions your
                  own role holds; its members have the new permissions at their next click.</p>
                  <div class="table-wrap" tabindex="0" role="region" aria-label="Roles">
                  <table class="table" id="roles-table">
                    <thead><tr><th scope="col">Role</th><th scope="col">Permissions</th><th scope="col">Members</th>
                      <th scope="col"><span class="visually-hidden">Edit</span></th></tr></thead>
                    <tbody>\(rows)</tbody>
                  </table>
                  </div>
                </section>
                <section class="card section" aria-labelledby="new-role-heading">
                  <h2 id="new-role-heading">New role</h2>
                  <form method="post" action="\(Route.roles.path)" class="stack narrow">
                    \(Layout.csrfField(auth.csrfToken))
                    <label for="new-role-name">Name</label>
                    <input id="new-role-name" name="name" maxlength="50" required>
                    <fieldset><legend>Permissions</legend>\(checkboxes("new", []))</fieldset>
                    <button type="submit" class="button button-primary">Create role</button>
                  </form>
                </section>
                """)
    }
}
