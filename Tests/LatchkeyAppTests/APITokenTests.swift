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
    /// A JSON API call with an API token and nothing else: no cookie, no CSRF token.
    @discardableResult
    func bearer(_ method: HTTPRequest.Method, _ path: String, _ body: String? = nil, token: String) async throws
        -> TestResponse
    {
        var headers: HTTPFields = [.authorization: "Bearer \(token)"]
        if body != nil { headers[.contentType] = "application/json" }
        let response = try await execute(
            uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        OpenAPIContract.check(method, path, response)
        return response
    }

    /// Mints a token through the API with a signed-in session; returns the answer.
    func mint(
        _ permissions: [String], days: Int = 30, name: String = "script", session: inout Session
    ) async throws -> TestResponse {
        let list = permissions.map { "\"\($0)\"" }.joined(separator: ",")
        return try await api(
            .post, "/api/v1/tokens", #"{"name":"\#(name)","permissions":[\#(list)],"expiresInDays":\#(days)}"#,
            session: &session)
    }
}

extension Harness {
    /// The stored rows of the tokens table (id, name, hash, revoked).
    func tokenRows() async throws -> [(id: UUID, name: String, hash: String, revoked: Bool)] {
        try await sql.raw("SELECT id, name, token_hash, revoked_at FROM api_tokens ORDER BY created_at").all().map {
            (
                try $0.decode(column: "id", as: UUID.self), try $0.decode(column: "name", as: String.self),
                try $0.decode(column: "token_hash", as: String.self),
                try $0.decode(column: "revoked_at", as: Date?.self) != nil
            )
        }
    }
}

@Suite("API tokens: minted once, hashed, limited to their creator's current permissions, audited as the actor")
struct APITokenTests {
    @Test(
        "a token works on the API without cookie or CSRF, is stored as a hash and listed without its text; a reset through it names it in the audit log"
    )
    func tokenActsAndIsAudited() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", name: "Jane Doe", client: client)
            let minted = try await client.mint(
                ["members.view", "members.manage", "members.reset_mfa"], days: 90, name: "help-desk script",
                session: &admin.session)
            #expect(minted.status == .created, "\(minted.text)")
            #expect(minted.headers[.cacheControl] == "no-store")
            let text = try #require(minted.json["token"] as? String)
            #expect(text.hasPrefix("lk_") && text.count == 3 + 43)
            let tokenID = try #require((minted.json["id"] as? String).flatMap(UUID.init(uuidString:)))
            #expect(minted.json["prefix"] as? String == String(text.prefix(11)))
            // Only the hash is stored.
            let rows = try await h.tokenRows()
            #expect(rows.count == 1 && rows[0].hash == sha256Hex(text) && rows[0].id == tokenID)
            let created = try #require(try await h.auditEvents(action: .tokenCreated).first)
            #expect(created.actorID == admin.id && created.actorTokenID == nil)
            #expect(created.reason.contains("help-desk script") && !created.reason.contains(text))

