import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
import SQLKit
import Testing

@testable import LatchkeyApp

/// A member's MFA footprint: what a reset removes.
struct Footprint: Equatable {
    var mfaStatus: String
    var credentials: Int
    var recoveryCodes: Int
    var sessions: Int

    static func of(_ id: UUID, _ h: Harness) async throws -> Footprint {
        Footprint(
            mfaStatus: try await MemberModel.find(id, on: h.db)!.mfaStatus,
            credentials: try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID == id).count(),
            recoveryCodes: try await RecoveryCodeModel.query(on: h.db).filter(\.$memberID == id).count(),
            sessions: try await SessionModel.query(on: h.db).filter(\.$memberID == id).count())
    }
}

extension Harness {
    /// A member with an authenticator, ten recovery codes and a live signed-in session.
    func enrolled(
        _ email: String, name: String = "Test Member", role: BuiltInRole = .member,
        organization: OrganizationService.Created? = nil, client: some TestClientProtocol
    ) async throws -> (id: UUID, secret: [UInt8], session: Session) {
        let (id, secret) = try await member(email, name: name, role: role, organization: organization, totp: true)
        let codes = RecoveryCodes.generate(using: .system).map {
            RecoveryCodeModel(
                memberID: id, codeHash: services.serverKey.hashRecoveryCode(RecoveryCodes.normalize($0)!),
                createdAt: clock.now)
        }
        try await codes.create(on: db)
        let session = try await client.signIn(email, code: try code(secret!))
        clock.advance(30)  // the next sign-in of the same member needs the next code
        return (id, secret!, session)
    }
}

