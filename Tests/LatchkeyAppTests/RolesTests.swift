import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
import Testing

@testable import LatchkeyApp

@Suite("Custom roles: created and edited within the actor's own permissions")
struct RolesTests {
    func roles(_ h: Harness) async throws -> [RoleModel] {
        try await RoleModel.query(on: h.db).filter(\.$organizationID == h.acme.organizationID).all()
    }

    @Test("an Owner creates a role, gives it to a member, edits it: permissions follow at the next request, audited")
    func createAndEdit() async throws {
        try await Harness.withApp { h, client in
            var owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            var jane = try await h.enrolled("jane@acme.test", name: "Jane Doe", client: client)
            let created = try await client.api(
                .post, "/api/v1/roles", #"{"name":"Auditor","permissions":["audit.view","members.view"]}"#,
                session: &owner.session)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            #expect(created.json["permissions"] as? [String] == ["audit.view", "members.view"])
            let listed = try await client.api(.get, "/api/v1/roles", session: &owner.session)
            let auditor = try #require(
                (listed.json["roles"] as? [[String: Any]])?.first { $0["name"] as? String == "Auditor" })
            #expect(auditor["builtIn"] == nil && auditor["members"] as? Int == 0)

            #expect(try await client.api(.get, "/api/v1/audit-events", session: &jane.session).status == .forbidden)
            let moved = try await client.api(
                .post, "/api/v1/members/\(jane.id)/role", #"{"roleId":"\#(id)"}"#, session: &owner.session)
            #expect(moved.status == .ok && moved.json["role"] as? String == "Auditor")
            #expect(try await client.api(.get, "/api/v1/audit-events", session: &jane.session).status == .ok)

            let edited = try await client.api(
                .post, "/api/v1/roles/\(id)", #"{"name":"Reader","permissions":["members.view"]}"#,
                session: &owner.session)
            #expect(edited.status == .ok && edited.json["name"] as? String == "Reader")
            #expect(edited.json["members"] as? Int == 1)
            #expect(try await client.api(.get, "/api/v1/audit-events", session: &jane.session).status == .forbidden)

            let events = try await AuditEventModel.query(on: h.db).filter(
                \.$action ~~ ["role.created", "role.updated"]
            )
            .sort(\.$seq).all()
            #expect(
                events.map(\.reason) == [
                    "Auditor: audit.view,members.view",
                    "name: Auditor → Reader; permissions: audit.view,members.view → members.view",
                ])
            #expect(events.allSatisfy { $0.result == "success" && $0.actorEmail == "olivia@acme.test" })
        }
    }

    @Test("refusals change nothing and are audited: no roles.manage, built-in roles, more than one holds, taken names")
    func refusals() async throws {
        try await Harness.withApp { h, client in
            let owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            // A role that may manage roles but holds little else.
            let keeper = try await OrganizationService(services: h.services).createRole(
                organizationID: h.acme.organizationID, name: "Role keeper", permissions: [.rolesManage, .membersView])
            var kim = try await h.enrolled("kim@acme.test", client: client)
            try await MemberModel.query(on: h.db).filter(\.$id == kim.id).set(\.$roleID, to: keeper).update()
            let before = try await roles(h).map(\.permissionList).sorted()

            let cases: [(String, String, Session, HTTPResponse.Status, String)] = [
                ("/api/v1/roles", #"{"name":"X","permissions":[]}"#, admin.session, .forbidden, "forbidden"),
                (
                    "/api/v1/roles/\(h.acme.roles[.member]!)", #"{"permissions":["audit.view"]}"#, owner.session,
                    .forbidden, "built_in_role"
                ),
                (
                    "/api/v1/roles", #"{"name":"Spy","permissions":["audit.view"]}"#, kim.session, .forbidden,
                    "permission_not_held"
                ),
                (
                    "/api/v1/roles", #"{"name":"Role keeper","permissions":[]}"#, owner.session, .conflict,
                    "role_name_taken"
                ),
                (
                    "/api/v1/roles", #"{"name":"Odd","permissions":["root"]}"#, owner.session, .badRequest,
                    "invalid_permission"
                ),
                ("/api/v1/roles", #"{"name":"  ","permissions":[]}"#, owner.session, .badRequest, "invalid_role_name"),
                (
                    "/api/v1/roles/\(h.globex.roles[.member]!)", #"{"name":"Mine"}"#, owner.session, .notFound,
                    "not_found"
                ),
            ]
            for (path, body, session, status, code) in cases {
                var session = session
                let response = try await client.api(.post, path, body, session: &session)
                #expect(response.status == status, "\(path) \(body)")
                #expect(response.errorCode == code, "\(path) \(body)")
            }
            // Kim may not edit a role holding more than hers (here: a copy of Admin's permissions).
            let wide = try await OrganizationService(services: h.services).createRole(
                organizationID: h.acme.organizationID, name: "Wide", permissions: [.membersView, .auditView])
            let widening = try await client.api(
                .post, "/api/v1/roles/\(wide)", #"{"permissions":["members.view"]}"#, session: &kim.session)
            #expect(widening.status == .forbidden && widening.errorCode == "permission_not_held")

            #expect(try await roles(h).filter { $0.name != "Wide" }.map(\.permissionList).sorted() == before)
            let denied = try await AuditEventModel.query(on: h.db).filter(
                \.$action ~~ ["role.created", "role.updated"]
            )
            .filter(\.$result == "denied").count()
            #expect(denied == 4)
            _ = try await client.api(.get, "/api/v1/roles", session: &admin.session)  // readable with members.view
        }
    }

    @Test("100 concurrent creations of one name: one role, 99 answered 409, no error")
    func concurrentCreate() async throws {
        try await Harness.withApp { h, client in
            let owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        var session = owner.session
                        return try await client.api(
                            .post, "/api/v1/roles", #"{"name":"Night shift","permissions":["members.view"]}"#,
                            session: &session
                        ).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(Set(statuses.map(\.code)).isSubset(of: [201, 409]), "\(statuses.map(\.code))")
            #expect(statuses.filter { $0 == .created }.count == 1)
            #expect(statuses.filter { $0 == .conflict }.count == 99)
            #expect(try await roles(h).filter { $0.name == "Night shift" }.count == 1)
            #expect(try await h.auditEvents(action: .roleCreated).filter { $0.result == "success" }.count == 1)
        }
    }

    @Test("the Roles page: listed with members, a form creates a role, only for roles.manage")
    func page() async throws {
        try await Harness.withApp { h, client in
            var owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            let page = try await client.page("/roles", session: &owner.session)
            #expect(page.status == .ok && page.text.contains("<h1>Roles</h1>"))
            #expect(page.text.contains(">Roles</a>"))  // in the navigation
            let csrf = try #require(csrfField(in: page.text))
            let posted = try await client.execute(
                uri: "/roles", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", .cookie: owner.session.cookieHeader],
                body: .init(
                    string: "_csrf=\(csrf)&name=Help+desk+2&permission=members.view&permission=members.reset_mfa"))
            #expect(posted.headers[.location] == "/roles" && posted.notice == "created")
            let role = try #require(try await roles(h).first { $0.name == "Help desk 2" })
            #expect(role.permissions == [.membersView, .membersResetMFA])
            owner.session.absorb(posted)
            let after = try await client.page("/roles", session: &owner.session)
            #expect(after.text.contains("Role created.") && after.text.contains("Help desk 2"))
            #expect(try await client.page("/roles", session: &admin.session).status == .forbidden)
            #expect(!(try await client.page("/", session: &admin.session).text.contains(">Roles</a>")))
        }
    }
}