            // The API with the token alone.
            let page = try await client.bearer(.get, "/api/v1/members?limit=5", token: text)
            #expect(page.status == .ok)
            #expect((page.json["members"] as? [[String: Any]])?.isEmpty == false)
            #expect(page.headers[.rateLimitLimit] == "600")
            #expect(page.headers[.rateLimitRemaining] == "599")
            #expect(page.headers[.rateLimitReset].flatMap(Int.init).map { (1...60).contains($0) } == true)
            let reset = try await client.bearer(
                .post, "/api/v1/members/\(jane.id)/mfa/reset", #"{"reason":"INC-7"}"#, token: text)
            #expect(reset.status == .ok, "\(reset.text)")
            // Counted against the token (600) and the actor's resets (30): the headers name the tighter.
            #expect(reset.headers[.rateLimitLimit] == "30" && reset.headers[.rateLimitRemaining] == "29")
            #expect(try await Footprint.of(jane.id, h).credentials == 0)
            let event = try #require(try await h.auditEvents(action: .mfaReset).last)
            #expect(event.actorID == admin.id && event.actorEmail == "ada@acme.test")
            #expect(event.actorTokenID == tokenID && event.actorTokenName == "help-desk script")
            #expect(event.targetID == jane.id && event.result == "success")
            // The API's audit events name it too.
            let audit = try await client.api(.get, "/api/v1/audit-events?action=mfa.reset", session: &admin.session)
            let listedEvent = try #require((audit.json["events"] as? [[String: Any]])?.first)
            let actor = try #require(listedEvent["actor"] as? [String: Any])
            #expect((actor["token"] as? [String: Any])?["name"] as? String == "help-desk script")
            #expect(actor["email"] as? String == "ada@acme.test")
            guard case .intact = try await h.services.store.audit.verify() else {
                Issue.record("the audit chain no longer verifies")
                return
            }
            // Listed with its prefix and creator, never its text.
            let listed = try await client.api(.get, "/api/v1/tokens", session: &admin.session)
            let tokens = try #require(listed.json["tokens"] as? [[String: Any]])
            #expect(tokens.count == 1)
            #expect(tokens[0]["token"] == nil && tokens[0]["status"] as? String == "active")
            #expect((tokens[0]["creator"] as? [String: Any])?["email"] as? String == "ada@acme.test")
            #expect(tokens[0]["lastUsedAt"] is String)
            #expect(!listed.text.contains(text))
        }
    }

    @Test(
        "a token without members.reset_mfa is refused; one whose creator lost a permission loses it at the next request; revoked, expired, unknown and suspended-creator tokens all answer the same 401"
    )
    func tokenRules() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", client: client)
            let viewer = try #require(
                try await client.mint(["members.view"], session: &admin.session).json["token"] as? String)
            let manager = try #require(
                try await client.mint(["members.view", "members.manage"], session: &admin.session).json["token"]
                    as? String)
            #expect(try await client.bearer(.get, "/api/v1/members", token: manager).status == .ok)
            let before = try await Footprint.of(jane.id, h)
            for token in [viewer, manager] {
                let refused = try await client.bearer(
                    .post, "/api/v1/members/\(jane.id)/mfa/reset", "{}", token: token)
                #expect(refused.status == .forbidden && refused.errorCode == "forbidden")
            }
            #expect(try await Footprint.of(jane.id, h) == before)

            // The creator is demoted to Member: the token keeps nothing their role lost, at once.
            let resetter = try await client.mint(
                ["members.view", "members.manage", "members.reset_mfa"], session: &admin.session)
            let text = try #require(resetter.json["token"] as? String)
            #expect(try await client.bearer(.get, "/api/v1/members", token: text).status == .ok)
            try await h.sql.update("members").set("role_id", to: SQLBind(h.acme.roles[.member]!))
                .where("id", .equal, SQLBind(admin.id)).run()
            let demoted = try await client.bearer(.get, "/api/v1/members", token: text)
            #expect(demoted.status == .forbidden)
            let demotedReset = try await client.bearer(
                .post, "/api/v1/members/\(jane.id)/mfa/reset", "{}", token: text)
            #expect(demotedReset.status == .forbidden)
            #expect(try await Footprint.of(jane.id, h) == before)
            try await h.sql.update("members").set("role_id", to: SQLBind(h.acme.roles[.admin]!))
                .where("id", .equal, SQLBind(admin.id)).run()
            #expect(try await client.bearer(.get, "/api/v1/members", token: text).status == .ok)

            // One unknown token's answer; every dead token gets exactly the same.
            let unknown = try await client.bearer(
                .get, "/api/v1/roles", token: "lk_" + String(repeating: "A", count: 43))
            #expect(unknown.status == .unauthorized && unknown.errorCode == "invalid_token")
            #expect(unknown.headers[.wwwAuthenticate] == #"Bearer error="invalid_token""#)
            func isDead(_ token: String, _ what: String) async throws {
                let answer = try await client.bearer(.get, "/api/v1/roles", token: token)
                #expect(answer.status == .unauthorized, "\(what)")
                #expect(answer.text == unknown.text, "\(what) answers like an unknown token")
            }
            let id = try #require(resetter.json["id"] as? String)
            let revoked = try await client.api(.post, "/api/v1/tokens/\(id)/revoke", session: &admin.session)
            #expect(revoked.status == .ok && revoked.json["status"] as? String == "revoked")
            #expect(try await h.tokenRows().first { $0.id.uuidString == id.uppercased() }?.revoked == true)
            try await isDead(text, "a revoked token")
            #expect(try await h.auditEvents(action: .tokenRevoked).count == 1)
            // Revoking again changes nothing and records nothing more.
            #expect(try await client.api(.post, "/api/v1/tokens/\(id)/revoke", session: &admin.session).status == .ok)
            #expect(try await h.auditEvents(action: .tokenRevoked).count == 1)

            let short = try #require(
                try await client.mint(["members.view"], days: 1, session: &admin.session).json["token"] as? String)
            #expect(try await client.bearer(.get, "/api/v1/roles", token: short).status == .ok)
            // Suspended creator: every token of theirs is dead while they are.
            try await h.sql.update("members").set("status", to: SQLBind("suspended"))
                .where("id", .equal, SQLBind(admin.id)).run()
            try await isDead(short, "a suspended creator's token")
            try await isDead(viewer, "a suspended creator's token")
            try await h.sql.update("members").set("status", to: SQLBind("active"))
                .where("id", .equal, SQLBind(admin.id)).run()
            #expect(try await client.bearer(.get, "/api/v1/roles", token: short).status == .ok)
            h.clock.advance(86_401)
            try await isDead(short, "an expired token")
            #expect(try await client.bearer(.get, "/api/v1/roles", token: viewer).status == .ok)
            // A removed creator's tokens go with them.
            try await h.sql.delete(from: "members").where("id", .equal, SQLBind(admin.id)).run()
            try await isDead(viewer, "a removed creator's token")
            #expect(try await h.tokenRows().isEmpty)
        }
    }

    @Test(
        "minting: at most the creator's permissions, 365 days (90 and a fresh MFA when it may reset MFA), never through a token; what a token may not do answers session_required"
    )
    func mintingRules() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            var plain = try await h.enrolled("joe@acme.test", client: client)
            func refused(_ response: TestResponse, _ status: HTTPResponse.Status, _ code: String) async throws {
                #expect(response.status == status, "\(response.text)")
                #expect(response.errorCode == code, "\(response.text)")
                #expect(try await h.tokenRows().isEmpty)
            }
            try await refused(
                try await client.mint(
                    ["members.view", "members.manage", "members.reset_mfa"], days: 91, session: &admin.session),
                .badRequest, "invalid_expiry")
            try await refused(
                try await client.mint(["members.view"], days: 366, session: &admin.session), .badRequest,
                "invalid_expiry")
            try await refused(
                try await client.mint(["roles.manage"], session: &admin.session), .forbidden, "insufficient_privilege")
            try await refused(try await client.mint([], session: &admin.session), .badRequest, "invalid_permissions")
            try await refused(
                try await client.mint(["members.nope"], session: &admin.session), .badRequest, "invalid_permission")
            try await refused(
                try await client.mint(["members.view"], session: &plain.session), .forbidden,
                "insufficient_privilege")
            try await refused(
                try await client.api(
                    .post, "/api/v1/tokens",
                    #"{"name":"x","permissions":["members.view"],"expiresInDays":5,"admin":true}"#,
                    session: &admin.session), .badRequest, "unknown_field")
            try await refused(
                try await client.mint(["members.view"], name: "", session: &admin.session), .badRequest,
                "invalid_token_name")
            // A stale MFA: a token that may reset MFA needs a fresh one; others do not.
            h.clock.advance(601)
            try await refused(
                try await client.mint(
                    ["members.view", "members.manage", "members.reset_mfa"], session: &admin.session), .forbidden,
                "step_up_required")
            let viewer = try await client.mint(["members.view"], session: &admin.session)
            #expect(viewer.status == .created)
            let text = try #require(viewer.json["token"] as? String)
            // A token cannot mint, step up, change a password or use the session's own routes.
            for (method, path, body) in [
                (
                    HTTPRequest.Method.post, "/api/v1/tokens",
                    #"{"name":"y","permissions":["members.view"],"expiresInDays":5}"#
                ),
                (.post, "/api/v1/auth/step-up", #"{"code":"123456"}"#),
                (.post, "/api/v1/auth/password", #"{"currentPassword":"a","newPassword":"b"}"#),
                (.post, "/api/v1/auth/logout", "{}"), (.get, "/api/v1/auth/session", nil),
            ] {
                let answer = try await client.bearer(method, path, body, token: text)
                #expect(answer.status == .forbidden, "\(path): \(answer.text)")
                #expect(answer.errorCode == "session_required", "\(path)")
            }
            #expect(try await h.tokenRows().count == 1)
            // Not the JSON API: a token opens no page.
            var headers: HTTPFields = [.authorization: "Bearer \(text)"]
            headers[.accept] = "text/html"
            let page = try await client.execute(uri: "/members", method: .get, headers: headers)
            #expect(page.status != .ok)
            // A malformed header is refused, not ignored.
            let basic = try await client.execute(
                uri: "/api/v1/members", method: .get, headers: [.authorization: "Basic YTpi"])
            #expect(basic.status == .unauthorized && basic.errorCode == "invalid_token")
        }
    }

    @Test("100 concurrent mints for one member: exactly 50 live tokens, the rest refused with 409, nothing else")
    func concurrentMints() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let session = admin.session
            let statuses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                for index in 0..<100 {
                    group.addTask {
                        var session = session
                        let answer = try await client.mint(["members.view"], name: "t\(index)", session: &session)
                        return (answer.status, answer.errorCode)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0.0 == .created }.count == 50)
            #expect(statuses.filter { $0.0 == .conflict && $0.1 == "too_many_tokens" }.count == 50)
            #expect(try await h.tokenRows().count == 50)
            #expect(try await h.auditEvents(action: .tokenCreated).count == 50)
            // Revoking one makes room for one.
            let first = try #require(try await h.tokenRows().first)
            #expect(
                try await client.api(.post, "/api/v1/tokens/\(first.id)/revoke", session: &admin.session).status == .ok)
            #expect(try await client.mint(["members.view"], session: &admin.session).status == .created)
            #expect(try await client.mint(["members.view"], session: &admin.session).status == .conflict)
        }
    }

    @Test(
        "per-token rate limit: 700 requests at once in one minute, exactly 600 answered, 100 refused with 429 and Retry-After"
    )
    func rateLimited() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let text = try #require(
                try await client.mint(["members.view"], session: &admin.session).json["token"] as? String)
            let other = try #require(
                try await client.mint(["members.view"], name: "other", session: &admin.session).json["token"]
                    as? String)
            // The test clock stands still: every request falls in one window.
            let answers = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                for _ in 0..<700 {
                    group.addTask {
                        let answer = try await client.bearer(.get, "/api/v1/roles", token: text)
                        return (answer.status, answer.headers[.retryAfter])
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.filter { $0.0 == .ok }.count == 600)
            let limited = answers.filter { $0.0 == .tooManyRequests }
            #expect(limited.count == 100)
            #expect(limited.allSatisfy { $0.1.flatMap(Int.init).map { (1...60).contains($0) } == true })
            // Another token has its own budget.
            #expect(try await client.bearer(.get, "/api/v1/roles", token: other).status == .ok)
            h.clock.advance(61)
            #expect(try await client.bearer(.get, "/api/v1/roles", token: text).status == .ok)
        }
    }

    @Test(
        "a background job started through a token acts through it: its events name the token, and it stops resetting at the next chunk once the token is revoked"
    )
    func backgroundJobThroughToken() async throws {
        try await Harness.withApp(configure: {
            $0.jobChunkSize = 50
            $0.jobChunkPause = .milliseconds(400)
        }) { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            var ids: [UUID] = []
            for index in 0..<(BulkLimits.synchronousLimit + 1) {
                ids.append(try await h.member("m\(index)@acme.test", totp: true).id)
            }
            let minted = try await client.mint(
                ["members.view", "members.manage", "members.reset_mfa"], session: &admin.session)
            let text = try #require(minted.json["token"] as? String)
            let tokenID = try #require((minted.json["id"] as? String).flatMap(UUID.init(uuidString:)))
            let list = ids.map { "\"\($0)\"" }.joined(separator: ",")
            let started = try await client.execute(
                uri: "/api/v1/members/mfa/reset", method: .post,
                headers: [
                    .authorization: "Bearer \(text)", .contentType: "application/json", .idempotencyKey: "job-1",
                ],
                body: ByteBuffer(string: #"{"memberIds":[\#(list)],"reason":"T-9"}"#))
            #expect(started.status == .accepted, "\(started.text)")
            let jobID = try #require(started.json["jobId"] as? String)
            // The application's runner takes it in chunks of 50, 0.4 s apart; the token is revoked after the first.
            for _ in 0..<200 {
                let state = try await client.bearer(.get, "/api/v1/mfa-reset-jobs/\(jobID)", token: text).json
                if (state["processed"] as? Int ?? 0) >= 50 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(
                try await client.api(.post, "/api/v1/tokens/\(tokenID)/revoke", session: &admin.session).status == .ok)
            var done: [String: Any] = [:]
            for _ in 0..<200 {
                done = try await client.api(.get, "/api/v1/mfa-reset-jobs/\(jobID)", session: &admin.session).json
                if done["status"] as? String == "completed" { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(done["status"] as? String == "completed")
            let summary = try #require(done["summary"] as? [String: Any])
            let reset = summary["reset"] as? Int ?? -1
            let failed = summary["failed"] as? Int ?? -1
            // Chunks started before the revocation reset; every later one is refused.
            #expect(reset >= 50 && reset <= 100 && reset % 50 == 0, "reset \(reset)")
            #expect(reset + failed == ids.count)
            let results = try #require(done["results"] as? [[String: Any]])
            #expect(results.filter { $0["code"] as? String == "not_permitted" }.count == failed)
            let events = try await h.auditEvents(action: .mfaReset)
            #expect(events.count == ids.count)
            #expect(events.allSatisfy { $0.actorTokenID == tokenID && $0.actorID == admin.id })
            #expect(events.filter { $0.result == "success" }.count == reset)
            let remaining = try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID ~~ ids).count()
            #expect(remaining == failed)
        }
    }
}

@Suite("The operator's token command")
struct TokenCLITests {
    @Test(
        "latchkey token create mints the first token for a member, at most their permissions, printed once and audited as the operator"
    )
    func mintFromTheShell() async throws {
        let bed = try await CLITestBed.make(label: "token-cli")
        var services = try await bed.services()
        let (acme, ownerID) = try await bed.acme(services)
        _ = try await OrganizationService(services: services).createMember(
            organizationID: acme.organizationID, roleID: acme.roles[.member]!, email: "joe@acme.test", name: "Joe",
            password: "correct horse battery staple")
        await services.database.shutdown()

        let minted = try bed.run([
            "token", "create", "--email", "owner@acme.test", "--name", "help-desk", "--permissions",
            "members.view, members.manage,members.reset_mfa", "--days", "90",
        ])
        #expect(minted.status == 0, "\(minted.printed)")
        let text = try #require(minted.printed.split(separator: "\n").first { $0.hasPrefix("lk_") }.map(String.init))
        #expect(text.count == 46)
        let tooLong = try bed.run([
            "token", "create", "--email", "owner@acme.test", "--name", "x", "--permissions", "members.reset_mfa",
            "--days", "91",
        ])
        #expect(tooLong.status != 0 && tooLong.printed.contains("1 to 90 days"))
        let beyond = try bed.run([
            "token", "create", "--email", "joe@acme.test", "--name", "x", "--permissions", "members.view", "--days",
            "5",
        ])
        #expect(beyond.status != 0 && beyond.printed.contains("lacks members.view"))

        services = try await bed.services()
        let loaded = try await services.store.apiTokens.load(tokenHash: sha256Hex(text))
        let events = try await AuditEventModel.query(on: services.db).filter(\.$action == "token.created").all()
        let auth = try await services.tokens.authenticate(authorization: "Bearer \(text)")
        await services.database.shutdown()
        await bed.cleanup()
        #expect(loaded?.token.creatorID == ownerID && loaded?.token.name == "help-desk")
        #expect(loaded?.token.permissions == [.membersView, .membersManage, .membersResetMFA])
        #expect(auth.memberID == ownerID && auth.token?.name == "help-desk")
        #expect(events.count == 1 && events[0].actorEmail == "operator" && events[0].targetID == ownerID)
    }
}

@Suite("The OpenAPI document is the API's contract")
struct OpenAPIDocumentTests {
    @Test(
        "it is served as written and names exactly the /api/v1 operations the router serves, with both security schemes and the Idempotency-Key header"
    )
    func documentMatchesTheRoutes() async throws {
        try await Harness.withApp { h, client in
            let served = try await client.execute(uri: "/api/v1/openapi.json", method: .get)
            #expect(served.status == .ok)
            #expect(Array(served.body.readableBytesView) == PackageResources.openapi_json)
            let document = OpenAPIContract.document
            #expect(document["openapi"]?.string == "3.1.0")
            var documented: Set<String> = []
            for (path, item) in OpenAPIContract.paths {
                for method in item.object?.keys ?? [:].keys { documented.insert("\(method.uppercased()) \(path)") }
            }
            var routed: Set<String> = []
            for endpoint in Route.endpoints where endpoint.route.rawValue.hasPrefix("/api/v1/") {
                let path = endpoint.route.rawValue.replacingOccurrences(of: ":id", with: "{id}")
                for method in endpoint.methods { routed.insert("\(method.rawValue) \(path)") }
            }
            #expect(documented == routed)
            let schemes = try #require(document["components"]?["securitySchemes"]?.object)
            #expect(Set(schemes.keys) == ["bearerAuth", "sessionCookie", "csrfHeader"])
            #expect(document["components"]?["parameters"]?["IdempotencyKey"]?["name"]?.string == "Idempotency-Key")
            // A method the document does not declare on a path it does: 405 naming the ones it does; an empty
            // cursor is no cursor.
            for method in [HTTPRequest.Method.put, .delete, .patch, .init("TRACE")!] {
                let answer = try await client.execute(uri: "/api/v1/roles", method: method)
                #expect(answer.status == .methodNotAllowed && answer.headers[.allow] == "GET, POST", "\(method)")
            }
            #expect(try await client.execute(uri: "/api/v1/nowhere", method: .put).status == .notFound)
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let first = try await client.api(.get, "/api/v1/members?cursor=&before=&status=", session: &admin.session)
            #expect(first.status == .ok && (first.json["members"] as? [[String: Any]])?.isEmpty == false)
            // The checker itself: an answer that breaks the document is caught.
            #expect(
                !OpenAPIContract.problems(
                    method: .get, path: "/api/v1/roles", status: 200,
                    body: ByteBuffer(string: #"{"roles":[{"id":"x","name":"A","permissions":[],"members":1}]}"#)
                ).isEmpty)
            #expect(
                !OpenAPIContract.problems(
                    method: .get, path: "/api/v1/roles", status: 200,
                    body: ByteBuffer(string: #"{"roles":[],"extra":1}"#)
                ).isEmpty)
            #expect(
                OpenAPIContract.problems(
                    method: .get, path: "/api/v1/roles", status: 200, body: ByteBuffer(string: #"{"roles":[]}"#)
                ).isEmpty)
            #expect(
                !OpenAPIContract.problems(method: .get, path: "/api/v1/roles", status: 418, body: ByteBuffer()).isEmpty)
        }
    }
}