@Suite("Reset MFA: rules enforced by the server, proven by their effects")
struct ResetTests {
    @Test("single reset removes every factor and session in one go, audits, notifies, forces enrollment")
    func singleReset() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            var jane = try await h.enrolled("jane@acme.test", name: "Jane Doe", client: client)
            // A pending (unfinished) enrollment is removed too.
            try await TOTPCredentialModel(
                memberID: jane.id, secretCiphertext: "x", confirmed: false, createdAt: h.clock.now
            ).create(on: h.db)
            #expect(
                try await Footprint.of(jane.id, h)
                    == Footprint(mfaStatus: "enabled", credentials: 2, recoveryCodes: 10, sessions: 1))
            let response = try await client.api(
                .post, "/api/v1/members/\(jane.id)/mfa/reset", #"{"reason":"INC-42 lost phone"}"#,
                session: &admin.session)
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.json["status"] as? String == "reset")
            #expect(
                try await Footprint.of(jane.id, h)
                    == Footprint(mfaStatus: "reset_pending", credentials: 0, recoveryCodes: 0, sessions: 0))
            // The account is otherwise untouched.
            let member = try #require(try await MemberModel.find(jane.id, on: h.db))
            #expect(
                member.name == "Jane Doe" && member.email == "jane@acme.test" && member.roleID == h.acme.roles[.member])

            let events = try await h.auditEvents(action: .mfaReset)
            #expect(events.count == 1)
            let event = try #require(events.first)
            #expect(event.actorID == admin.id && event.actorEmail == "ada@acme.test" && event.actorRole == "Admin")
            #expect(event.targetID == jane.id && event.targetEmail == "jane@acme.test")
            #expect(event.result == "success" && event.ticket == "INC-42 lost phone")
            #expect(event.organizationID == h.acme.organizationID && event.batchID == nil)
            #expect(!event.requestID.isEmpty && !event.ip.isEmpty)

            let mail = try await OutboxMessageModel.query(on: h.db).filter(\.$toEmail == "jane@acme.test").all()
            #expect(mail.count == 1)
            #expect(mail.first?.body.contains("Ada Admin (ada@acme.test)") == true)
            #expect(mail.first?.body.contains("If you did not ask for this") == true)
            #expect(mail.first?.body.contains("INC-42 lost phone") == true)

            // Jane's open session is gone; her next sign-in goes to enrollment.
            #expect(try await client.api(.get, "/api/v1/auth/session", session: &jane.session).status == .unauthorized)
            let (_, login) = try await client.login("jane@acme.test")
            #expect(login.json["status"] as? String == "enrollment_required")
        }
    }

    @Test("refusals change nothing and are audited: no permission, self, higher privilege, CSRF")
    func refusals() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            var plain = try await h.enrolled("mo@acme.test", client: client)
            let owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            let jane = try await h.enrolled("jane@acme.test", client: client)
            let before = try await Footprint.of(jane.id, h)

            let noPermission = try await client.api(
                .post, "/api/v1/members/\(jane.id)/mfa/reset", "{}", session: &plain.session)
            #expect(noPermission.status == .forbidden)
            #expect(try await Footprint.of(jane.id, h) == before)
            let listing = try await client.api(.get, "/api/v1/members", session: &plain.session)
            #expect(listing.status == .forbidden)

            let selfReset = try await client.api(
                .post, "/api/v1/members/\(admin.id)/mfa/reset", "{}", session: &admin.session)
            #expect(selfReset.status == .forbidden)
            #expect(selfReset.errorCode == "cannot_reset_self")
            #expect(try await Footprint.of(admin.id, h).credentials == 1)

            let ownerBefore = try await Footprint.of(owner.id, h)
            let higher = try await client.api(
                .post, "/api/v1/members/\(owner.id)/mfa/reset", "{}", session: &admin.session)
            #expect(higher.status == .forbidden)
            #expect(higher.errorCode == "insufficient_privilege")
            #expect(try await Footprint.of(owner.id, h) == ownerBefore)

            let noCSRF = try await client.api(
                .post, "/api/v1/members/\(jane.id)/mfa/reset", "{}", session: &admin.session, csrf: false)
            #expect(noCSRF.status == .forbidden)
            #expect(try await Footprint.of(jane.id, h) == before)

            let denied = try await h.auditEvents(action: .mfaReset)
            #expect(denied.count == 3)
            #expect(denied.allSatisfy { $0.result == "denied" })
            #expect(Set(denied.compactMap(\.targetID)) == [jane.id, admin.id, owner.id])
            #expect(denied.contains { $0.targetID == owner.id && $0.reason == "Not permitted: Owner" })

            for method in [HTTPRequest.Method.get, .head] {
                let response = try await client.api(
                    method, "/api/v1/members/\(jane.id)/mfa/reset", session: &admin.session)
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
            }
            #expect(try await Footprint.of(jane.id, h) == before)
        }
    }

    @Test("another organization's member answers exactly like a member that does not exist")
    func tenantIsolation() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let outsider = try await h.enrolled("gus@globex.test", organization: h.globex, client: client)
            let before = try await Footprint.of(outsider.id, h)
            let foreign = try await client.api(
                .post, "/api/v1/members/\(outsider.id)/mfa/reset", "{}", session: &admin.session)
            let missing = try await client.api(
                .post, "/api/v1/members/\(UUID())/mfa/reset", "{}", session: &admin.session)
            #expect(foreign.status == .notFound)
            #expect(foreign.status == missing.status)
            #expect(foreign.text == missing.text)
            #expect(try await Footprint.of(outsider.id, h) == before)
            let list = try await client.api(.get, "/api/v1/members?limit=100", session: &admin.session)
            let emails = (list.json["members"] as? [[String: Any]])?.compactMap { $0["email"] as? String } ?? []
            #expect(!emails.contains("gus@globex.test"))
            // The bulk path reports it as not found, per member.
            let bulk = try await client.api(
                .post, "/api/v1/members/mfa/reset", #"{"memberIds":["\#(outsider.id)"]}"#, session: &admin.session)
            let result = (bulk.json["results"] as? [[String: Any]])?.first
            #expect(result?["status"] as? String == "failed")
            #expect(result?["reason"] as? String == "Member not found")
            #expect(try await Footprint.of(outsider.id, h) == before)
        }
    }

    @Test("step-up: a stale MFA gets step_up_required and nothing changes; a fresh code lets the reset through")
    func stepUp() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", client: client)
            h.clock.advance(601)
            let before = try await Footprint.of(jane.id, h)
            let stale = try await client.api(
                .post, "/api/v1/members/\(jane.id)/mfa/reset", "{}", session: &admin.session)
            #expect(stale.status == .forbidden)
            #expect(stale.errorCode == "step_up_required")
            #expect(try await Footprint.of(jane.id, h) == before)
            let refused = try #require(try await h.auditEvents(action: .mfaReset).first)
            #expect(refused.reason == "step-up required" && refused.result == "denied")
            #expect(refused.targetEmail == "jane@acme.test", "a refused reset names its target")
            let stepped = try await client.api(
                .post, "/api/v1/auth/step-up", #"{"code":"\#(try h.code(admin.secret))"}"#, session: &admin.session)
            #expect(stepped.status == .ok)
            let fresh = try await client.api(
                .post, "/api/v1/members/\(jane.id)/mfa/reset", "{}", session: &admin.session)
            #expect(fresh.status == .ok)
            #expect(try await Footprint.of(jane.id, h).mfaStatus == "reset_pending")
        }
    }

    @Test("bulk: duplicates removed, per-member reset/skipped/failed with reasons, one audit event each, owners told")
    func bulk() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            let owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            let jane = try await h.enrolled("jane@acme.test", client: client)
            let tom = try await h.enrolled("tom@acme.test", client: client)
            let (sam, _) = try await h.member("sam@acme.test", totp: false)
            let ghost = UUID()
            let ids = [jane.id, tom.id, jane.id, sam, owner.id, ghost].map { "\"\($0)\"" }.joined(separator: ",")
            let response = try await client.api(
                .post, "/api/v1/members/mfa/reset", #"{"memberIds":[\#(ids)],"reason":"T-7"}"#, session: &admin.session)
            #expect(response.status == .ok, "\(response.text)")
            let results = try #require(response.json["results"] as? [[String: Any]])
            #expect(results.count == 5)
            let byID = Dictionary(uniqueKeysWithValues: results.map { ($0["memberId"] as! String, $0) })
            #expect(byID[jane.id.uuidString]?["status"] as? String == "reset")
            #expect(byID[tom.id.uuidString]?["status"] as? String == "reset")
            #expect(byID[sam.uuidString]?["status"] as? String == "skipped")
            #expect(byID[sam.uuidString]?["reason"] as? String == "No MFA was set up")
            #expect(byID[owner.id.uuidString]?["status"] as? String == "failed")
            #expect(byID[owner.id.uuidString]?["reason"] as? String == "Not permitted: Owner")
            #expect(byID[ghost.uuidString]?["reason"] as? String == "Member not found")
            let summary = try #require(response.json["summary"] as? [String: Int])
            #expect(summary == ["reset": 2, "skipped": 1, "failed": 2])

            #expect(try await Footprint.of(jane.id, h).sessions == 0)
            #expect(try await Footprint.of(tom.id, h).credentials == 0)
            #expect(try await Footprint.of(owner.id, h).credentials == 1)
            let events = try await h.auditEvents(action: .mfaReset)
            #expect(events.count == 5)
            let batchID = try #require(UUID(uuidString: response.json["batchId"] as! String))
            #expect(events.allSatisfy { $0.batchID == batchID && $0.ticket == "T-7" })
            #expect(events.filter { $0.result == "skipped" }.count == 1)
            #expect(
                try await OutboxMessageModel.query(on: h.db).filter(\.$toEmail ~~ ["jane@acme.test", "tom@acme.test"])
                    .count() == 2)
            let ownerMail = try await OutboxMessageModel.query(on: h.db).filter(\.$toEmail == "olivia@acme.test").all()
            #expect(ownerMail.count == 1)
            #expect(ownerMail.first?.body.contains("2 reset, 1 skipped, 2 failed") == true)
            guard case .intact = try await h.services.audit.verify() else {
                Issue.record("audit chain broken")
                return
            }
        }
    }

    @Test("every per-member result carries a machine code, stored with the result and answered by the API")
    func resultCodes() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            let owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            let jane = try await h.enrolled("jane@acme.test", client: client)
            let (sam, _) = try await h.member("sam@acme.test", totp: false)
            let ghost = UUID()

            // Single resets answer the code of their one result.
            let single = try await client.api(
                .post, "/api/v1/members/\(sam)/mfa/reset", "{}", session: &admin.session)
            #expect(single.json["status"] as? String == "skipped")
            #expect(single.json["code"] as? String == "no_mfa")

            // A bulk request: every code a member can get from an administrator's request.
            let ids = [jane.id, sam, owner.id, admin.id, ghost].map { "\"\($0)\"" }.joined(separator: ",")
            let response = try await client.api(
                .post, "/api/v1/members/mfa/reset", #"{"memberIds":[\#(ids)]}"#, session: &admin.session)
            #expect(response.status == .ok, "\(response.text)")
            let results = try #require(response.json["results"] as? [[String: Any]])
            let codes = Dictionary(
                uniqueKeysWithValues: results.map { ($0["memberId"] as! String, $0["code"] as? String) })
            #expect(codes[jane.id.uuidString] == "reset")
            #expect(codes[sam.uuidString] == "no_mfa")
            #expect(codes[owner.id.uuidString] == "not_permitted_role")
            #expect(codes[admin.id.uuidString] == "self")
            #expect(codes[ghost.uuidString] == "not_found")
            // The status and the human reason are derived from the code, never the other way round.
            for result in results {
                let code = try #require(ResetResultCode(rawValue: result["code"] as! String))
                #expect(result["status"] as? String == code.outcome.rawValue)
                #expect(result["reason"] as? String == code.reason(targetRole: "Owner"))
            }
            let batchID = try #require(UUID(uuidString: response.json["batchId"] as! String))
            let stored = try await ResetResultModel.query(on: h.db).filter(\.$batchID == batchID).all()
            #expect(Set(stored.map(\.code)) == ["reset", "no_mfa", "not_permitted_role", "self", "not_found"])

            // A job whose actor lost the permission before it ran: each member is `not_permitted`.
            let tom = try await h.enrolled("tom@acme.test", client: client)
            let organization = try #require(try await h.services.store.organizations.find(h.acme.organizationID))
            var demoted = Actor(operatorFor: organization, meta: .operator_)
            demoted.memberID = admin.id
            demoted.permissions = []
            let service = ResetService(services: h.services)
            let (batch, _) = try await service.openBatch(
                actor: demoted, memberIDs: [tom.id], ticket: "", idempotencyKey: nil, requestHash: "demoted")
            try await service.process(batchID: batch.id, actor: demoted)
            let job = try await client.api(.get, "/api/v1/mfa-reset-jobs/\(batch.id)", session: &admin.session)
            let jobResults = try #require(job.json["results"] as? [[String: Any]])
            #expect(jobResults.map { $0["code"] as? String } == ["not_permitted"])
            #expect(jobResults.first?["status"] as? String == "failed")
            #expect(try await Footprint.of(tom.id, h).credentials == 1)
        }
    }

    @Test("Idempotency-Key: same key and body → the original result, nothing written twice; other body → 422")
    func idempotency() async throws {
        try await Harness.withApp { h, client in
            let admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", client: client)
            let tom = try await h.enrolled("tom@acme.test", client: client)
            func post(_ body: String, key: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/api/v1/members/mfa/reset", method: .post,
                    headers: [
                        .contentType: "application/json", .cookie: admin.session.cookieHeader,
                        .csrfToken: admin.session.csrf!, .idempotencyKey: key,
                    ], body: .init(string: body))
            }
            let body = #"{"memberIds":["\#(jane.id)"]}"#
            let first = try await post(body, key: "key-1")
            #expect(first.status == .ok)
            let auditAfterFirst = try await AuditEventModel.query(on: h.db).count()
            let mailAfterFirst = try await OutboxMessageModel.query(on: h.db).count()
            let retry = try await post(body, key: "key-1")
            #expect(retry.status == .ok)
            #expect(retry.text == first.text)
            #expect(try await AuditEventModel.query(on: h.db).count() == auditAfterFirst)
            #expect(try await OutboxMessageModel.query(on: h.db).count() == mailAfterFirst)
            let other = try await post(#"{"memberIds":["\#(tom.id)"]}"#, key: "key-1")
            #expect(other.status == .unprocessableContent)
            #expect(other.errorCode == "idempotency_key_reused")
            #expect(try await Footprint.of(tom.id, h).credentials == 1)
            let bad = try await post(body, key: "")
            #expect(bad.status == .badRequest)
        }
    }

    @Test("bulk limits: more than the maximum is refused whole; malformed ids are 400; filters run on the server")
    func limitsAndFilter() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let jane = try await h.enrolled("jane@acme.test", client: client)
            let many = (0...BulkLimits.maximumPerRequest).map { _ in "\"\(UUID())\"" }.joined(separator: ",")
            let tooMany = try await client.api(
                .post, "/api/v1/members/mfa/reset", #"{"memberIds":[\#(many)]}"#, session: &admin.session)
            #expect(tooMany.status == .badRequest)
            #expect(tooMany.errorCode == "too_many_members")
            let malformed = try await client.api(
                .post, "/api/v1/members/mfa/reset", #"{"memberIds":["nope"]}"#, session: &admin.session)
            #expect(malformed.errorCode == "invalid_member_id")
            let both = try await client.api(
                .post, "/api/v1/members/mfa/reset", #"{"memberIds":[],"filter":{}}"#, session: &admin.session)
            #expect(both.status == .badRequest)
            #expect(
                try await AuditEventModel.query(on: h.db).filter(\.$action == AuditAction.mfaReset.rawValue).count()
                    == 0)
            #expect(try await Footprint.of(jane.id, h).credentials == 1)

            // "Select all matching": the filter is evaluated by the server, under the same rules.
            let filtered = try await client.api(
                .post, "/api/v1/members/mfa/reset", #"{"filter":{"query":"jane"}}"#, session: &admin.session)
            #expect(filtered.status == .ok)
            #expect((filtered.json["summary"] as? [String: Int])?["reset"] == 1)
            #expect(try await Footprint.of(jane.id, h).credentials == 0)
            #expect(try await Footprint.of(admin.id, h).credentials == 1)
        }
    }

    @Test("rate limits per actor and per organization answer 429 with Retry-After and change nothing")
    func rateLimits() async throws {
        let limits: @Sendable (inout AppConfig) -> Void = { config in
            config.resetRequestsPerActorPerMinute = 2
            config.resetRequestsPerOrganizationPerMinute = 4  // refused requests count too
        }
        try await Harness.withApp(configure: limits) { h, client in
            var ada = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            var adam = try await h.enrolled("adam@acme.test", role: .admin, client: client)
            let (sam, _) = try await h.member("sam@acme.test", totp: false)
            let jane = try await h.enrolled("jane@acme.test", client: client)
            // Each answer says where the caller stands against the limit closest to refusing (here the actor's).
            for remaining in ["1", "0"] {
                let ok = try await client.api(.post, "/api/v1/members/\(sam)/mfa/reset", "{}", session: &ada.session)
                #expect(ok.status == .ok)
                #expect(ok.headers[.rateLimitLimit] == "2")
                #expect(ok.headers[.rateLimitRemaining] == remaining)
                #expect(ok.headers[.rateLimitReset].flatMap(Int.init).map { (1...60).contains($0) } == true)
            }
            // A request that no limit counts carries no such headers.
            let listed = try await client.api(.get, "/api/v1/members", session: &ada.session)
            #expect(listed.status == .ok && listed.headers[.rateLimitLimit] == nil)
            let before = try await Footprint.of(jane.id, h)
            let limited = try await client.api(
                .post, "/api/v1/members/\(jane.id)/mfa/reset", "{}", session: &ada.session)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.errorCode == "rate_limited")
            let retryAfter = try #require(limited.headers[.retryAfter].flatMap(Int.init))
            #expect((1...60).contains(retryAfter))
            #expect(try await Footprint.of(jane.id, h) == before)
            // Another admin still has their own allowance, until the organization's is spent.
            #expect(
                try await client.api(.post, "/api/v1/members/\(sam)/mfa/reset", "{}", session: &adam.session).status
                    == .ok)
            let orgLimited = try await client.api(
                .post, "/api/v1/members/\(jane.id)/mfa/reset", "{}", session: &adam.session)
            #expect(orgLimited.status == .tooManyRequests)
            #expect(try await Footprint.of(jane.id, h) == before)
            // The next window allows it again.
            h.clock.advance(61)
            let stepped = try await client.api(
                .post, "/api/v1/auth/step-up", #"{"code":"\#(try h.code(ada.secret))"}"#, session: &ada.session)
            #expect(stepped.status == .ok)
            #expect(
                try await client.api(.post, "/api/v1/members/\(jane.id)/mfa/reset", "{}", session: &ada.session).status
                    == .ok)
        }
    }

    @Test("a large selection runs as a background job that reports progress and results")
    func backgroundJob() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let (ids, _) = try await seedMembers(h, count: BulkLimits.synchronousLimit + 50)
            let location = try await startJob(ids, client: client, session: &admin.session)
            // The runner in the application picks it up; wait for it to finish.
            var status = ""
            var job: [String: Any] = [:]
            for _ in 0..<200 where status != "completed" {
                try await Task.sleep(for: .milliseconds(100))
                job = try await client.api(.get, location, session: &admin.session).json
                status = job["status"] as? String ?? ""
            }
            #expect(status == "completed")
            #expect(job["processed"] as? Int == ids.count)
            #expect((job["summary"] as? [String: Int])?["reset"] == ids.count)
            #expect((job["results"] as? [[String: Any]])?.count == ids.count)
            let remaining = try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID ~~ ids).count()
            #expect(remaining == 0)
            #expect(try await h.auditEvents(action: .mfaReset).count == ids.count)
        }
    }

    @Test(
        "Cancel stops a job between chunks: the members it reached stay reset, the rest are recorded as not done; 100 cancels at once stop it once; a retry asks again with the same ticket"
    )
    func cancelAndRetry() async throws {
        try await Harness.withApp(configure: {
            $0.jobChunkSize = 60
            $0.jobChunkPause = .milliseconds(400)
        }) { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let (ids, _) = try await seedMembers(h, count: BulkLimits.synchronousLimit + 40)
            let location = try await startJob(ids, reason: "INC-77", client: client, session: &admin.session)
            // Wait until the first chunk is done, then 100 cancels at once.
            var processed = 0
            for _ in 0..<200 where processed == 0 {
                try await Task.sleep(for: .milliseconds(20))
                processed = try await client.api(.get, location, session: &admin.session).json["processed"] as? Int ?? 0
            }
            #expect(processed > 0 && processed < ids.count)
            let session = admin.session
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        var mine = session
                        return Int(
                            try await client.api(.post, location + "/cancel", "{}", session: &mine).status.code)
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 202 }.count == 1)
            #expect(statuses.filter { $0 == 409 }.count == 99)
            #expect(try await h.auditEvents(action: .resetJobCancelled).count == 1)
            var job: [String: Any] = [:]
            for _ in 0..<200 where job["status"] as? String != "cancelled" {
                try await Task.sleep(for: .milliseconds(50))
                job = try await client.api(.get, location, session: &admin.session).json
            }
            #expect(job["status"] as? String == "cancelled")
            let done = try #require(job["processed"] as? Int)
            #expect(done > 0 && done < ids.count && done % 60 == 0, "stopped between chunks")
            let results = try #require(job["results"] as? [[String: Any]])
            #expect(results.count == ids.count)
            #expect(results.filter { $0["status"] as? String == "reset" }.count == done)
            #expect(
                results.filter { $0["status"] as? String == "not_done" && $0["code"] as? String == "cancelled" }.count
                    == ids.count - done)
            // The database agrees: exactly the members reached lost their authenticator; no audit for the others.
            #expect(
                try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID ~~ ids).count() == ids.count - done)
            #expect(try await h.auditEvents(action: .mfaReset).count == done)
            #expect(
                try await client.api(.post, location + "/cancel", "{}", session: &admin.session).status == .conflict)

            // Retry from the results page: the members not done, with the original ticket, in a new batch.
            let batchID = String(location.split(separator: "/").last!)
            let retried = try await client.form(
                "/members/reset-mfa",
                [
                    "_csrf": admin.session.csrf!, "bulk": "1", "retryOf": batchID, "return": "results",
                    "reason": "INC-77", "idempotencyKey": "retry-\(batchID)",
                ], session: &admin.session)
            #expect(retried.status == .seeOther)
            var finished = false
            for _ in 0..<300 where !finished {
                try await Task.sleep(for: .milliseconds(50))
                finished = try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID ~~ ids).count() == 0
            }
            #expect(finished)
            let events = try await h.auditEvents(action: .mfaReset)
            #expect(events.count == ids.count)
            #expect(events.allSatisfy { $0.ticket == "INC-77" })
            // A batch with nothing retryable refuses a retry.
            let newBatch = try #require(retried.location?.split(separator: "/").last.map(String.init))
            for _ in 0..<100 {
                if try await client.api(.get, "/api/v1/mfa-reset-jobs/\(newBatch)", session: &admin.session).json[
                    "status"] as? String == "completed"
                {
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            let again = try await client.form(
                "/members/reset-mfa", ["_csrf": admin.session.csrf!, "bulk": "1", "retryOf": newBatch],
                session: &admin.session)
            #expect(again.status == .badRequest && again.text.contains("No member of this reset can be retried"))
        }
    }

    @Test("a filter matching more members than one request may reset is refused whole, on both routes")
    func filterTooBroad() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let (ids, _) = try await seedMembers(h, count: BulkLimits.maximumPerRequest + 1)
            let api = try await client.api(
                .post, "/api/v1/members/mfa/reset", #"{"filter":{"mfa":"enabled"}}"#, session: &admin.session)
            #expect(api.status == .badRequest)
            #expect(api.errorCode == "too_many_members")
            let web = try await client.form(
                "/members/reset-mfa",
                ["_csrf": admin.session.csrf!, "bulk": "1", "scope": "all", "mfa": "enabled", "confirmCount": "10002"],
                session: &admin.session)
            #expect(web.status == .badRequest)
            #expect(web.text.contains("Narrow the filter"))
            #expect(try await ResetBatchModel.query(on: h.db).count() == 0)
            #expect(try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID ~~ ids).count() == ids.count)
            #expect(try await h.auditEvents(action: .mfaReset).isEmpty)
        }
    }

    @Test("a throttled job works in chunks of the configured size, and its progress shows each step")
    func throttledJob() async throws {
        try await Harness.withApp(configure: {
            $0.jobChunkSize = 60
            $0.jobChunkPause = .milliseconds(150)
        }) { h, client in
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let (ids, _) = try await seedMembers(h, count: BulkLimits.synchronousLimit + 40)
            let location = try await startJob(ids, client: client, session: &admin.session)
            var seen: Set<Int> = []
            var status = ""
            for _ in 0..<300 where status != "completed" {
                try await Task.sleep(for: .milliseconds(20))
                let job = try await client.api(.get, location, session: &admin.session).json
                status = job["status"] as? String ?? ""
                if let processed = job["processed"] as? Int { seen.insert(processed) }
            }
            #expect(status == "completed")
            // Every progress value the job reported is a whole number of chunks (or the end).
            #expect(seen.allSatisfy { $0 % 60 == 0 || $0 == ids.count })
            #expect(seen.contains { $0 > 0 && $0 < ids.count })
            #expect(try await TOTPCredentialModel.query(on: h.db).filter(\.$memberID ~~ ids).count() == 0)
        }
    }

    @Test("the job throttle and lease come from the environment and bad values are refused")
    func throttleConfiguration() throws {
        let base = ["LATCHKEY_DATA_DIR": "/tmp/latchkey-config-test"]
        let config = try AppConfig.fromEnvironment(
            base.merging([
                "LATCHKEY_JOB_CHUNK_SIZE": "25", "LATCHKEY_JOB_CHUNK_PAUSE_MS": "300",
                "LATCHKEY_JOB_LEASE_SECONDS": "15",
            ]) { $1 })
        #expect(config.jobChunkSize == 25)
        #expect(config.jobChunkPause == .milliseconds(300))
        #expect(config.jobLeaseSeconds == 15)
        let defaults = try AppConfig.fromEnvironment(base)
        #expect(defaults.jobChunkSize == BulkLimits.chunkSize && defaults.jobLeaseSeconds == 60)
        for bad in [
            ["LATCHKEY_JOB_CHUNK_SIZE": "0"], ["LATCHKEY_JOB_CHUNK_SIZE": "many"],
            ["LATCHKEY_JOB_CHUNK_PAUSE_MS": "-1"], ["LATCHKEY_JOB_CHUNK_PAUSE_MS": "999999"],
            ["LATCHKEY_JOB_LEASE_SECONDS": "9"], ["LATCHKEY_JOB_LEASE_SECONDS": "3601"],
        ] {
            #expect(throws: LatchkeyError.self) { try AppConfig.fromEnvironment(base.merging(bad) { $1 }) }
        }
    }
}

