import FluentKit
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LatchkeyCore
import NIOCore
import SQLKit
import Testing

@testable import LatchkeyApp
@testable import LatchkeyStore

extension TestClientProtocol {
    /// A SCIM call: a Bearer token (if any), a SCIM JSON body (if any), nothing else.
    @discardableResult
    func scim(
        _ method: HTTPRequest.Method, _ path: String, _ body: String? = nil, token: String?,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if body != nil, headers[.contentType] == nil { headers[.contentType] = "application/scim+json" }
        return try await execute(
            uri: "/scim/v2" + path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
    }
}

extension TestResponse {
    var scimType: String? { json["scimType"] as? String }
    var resources: [[String: Any]] { json["Resources"] as? [[String: Any]] ?? [] }
}

/// An Owner of Acme and a token holding what an identity provider's connection needs.
func scimToken(
    _ h: Harness, _ client: some TestClientProtocol, role: BuiltInRole = .owner,
    permissions: [String] = ["scim.provision", "members.view", "members.manage"]
) async throws -> (token: String, owner: (id: UUID, secret: [UInt8], session: Session)) {
    var owner = try await h.enrolled("olga@acme.test", name: "Olga Owner", role: role, client: client)
    let minted = try await client.mint(permissions, session: &owner.session)
    return (try #require(minted.json["token"] as? String), owner)
}

@Suite("SCIM 2.0: identity providers provision members through the same rules and audit as administrators")
struct ScimTests {
    @Test("only a Bearer token holding scim.provision gets in; every refusal is a SCIM error document")
    func authentication() async throws {
        try await Harness.withApp { h, client in
            let (token, owner) = try await scimToken(h, client)
            let anonymous = try await client.scim(.get, "/Users", token: nil)
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.contentType] == "application/scim+json; charset=utf-8")
            #expect(
                anonymous.json["schemas"] as? [String] == [Scim.errorSchema]
                    && anonymous.json["status"] as? String == "401")
            #expect(anonymous.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            // A signed-in browser's cookie is not a credential here.
            let cookie = try await client.scim(
                .get, "/Users", token: nil, headers: [.cookie: owner.session.cookieHeader])
            #expect(cookie.status == .unauthorized)
            let wrong = try await client.scim(.get, "/Users", token: "lk_" + String(repeating: "a", count: 43))
            #expect(wrong.status == .unauthorized && wrong.json["detail"] != nil)
            // A token without scim.provision, though its creator holds it.
            var session = owner.session
            let plain = try #require(
                try await client.mint(["members.view", "members.manage"], name: "plain", session: &session).json[
                    "token"]
                    as? String)
            let refused = try await client.scim(.get, "/Users", token: plain)
            #expect(refused.status == .forbidden && refused.json["status"] as? String == "403")
            // The token's creator losing scim.provision (here: becoming an Admin without it is impossible, so an
            // Owner demoted to Member) takes it from the token at the next request.
            #expect(try await client.scim(.get, "/Users", token: token).status == .ok)
            try await h.sql.raw(
                "UPDATE members SET role_id = \(bind: h.acme.roles[.member]!) WHERE id = \(bind: owner.id)"
            ).run()
            #expect(try await client.scim(.get, "/Users", token: token).status == .forbidden)
            // Unknown paths and methods answer SCIM's 404 and 405.
            try await h.sql.raw(
                "UPDATE members SET role_id = \(bind: h.acme.roles[.owner]!) WHERE id = \(bind: owner.id)"
            ).run()
            let missing = try await client.scim(.get, "/Nothing", token: token)
            #expect(missing.status == .notFound && missing.json["schemas"] as? [String] == [Scim.errorSchema])
            let method = try await client.scim(.post, "/ServiceProviderConfig", "{}", token: token)
            #expect(method.status == .methodNotAllowed && method.headers[.allow] == "GET")
        }
    }

    @Test("POST /Users invites (mail, audit naming the token); userName is unique; active false suspends at once")
    func createUsers() async throws {
        try await Harness.withApp { h, client in
            let (token, _) = try await scimToken(h, client)
            let body = #"""
                {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Jane.Doe@Example.com",
                 "name":{"givenName":"Jane","familyName":"Doe"},"externalId":"00u1","active":true,
                 "emails":[{"value":"jane.doe@example.com","primary":true}],"title":"ignored"}
                """#
            let created = try await client.scim(.post, "/Users", body, token: token)
            #expect(created.status == .created)
            let id = try #require(created.json["id"] as? String)
            #expect(created.location == "\(h.services.config.linkBase)/scim/v2/Users/\(id)")
            #expect(created.json["userName"] as? String == "jane.doe@example.com")
            #expect(created.json["displayName"] as? String == "Jane Doe")
            #expect(created.json["externalId"] as? String == "00u1" && created.json["active"] as? Bool == true)
            let memberID = try #require(UUID(uuidString: id))
            let member = try #require(try await h.services.store.members.find(memberID))
            #expect(member.status == .invited && member.name == "Jane Doe" && member.roleName == "Member")
            let mail = try await h.services.store.outbox.recent(organizationID: h.acme.organizationID, limit: 10)
            #expect(mail.contains { $0.toEmail == "jane.doe@example.com" && $0.subject.contains("invited you") })
            let invited = try #require(try await h.auditEvents(action: .memberInvited).last)
            #expect(invited.actorTokenName == "script" && invited.targetEmail == "jane.doe@example.com")

            let again = try await client.scim(.post, "/Users", #"{"userName":"JANE.DOE@example.com"}"#, token: token)
            #expect(again.status == .conflict && again.scimType == "uniqueness")
            let external = try await client.scim(
                .post, "/Users", #"{"userName":"other@example.com","externalId":"00u1"}"#, token: token)
            #expect(external.status == .conflict && external.scimType == "uniqueness")
            for bad in [#"{"userName":"not an email"}"#, #"{"displayName":"No Email"}"#, #"{"userName":7}"#] {
                let refused = try await client.scim(.post, "/Users", bad, token: token)
                #expect(refused.status == .badRequest && refused.scimType == "invalidValue", "\(bad)")
            }
            let malformed = try await client.scim(.post, "/Users", "{not json", token: token)
            #expect(malformed.status == .badRequest && malformed.scimType == "invalidSyntax")
            #expect(try await h.auditEvents(action: .memberInvited).count == 1)

            let inactive = try await client.scim(
                .post, "/Users", #"{"userName":"sam@example.com","active":false}"#, token: token)
            #expect(inactive.status == .created && inactive.json["active"] as? Bool == false)
            let sam = try #require(try await h.services.store.members.find(email: "sam@example.com"))
            #expect(sam.status == .suspended)
            #expect(try await h.auditEvents(action: .memberSuspended).count == 1)
        }
    }

    @Test("filters userName, emails.value, externalId, active and id; startIndex and count page them")
    func filtersAndPaging() async throws {
        try await Harness.withApp { h, client in
            let (token, _) = try await scimToken(h, client)
            for i in 0..<7 {
                try await h.member("p\(i)@acme.test", name: "Person \(i)", totp: false)
            }
            try await h.member("gus@globex.test", name: "Gus", organization: h.globex, totp: false)
            let suspended = try await h.member("sue@acme.test", name: "Sue", totp: false)
            try await h.services.store.members.setStatus(
                .suspended, of: [suspended.id], organizationID: h.acme.organizationID)
            let created = try await client.scim(
                .post, "/Users", #"{"userName":"ext@example.com","externalId":"abc-1"}"#, token: token)
            let createdID = try #require(created.json["id"] as? String)

            let all = try await client.scim(.get, "/Users", token: token)
            #expect(all.json["totalResults"] as? Int == 10)  // Olga, 7 people, Sue, the invitation; not Gus
            func query(_ filter: String, _ extra: String = "") async throws -> TestResponse {
                let encoded = filter.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                return try await client.scim(.get, "/Users?filter=\(encoded)\(extra)", token: token)
            }
            #expect(
                try await query(#"userName eq "P3@ACME.test""#).resources.map { $0["displayName"] as? String } == [
                    "Person 3"
                ])
            #expect(try await query(#"emails.value eq "p4@acme.test""#).resources.count == 1)
            #expect(try await query(#"externalId eq "abc-1""#).resources.map { $0["id"] as? String } == [createdID])
            #expect(try await query(#"externalId eq "ABC-1""#).resources.isEmpty)  // externalId is exact
            #expect(try await query("active eq false").resources.map { $0["userName"] as? String } == ["sue@acme.test"])
            #expect(try await query("active eq true").json["totalResults"] as? Int == 9)
            #expect(try await query(#"id eq "\#(createdID)""#).resources.count == 1)
            #expect(try await query(#"userName eq "gus@globex.test""#).resources.isEmpty)
            for bad in [
                #"userName co "p""#, #"name.familyName eq "x""#, "active eq", #"userName eq "a" and active eq true"#,
            ] {
                let refused = try await query(bad)
                #expect(refused.status == .badRequest && refused.scimType == "invalidFilter", "\(bad)")
            }
            // Pages of 4 by name, then id: every user once.
            var seen: [String] = []
            for start in [1, 5, 9] {
                let page = try await client.scim(.get, "/Users?startIndex=\(start)&count=4", token: token)
                #expect(page.json["startIndex"] as? Int == start && page.json["totalResults"] as? Int == 10)
                seen += page.resources.compactMap { $0["id"] as? String }
            }
            #expect(seen.count == 10 && Set(seen).count == 10)
            let counted = try await client.scim(.get, "/Users?count=0", token: token)
            #expect(counted.json["totalResults"] as? Int == 10 && counted.resources.isEmpty)
            #expect(try await client.scim(.get, "/Users?count=x", token: token).scimType == "invalidValue")
            // attributes and excludedAttributes.
            let only = try await client.scim(.get, "/Users?attributes=userName&count=1", token: token)
            #expect(Set(only.resources.first?.keys.map { $0 } ?? []) == ["id", "schemas", "userName"])
            let without = try await client.scim(.get, "/Users?excludedAttributes=emails,groups&count=1", token: token)
            #expect(without.resources.first?["emails"] == nil && without.resources.first?["userName"] != nil)
            let search = try await client.scim(
                .post, "/Users/.search",
                #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"p1@acme.test\"","attributes":["displayName"]}"#,
                token: token)
            #expect(search.resources.map { $0["displayName"] as? String } == ["Person 1"])
            // Totals are remembered per directory version: a change is counted at the next request.
            #expect(try await query("active eq false").json["totalResults"] as? Int == 1)
            _ = try await client.scim(
                .patch, "/Users/\(createdID)", #"{"Operations":[{"op":"replace","path":"active","value":false}]}"#,
                token: token)
            _ = try await client.scim(.post, "/Users", #"{"userName":"late@example.com"}"#, token: token)
            #expect(try await client.scim(.get, "/Users?count=1", token: token).json["totalResults"] as? Int == 11)
            #expect(try await query("active eq false").json["totalResults"] as? Int == 2)
            #expect(try await query("active eq true").json["totalResults"] as? Int == 9)
        }
    }

    @Test("PATCH active false suspends and signs out, true reactivates; PUT changes email and name, audited")
    func patchAndPut() async throws {
        try await Harness.withApp { h, client in
            let (token, owner) = try await scimToken(h, client)
            var jane = try await h.enrolled("jane@acme.test", name: "Jane Doe", client: client)
            let id = jane.id.lowercasedString
            // Entra ID's form: no path, "False" as a string, "Replace" capitalised.
            let off = try await client.scim(
                .patch, "/Users/\(id)",
                #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","value":{"active":"False"}}]}"#,
                token: token)
            #expect(off.status == .ok && off.json["active"] as? Bool == false)
            #expect(try await h.services.store.members.find(jane.id)?.status == .suspended)
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &jane.session).status == .unauthorized)
            let suspendedEvent = try #require(try await h.auditEvents(action: .memberSuspended).last)
            #expect(suspendedEvent.targetEmail == "jane@acme.test" && suspendedEvent.actorTokenName == "script")
            let on = try await client.scim(
                .patch, "/Users/\(id)", #"{"Operations":[{"op":"replace","path":"active","value":true}]}"#, token: token
            )
            #expect(on.json["active"] as? Bool == true)
            #expect(try await h.services.store.members.find(jane.id)?.status == .active)

            let put = try await client.scim(
                .put, "/Users/\(id)",
                #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"jane.smith@acme.test","displayName":"Jane Smith","active":true}"#,
                token: token)
            #expect(put.status == .ok && put.json["userName"] as? String == "jane.smith@acme.test")
            let member = try #require(try await h.services.store.members.find(jane.id))
            #expect(member.email == "jane.smith@acme.test" && member.name == "Jane Smith")
            let changed = try #require(try await h.auditEvents(action: .memberProfileChanged).last)
            #expect(changed.reason == "email: jane@acme.test → jane.smith@acme.test; name: Jane Doe → Jane Smith")
            // The Members search finds the new name, not the old one.
            var olga = owner.session
            let found = try await client.api(.get, "/api/v1/members?query=smith", session: &olga)
            #expect(
                (found.json["members"] as? [[String: Any]])?.map { $0["email"] as? String } == ["jane.smith@acme.test"])
            #expect(
                ((try await client.api(.get, "/api/v1/members?query=doe", session: &olga)).json["members"] as? [Any])?
                    .isEmpty == true)
            // A taken email, and removing what every member has.
            try await h.member("taken@acme.test", totp: false)
            let taken = try await client.scim(
                .patch, "/Users/\(id)",
                #"{"Operations":[{"op":"replace","path":"userName","value":"taken@acme.test"}]}"#,
                token: token)
            #expect(taken.status == .conflict && taken.scimType == "uniqueness")
            let remove = try await client.scim(
                .patch, "/Users/\(id)", #"{"Operations":[{"op":"remove","path":"userName"}]}"#, token: token)
            #expect(remove.status == .badRequest && remove.scimType == "mutability")
            let unknownPath = try await client.scim(
                .patch, "/Users/\(id)", #"{"Operations":[{"op":"replace","path":"nickName","value":"J"}]}"#,
                token: token)
            #expect(unknownPath.status == .badRequest && unknownPath.scimType == "invalidPath")
            #expect(try await h.services.store.members.find(jane.id)?.email == "jane.smith@acme.test")
            #expect(try await h.auditEvents(action: .memberProfileChanged).count == 1)
        }
    }

    @Test("DELETE removes a member or withdraws an invitation; the last Owner cannot be deprovisioned")
    func deletes() async throws {
        try await Harness.withApp { h, client in
            // An Admin's token: the Owner is beyond it; Olga is the only Owner.
            let (token, admin) = try await scimToken(h, client, role: .admin)
            let owner = try await h.member("owen@acme.test", name: "Owen", role: .owner, totp: false)
            let jane = try await h.member("jane@acme.test", name: "Jane", totp: false)
            let removed = try await client.scim(.delete, "/Users/\(jane.id.lowercasedString)", token: token)
            #expect(removed.status == .noContent)
            #expect(try await h.services.store.members.find(jane.id) == nil)
            #expect(try await client.scim(.get, "/Users/\(jane.id.lowercasedString)", token: token).status == .notFound)
            #expect(try await h.auditEvents(action: .memberRemoved).count == 1)
            let refused = try await client.scim(.delete, "/Users/\(owner.id.lowercasedString)", token: token)
            #expect(refused.status == .forbidden)
            #expect(try await h.services.store.members.find(owner.id)?.status == .active)
            let yourself = try await client.scim(.delete, "/Users/\(admin.id.lowercasedString)", token: token)
            #expect(yourself.status == .forbidden)
            let invited = try await client.scim(.post, "/Users", #"{"userName":"new@example.com"}"#, token: token)
            let invitedID = try #require(invited.json["id"] as? String)
            #expect(try await client.scim(.delete, "/Users/\(invitedID)", token: token).status == .noContent)
            #expect(try await h.auditEvents(action: .invitationRevoked).count == 1)
            #expect(try await client.scim(.delete, "/Users/not-a-uuid", token: token).status == .notFound)
        }
        try await Harness.withApp { h, client in
            // The Owner's own token, the organization's only Owner: removing oneself is refused as ever.
            let (token, owner) = try await scimToken(h, client)
            let last = try await client.scim(.delete, "/Users/\(owner.id.lowercasedString)", token: token)
            #expect(last.status == .forbidden)
            #expect(try await h.services.store.members.activeOwnerCount(organizationID: h.acme.organizationID) == 1)
        }
    }

    @Test("Groups are roles: members added move into the role, removed ones to Member, under the role rules")
    func groups() async throws {
        try await Harness.withApp { h, client in
            let (token, _) = try await scimToken(h, client, role: .admin)
            let jane = try await h.member("jane@acme.test", name: "Jane", totp: false)
            let sam = try await h.member("sam@acme.test", name: "Sam", totp: false)
            let list = try await client.scim(.get, "/Groups?excludedAttributes=members", token: token)
            #expect(Set(list.resources.compactMap { $0["displayName"] as? String }) == ["Owner", "Admin", "Member"])
            #expect(list.resources.allSatisfy { $0["members"] == nil })
            let admins = try await client.scim(
                .get,
                "/Groups?filter=" + #"displayName eq "admin""#.addingPercentEncoding(
                    withAllowedCharacters: .alphanumerics)!,
                token: token)
            let adminGroup = try #require(admins.resources.first?["id"] as? String)
            #expect(admins.resources.count == 1 && (admins.resources.first?["members"] as? [Any])?.count == 1)

            let add = try await client.scim(
                .patch, "/Groups/\(adminGroup)",
                #"{"Operations":[{"op":"add","path":"members","value":[{"value":"\#(jane.id.lowercasedString)"},{"value":"\#(sam.id.lowercasedString)"}]}]}"#,
                token: token)
            #expect(add.status == .ok && (add.json["members"] as? [Any])?.count == 3)
            #expect(try await h.services.store.members.find(jane.id)?.roleName == "Admin")
            #expect(try await h.auditEvents(action: .roleChanged).filter { $0.result == "success" }.count == 2)
            let remove = try await client.scim(
                .patch, "/Groups/\(adminGroup)",
                #"{"Operations":[{"op":"remove","path":"members[value eq \"\#(sam.id.lowercasedString)\"]"}]}"#,
                token: token)
            #expect(remove.status == .ok)
            #expect(try await h.services.store.members.find(sam.id)?.roleName == "Member")
            let user = try await client.scim(.get, "/Users/\(jane.id.lowercasedString)", token: token)
            #expect((user.json["groups"] as? [[String: Any]])?.first?["display"] as? String == "Admin")

            // An Admin's token cannot make anyone an Owner; nothing changes and the answer says why.
            let ownerGroup = h.acme.roles[.owner]!.lowercasedString
            let refused = try await client.scim(
                .patch, "/Groups/\(ownerGroup)",
                #"{"Operations":[{"op":"add","path":"members","value":[{"value":"\#(jane.id.lowercasedString)"}]}]}"#,
                token: token)
            #expect(refused.status == .forbidden)
            #expect(try await h.services.store.members.find(jane.id)?.roleName == "Admin")
            #expect(
                try await client.scim(.post, "/Groups", #"{"displayName":"New"}"#, token: token).status == .forbidden)
            #expect(try await client.scim(.delete, "/Groups/\(adminGroup)", token: token).status == .forbidden)
            let renamed = try await client.scim(
                .patch, "/Groups/\(adminGroup)",
                #"{"Operations":[{"op":"replace","path":"displayName","value":"Boss"}]}"#,
                token: token)
            #expect(renamed.status == .forbidden)  // built-in roles keep their names
        }
    }

    @Test("pages read from remembered positions are the rows OFFSET gives, before and after the directory changes")
    func rememberedPositions() async throws {
        try await Harness.withApp { h, _ in
            let org = h.acme.organizationID
            // 300 members, three to a name: the id decides between them.
            let members = (0..<300).map { index in
                NewMember(
                    organizationID: org, roleID: h.acme.roles[.member]!, email: "pos\(index)@acme.test",
                    name: "Name \(index / 3)", passwordHash: "x", mfaStatus: .enabled, createdAt: h.clock.now)
            }
            try await h.services.store.members.insert(members)
            let scim = h.services.store.scim
            func expected(_ status: String?, offset: Int, limit: Int) async throws -> [UUID] {
                let condition: SQLQueryString = status.map { " AND status = \(bind: $0)" } ?? ""
                return try await h.sql.raw(
                    "SELECT id FROM members WHERE organization_id = \(bind: org)\(condition) ORDER BY name, id LIMIT \(literal: limit) OFFSET \(literal: offset)"
                ).all().map { try $0.decode(column: "id", as: UUID.self) }
            }
            func check(_ label: String) async throws {
                // Pages here and there (from positions remembered before, if any), then a sync's walk in pages of 7.
                for offset in [150, 3, 299, 64, 64, 1, 0, 200, 13] {
                    let page = try await scim.users(organizationID: org, filter: nil, offset: offset, limit: 9)
                    #expect(
                        page.users.map(\.id) == (try await expected(nil, offset: offset, limit: 9)),
                        "\(label) \(offset)")
                    let suspended = try await scim.users(
                        organizationID: org, filter: .active(false), offset: offset % 5, limit: 2)
                    #expect(
                        suspended.users.map(\.id) == (try await expected("suspended", offset: offset % 5, limit: 2)))
                }
                var offset = 0
                while offset < 310 {
                    let page = try await scim.users(organizationID: org, filter: nil, offset: offset, limit: 7)
                    #expect(
                        page.users.map(\.id) == (try await expected(nil, offset: offset, limit: 7)),
                        "\(label) \(offset)")
                    offset += 7
                }
            }
            try await check("first")
            let key = DirectoryCounts.Key(
                organizationID: org, search: .none, roleID: nil, mfa: nil, status: nil, cap: 0, scim: "all")
            let counts = h.services.database.counts
            #expect(counts.seek(for: key, atOrBefore: 70)?.position == 70)  // the walk's positions are remembered
            // Each change moves the version: the positions remembered before it are not used after it.
            try await h.sql.raw("UPDATE members SET name = 'Name 99z' WHERE email = 'pos0@acme.test'").run()
            try await check("renamed")
            try await h.services.store.members.setStatus(
                .suspended, of: [members[10].id, members[200].id], organizationID: org)
            try await check("suspended")
            try await h.sql.raw("DELETE FROM members WHERE email = 'pos7@acme.test'").run()
            try await h.services.store.members.insert([
                NewMember(
                    organizationID: org, roleID: h.acme.roles[.member]!, email: "late@acme.test", name: "Name 20",
                    passwordHash: "x", mfaStatus: .enabled, createdAt: h.clock.now)
            ])
            try await check("removed and added")
        }
    }

    @Test("remembered positions stay bounded however many lists and pages are read")
    func rememberedPositionsBounded() {
        let counts = DirectoryCounts()
        for list in 0..<200 {
            let key = DirectoryCounts.Key(
                organizationID: UUID(), search: .none, roleID: nil, mfa: nil, status: nil, cap: 0, scim: "all")
            for position in 1...(list == 0 ? 5_000 : 10) {
                counts.remember(
                    .init(name: "n\(position)", id: UUID(), inclusive: false), at: position, for: key, version: 1)
            }
            if list == 0 { #expect(counts.positionsKept.seeks <= DirectoryCounts.seeksPerList) }
        }
        let kept = counts.positionsKept
        #expect(kept.lists <= DirectoryCounts.positionLists && kept.lists > 0)
        #expect(kept.seeks <= DirectoryCounts.positionLists * DirectoryCounts.seeksPerList)
    }

    @Test("a page of Users written as text is the same document as the general path makes")
    func userListText() throws {
        let resources = ScimResources(base: "https://latchkey.example")
        let rows = [
            ScimUserRow(
                id: UUID(), email: "jane@acme.test", name: "Jane \"JD\" Doe", externalID: "00u1", status: .active,
                roleID: UUID(), roleName: "Admin", createdAt: Date(timeIntervalSince1970: 1_790_000_000)),
            ScimUserRow(
                id: UUID(), email: "sam@acme.test", name: "Sam", externalID: nil, status: .suspended, roleID: UUID(),
                roleName: "Member", createdAt: Date(timeIntervalSince1970: 1_790_000_123)),
        ]
        for (attributes, excluded) in [(nil, nil), ("userName,active", nil), (nil, "emails,groups,meta"), ("id", nil)] {
            let query = try ScimQuery(
                filter: nil, startIndex: "3", count: "2", attributes: attributes, excluded: excluded)
            let text = try #require(resources.userList(rows, total: 7, query: query))
            let fast = try JSONSerialization.jsonObject(with: Data(text.bytes)) as? NSDictionary
            let general = Scim.listDocument(
                rows.map { Scim.project(resources.user($0), query) }, total: 7, startIndex: 3)
            let expected =
                try JSONSerialization.jsonObject(with: try JSONSerialization.data(withJSONObject: general))
                as? NSDictionary
            #expect(fast == expected, "\(attributes ?? "-") \(excluded ?? "-")")
        }
        let dotted = try ScimQuery(
            filter: nil, startIndex: nil, count: nil, attributes: "name.formatted", excluded: nil)
        #expect(resources.userList(rows, total: 2, query: dotted)?.text == nil)
    }

    @Test("discovery: ServiceProviderConfig, ResourceTypes and Schemas describe what is served")
    func discovery() async throws {
        try await Harness.withApp { h, client in
            let (token, _) = try await scimToken(h, client)
            let config = try await client.scim(.get, "/ServiceProviderConfig", token: token)
            #expect((config.json["patch"] as? [String: Any])?["supported"] as? Bool == true)
            #expect((config.json["filter"] as? [String: Any])?["maxResults"] as? Int == Scim.maxResults)
            #expect((config.json["bulk"] as? [String: Any])?["supported"] as? Bool == false)
            let types = try await client.scim(.get, "/ResourceTypes", token: token)
            #expect(types.resources.compactMap { $0["id"] as? String } == ["User", "Group"])
            let schemas = try await client.scim(.get, "/Schemas", token: token)
            #expect(
                schemas.resources.compactMap { $0["name"] as? String } == [
                    "User", "Group", "ServiceProviderConfig", "ResourceType", "Schema",
                ])
            let user = try await client.scim(.get, "/Schemas/\(Scim.userSchema)", token: token)
            let attributes = (user.json["attributes"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
            #expect(attributes == ["userName", "displayName", "name", "emails", "active", "groups"])
            #expect(try await client.scim(.get, "/Schemas/urn:nothing", token: token).status == .notFound)
        }
    }

    @Test("100 identity-provider creations of one person at once make one member and one invitation")
    func concurrentCreates() async throws {
        try await Harness.withApp { h, client in
            let (token, _) = try await scimToken(h, client)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for i in 0..<100 {
                    group.addTask {
                        let email = i % 2 == 0 ? "same@example.com" : "person\(i)@example.com"
                        return try await client.scim(.post, "/Users", #"{"userName":"\#(email)"}"#, token: token).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 51)
            #expect(statuses.filter { $0 == .conflict }.count == 49)
            #expect(try await h.auditEvents(action: .memberInvited).count == 51)
            let same = try await h.sql.raw("SELECT COUNT(*) AS n FROM members WHERE email = 'same@example.com'")
                .first()?.decode(column: "n", as: Int.self)
            #expect(same == 1)
        }
    }
}
