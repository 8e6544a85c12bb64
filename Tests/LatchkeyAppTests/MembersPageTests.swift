import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
import Testing

@testable import LatchkeyApp

@Suite("Manage Members page and its Reset MFA forms")
struct MembersPageTests {
    @Test("one page, many ⋮ menus: each follows its own row's role, status and whether it is the viewer")
    func menusPerRow() async throws {
        try await Harness.withApp { h, client in
            var ada = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            let abe = try await h.member("abe@acme.test", name: "Abe Admin", role: .admin, totp: true).id
            let olivia = try await h.member("olivia@acme.test", name: "Olivia Owner", role: .owner, totp: true).id
            let jane = try await h.member("jane@acme.test", name: "Jane Doe", totp: true).id
            let tom = try await h.member("tom@acme.test", name: "Tom Free", totp: true).id
            let sam = try await h.member("sam@acme.test", name: "Sam Lee", totp: true).id
            let suspended = try await client.api(.post, "/api/v1/members/\(sam)/suspend", "{}", session: &ada.session)
            #expect(suspended.json["status"] as? String == "suspended")

            let page = try await client.page("/members", session: &ada.session)
            #expect(page.status == .ok)
            func menu(_ id: UUID) throws -> String {
                // The items of the row's list, after its own attributes (which name the row) — or, as the script
                // fills it, those of the page's template the list names.
                let text = page.text
                let list = try #require(text.range(of: "id=\"menu-list-\(id.lowercasedString)\""))
                let start = try #require(text.range(of: "hidden>", range: list.upperBound..<text.endIndex))
                let end = try #require(text.range(of: "</ul>", range: start.upperBound..<text.endIndex))
                let items = String(text[start.upperBound..<end.lowerBound])
                let attributes = text[list.upperBound..<start.lowerBound]
                guard let named = attributes.range(of: "data-items=\"") else { return items }
                #expect(items.isEmpty)
                let status = attributes[named.upperBound...].prefix { $0 != "\"" }
                let template = try #require(text.range(of: "<template id=\"menu-items-\(status)\">"))
                let close = try #require(text.range(of: "</template>", range: template.upperBound..<text.endIndex))
                return String(text[template.upperBound..<close.lowerBound])
            }
            // Plain rows of one status share their items, none disabled; a suspended row offers Reactivate.
            #expect(try menu(jane) == menu(tom))
            #expect(page.text.contains("data-items=\"active\"") && page.text.contains("data-items=\"suspended\""))
            #expect(try menu(jane).contains("data-lifecycle=\"suspend\"") && !menu(jane).contains("aria-disabled"))
            #expect(try menu(sam).contains("data-lifecycle=\"reactivate\"") && !menu(sam).contains("\"suspend\""))
            // Another Admin is not the viewer: nothing disabled, although the viewer's own row of that role is.
            #expect(try !menu(abe).contains("aria-disabled"))
            let own = try menu(ada.id)
            #expect(own.contains("aria-describedby=\"reset-hint-\(ada.id.lowercasedString)\""))
            #expect(own.contains("You cannot reset your own MFA here"))
            #expect(own.contains("aria-describedby=\"lifecycle-hint-\(ada.id.lowercasedString)\""))
            // An Owner's row: both reasons, tied to that row's own id.
            let owner = try menu(olivia)
            #expect(
                owner.contains("id=\"reset-hint-\(olivia.lowercasedString)\">You can&#39;t reset an Owner&#39;s MFA"))
            #expect(owner.contains("id=\"lifecycle-hint-\(olivia.lowercasedString)\""))
            #expect(!owner.contains(ada.id.lowercasedString))
        }
    }

    @Test("a request running in the foreground shows its progress without Cancel, and a forged Cancel changes nothing")
    func foregroundBatchHasNoCancel() async throws {
        try await Harness.withApp { h, client in
            var ada = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            let (ids, _) = try await seedMembers(h, count: 3)
            let batch = ResetBatch(
                organizationID: h.acme.organizationID, actorID: ada.id, idempotencyKey: nil, requestHash: "x",
                total: ids.count, reason: "", background: false, requestID: "r", ip: "", userAgent: "",
                createdAt: h.clock.now)
            try await h.services.store.resets.open(batch, memberIDs: ids)
            let page = try await client.page("/members/resets/\(batch.id)", session: &ada.session)
            #expect(page.text.contains("Resetting MFA") && !page.text.contains("cancel-job"))
            let csrf = try #require(csrfField(in: page.text))
            let forged = try await client.form(
                "/members/resets/\(batch.id)/cancel", ["_csrf": csrf], session: &ada.session)
            #expect(forged.notice == "not_running")
            #expect(try await h.services.store.resets.find(batch.id)?.cancelRequestedAt == nil)
            #expect(try await h.auditEvents(action: .resetJobCancelled).isEmpty)
        }
    }

    @Test("the page lists the organization's members with MFA status; filters, search and pages work")
    func listing() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            try await h.member("sam@acme.test", name: "Sam Lee", totp: false)
            try await h.member("gus@globex.test", name: "Gus Globex", organization: h.globex, totp: false)
            _ = try await seedMembers(h, count: 30)
            let page = try await client.page("/members?limit=10", session: &admin.session)
            #expect(page.status == .ok)
            #expect(page.text.contains("Showing 1–10 of 32"))
            let total = 34  // with the two members added for the search checks below
            #expect(!page.text.contains("gus@globex.test"))
            #expect(page.text.contains("aria-label=\"Select all members on this page\""))
            #expect(page.text.contains("id=\"actions-button\""))
            #expect(page.text.contains("This action cannot be undone."))

            let search = try await client.page("/members?query=SAM", session: &admin.session)
            #expect(search.text.contains("sam@acme.test"))
            #expect(search.text.contains("Showing 1–1 of 1"))
            // Word-prefix search over name words and email: every query word must match.
            try await h.member("jane.doe@acme.test", name: "Jane Doe", totp: false)
            try await h.member("john.doering@acme.test", name: "John Doering", totp: false)
            let emails = { (query: String) async throws -> Set<String> in
                let json = try await client.api(
                    .get, "/api/v1/members?limit=100&query=\(query)", session: &admin.session
                ).json
                return Set((json["members"] as? [[String: Any]] ?? []).compactMap { $0["email"] as? String })
            }
            #expect(try await emails("doe") == ["jane.doe@acme.test", "john.doering@acme.test"])
            #expect(try await emails("jane%20do") == ["jane.doe@acme.test"])
            #expect(try await emails("JANE.DOE%40acme") == ["jane.doe@acme.test"])
            #expect(try await emails("oe").isEmpty)
            #expect(try await emails("gus").isEmpty)  // another organization's member is never found
            let notSetUp = try await client.page("/members?mfa=not_set_up", session: &admin.session)
            #expect(notSetUp.text.contains("sam@acme.test") && !notSetUp.text.contains("ada@acme.test"))

            // Keyset pages: walk forward through every member exactly once.
            var seen: [String] = []
            var cursor: String? = nil
            repeat {
                let path = "/api/v1/members?limit=7" + (cursor.map { "&cursor=\($0)" } ?? "")
                let json = try await client.api(.get, path, session: &admin.session).json
                seen += (json["members"] as? [[String: Any]] ?? []).compactMap { $0["email"] as? String }
                cursor = json["nextCursor"] as? String
            } while cursor != nil
            #expect(seen.count == total)
            #expect(Set(seen).count == total)
            for bad in ["limit=0", "limit=500", "mfa=maybe", "role=nope", "cursor=%%%", "sort=age"] {
                let response = try await client.api(.get, "/api/v1/members?\(bad)", session: &admin.session)
                #expect(response.status == .badRequest, "\(bad)")
            }
        }
    }

    @Test(
        "a member without permission gets no page, no Reset MFA item, no Actions button, and a forged POST is refused")
    func withoutPermission() async throws {
        try await Harness.withApp { h, client in
            var plain = try await h.enrolled("mo@acme.test", client: client)
            let jane = try await h.enrolled("jane@acme.test", client: client)
            let page = try await client.page("/members", session: &plain.session)
            #expect(page.status == .forbidden)
            #expect(!page.text.contains("Reset MFA"))
            let home = try await client.page("/", session: &plain.session)
            #expect(!home.text.contains("href=\"/members\""))
            let before = try await Footprint.of(jane.id, h)
            let forged = try await client.form(
                "/members/reset-mfa", ["_csrf": plain.session.csrf!, "memberId": jane.id.uuidString],
                session: &plain.session)
            #expect(forged.notice == "forbidden")
            #expect(try await Footprint.of(jane.id, h) == before)

            // A Help desk role with view+manage but no reset permission sees the table without reset controls.
            let helpDesk = try await OrganizationService(services: h.services).createRole(
                organizationID: h.acme.organizationID, name: "Viewer", permissions: [.membersView, .membersManage])
            try await MemberModel.query(on: h.db).filter(\.$id == plain.id).set(\.$roleID, to: helpDesk).update()
            let viewer = try await client.page("/members", session: &plain.session)
            #expect(viewer.status == .ok)
            #expect(!viewer.text.contains("data-reset-member"))
            // Actions offers what view+manage allows (the lifecycle actions), never Reset MFA.
            #expect(viewer.text.contains("actions-button") && !viewer.text.contains("data-bulk-reset"))
            #expect(!viewer.text.contains("id=\"bulk-reset\"") && !viewer.text.contains("id=\"single-reset\""))
        }
    }

    @Test("single reset through the modal's form: success message, row updated; an Owner cannot be reset by an Admin")
    func singleForm() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", name: "Jane Doe", client: client)
            let owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            let page = try await client.page("/members", session: &admin.session)
            #expect(page.text.contains(HTML.escape("You can't reset an Owner's MFA")))
            #expect(page.text.contains("You cannot reset your own MFA here — use My security"))

            let done = try await client.form(
                "/members/reset-mfa",
                ["_csrf": admin.session.csrf!, "memberId": jane.id.uuidString, "reason": "INC-1"],
                session: &admin.session)
            #expect(done.status == .seeOther)
            let after = try await client.page(try #require(done.location), session: &admin.session)
            #expect(after.text.contains("MFA reset for Jane Doe. They will set it up again at next sign-in."))
            #expect(after.text.contains("Reset — pending setup"))
            #expect(
                try await Footprint.of(jane.id, h)
                    == Footprint(mfaStatus: "reset_pending", credentials: 0, recoveryCodes: 0, sessions: 0))

            let refused = try await client.form(
                "/members/reset-mfa", ["_csrf": admin.session.csrf!, "memberId": owner.id.uuidString],
                session: &admin.session)
            let message = try await client.page(try #require(refused.location), session: &admin.session)
            #expect(
                message.text.contains(
                    HTML.escape("Couldn't reset MFA for Olivia Owner: you can't reset an Owner's MFA.")))
            #expect(try await Footprint.of(owner.id, h).credentials == 1)

            for method in [HTTPRequest.Method.get, .head] {
                var headers: HTTPFields = [.cookie: admin.session.cookieHeader]
                headers[.accept] = "text/html"
                let response = try await client.execute(uri: "/members/reset-mfa", method: method, headers: headers)
                #expect(response.status == .methodNotAllowed)
            }
        }
    }

    @Test("bulk through the modal's form: typed count above 25 enforced by the server; results page and CSV")
    func bulkForm() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let (ids, _) = try await seedMembers(h, count: 30)
            let fields = ["_csrf": admin.session.csrf!, "bulk": "1", "idempotencyKey": "k1"]
            var body = fields.map { "\($0.key)=\($0.value)" }
            body += ids.map { "memberId=\($0.uuidString)" }
            func post(_ parts: [String]) async throws -> TestResponse {
                try await client.execute(
                    uri: "/members/reset-mfa", method: .post,
                    headers: [.contentType: "application/x-www-form-urlencoded", .cookie: admin.session.cookieHeader],
                    body: .init(string: parts.joined(separator: "&")))
            }
            let unconfirmed = try await post(body)
            #expect(unconfirmed.status == .badRequest)
            #expect(unconfirmed.text.contains("Type the number of selected members (30)"))
            #expect(try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID ~~ ids).count() == 30)
            let wrong = try await post(body + ["confirmCount=29"])
            #expect(wrong.status == .badRequest)

            let confirmed = try await post(body + ["confirmCount=30"])
            #expect(confirmed.status == .seeOther)
            let location = try #require(confirmed.location)
            #expect(location.hasPrefix("/members/resets/"))
            let results = try await client.page(location, session: &admin.session)
            #expect(results.text.contains("30 reset · 0 skipped · 0 failed"))
            #expect(results.text.contains("Download CSV"))
            #expect(try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID ~~ ids).count() == 0)
            let csv = try await client.page(location + "/results.csv", session: &admin.session)
            #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            #expect(csv.text.split(separator: "\r\n").count == 31)
            #expect(csv.text.hasPrefix("member_id,name,email,result,reason"))
            // The same form submitted twice (a double click) does not reset twice.
            let again = try await post(body + ["confirmCount=30"])
            #expect(again.location == location)
            #expect(try await h.auditEvents(action: .mfaReset).count == 30)
        }
    }

    @Test("with a stale MFA the modal asks for a fresh code, and the code lets the reset through")
    func stepUpForm() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", name: "Jane Doe", client: client)
            h.clock.advance(900)
            let page = try await client.page("/members", session: &admin.session)
            #expect(page.text.contains("Confirm it's you:"))
            let without = try await client.form(
                "/members/reset-mfa", ["_csrf": admin.session.csrf!, "memberId": jane.id.uuidString],
                session: &admin.session)
            #expect(without.notice == "step_up")
            #expect(try await Footprint.of(jane.id, h).credentials == 1)
            let with = try await client.form(
                "/members/reset-mfa",
                ["_csrf": admin.session.csrf!, "memberId": jane.id.uuidString, "code": try h.code(admin.secret)],
                session: &admin.session)
            #expect(with.notice == "reset")
            #expect(try await Footprint.of(jane.id, h).credentials == 0)
        }
    }
}