/// Asks for a bulk reset of `ids` through the JSON API and expects a background job: its address.
func startJob(_ ids: [UUID], reason: String = "", client: some TestClientProtocol, session: inout Session)
    async throws -> String
{
    let body = #"{"memberIds":[\#(ids.map { "\"\($0)\"" }.joined(separator: ","))],"reason":"\#(reason)"}"#
    let started = try await client.api(.post, "/api/v1/members/mfa/reset", body, session: &session)
    #expect(started.status == .accepted, "\(started.text)")
    return try #require(started.headers[.location])
}

/// Inserts `count` Acme members with an authenticator, recovery codes and a session each, set-based.
func seedMembers(_ h: Harness, count: Int) async throws -> (ids: [UUID], emails: [String]) {
    var members: [MemberModel] = []
    var credentials: [TOTPCredentialModel] = []
    var sessions: [SessionModel] = []
    for index in 0..<count {
        let member = MemberModel(
            organizationID: h.acme.organizationID, roleID: h.acme.roles[.member]!, email: "bulk\(index)@acme.test",
            name: "Bulk Member \(index)", passwordHash: "x", mfaStatus: .enabled, createdAt: h.clock.now)
        members.append(member)
        credentials.append(
            TOTPCredentialModel(
                memberID: member.id!,
                secretCiphertext: try h.services.serverKey.seal(
                    RandomSource.system.bytes(20), context: member.id!.uuidString),
                confirmed: true, createdAt: h.clock.now))
        sessions.append(
            SessionModel(
                tokenHash: sha256Hex(UUID().uuidString), memberID: member.id!, organizationID: h.acme.organizationID,
                state: .signedIn, csrfToken: "c", createdAt: h.clock.now,
                expiresAt: h.clock.now.addingTimeInterval(3600),
                ip: "127.0.0.1", userAgent: "test"))
    }
    for chunk in members.chunked(500) { try await Array(chunk).create(on: h.db) }
    for chunk in credentials.chunked(500) { try await Array(chunk).create(on: h.db) }
    for chunk in sessions.chunked(500) { try await Array(chunk).create(on: h.db) }
    return (members.map { $0.id! }, members.map(\.email))
}
