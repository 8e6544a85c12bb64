import FluentKit
import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// The Manage Members page and its Reset MFA forms (the same service and rules as the JSON API).
struct MembersWebController {
    let services: AppServices

    func register(on group: RouterGroup<OrgMemberContext>) {
        group.get("/members", use: list)
        group.post("/members/reset-mfa", use: reset)
        group.get("/members/reset-mfa", use: MembersAPIController.methodNotAllowed)
        group.head("/members/reset-mfa", use: MembersAPIController.methodNotAllowed)
        group.post("/members/unlock", use: unlock)
        group.get("/members/unlock", use: MembersAPIController.methodNotAllowed)
        group.head("/members/unlock", use: MembersAPIController.methodNotAllowed)
        group.get("/members/resets/:id", use: results)
        group.get("/members/resets/:id/results.csv", use: resultsCSV)
    }

    // MARK: Table

    @Sendable func list(_ request: Request, context: OrgMemberContext) async throws -> Response {
        try context.require(.membersView, .membersManage)
        let query = request.uri.queryParameters
        let filter = try MemberDirectory.Filter { query.get($0) }
        let directory = MemberDirectory(services: services)
        let organizationID = context.auth.organizationID
        let page = try await directory.page(
            organizationID: organizationID, filter: filter, after: query.get("after"), before: query.get("before"))
        let roles = try await directory.roles(organizationID: organizationID)
        let from = query.get("from").flatMap(Int.init).map { max(1, $0) } ?? 1
        let notice = try await self.notice(query: query, organizationID: organizationID)
        let model = MembersPages.Model(
            auth: context.auth, filter: filter, page: page, firstIndex: from,
            roles: roles.map { ($0.id!, $0.name) },
            rolePermissions: Dictionary(uniqueKeysWithValues: roles.map { ($0.id!, $0.permissions) }),
            canReset: ResetPolicy.required.isSubset(of: context.auth.permissions),
            canUnlock: UnlockPolicy.required.isSubset(of: context.auth.permissions),
            stepUpNeeded: (try? ResetService.requireFreshMFA(context.auth, now: services.now)) == nil,
            notice: notice, now: services.now, idempotencyKey: services.random.token(byteCount: 16))
        return HTMLResponse.make(MembersPages.page(model))
    }

    /// The message after a single reset, chosen from fixed texts by a code (never echoed from the URL).
    func notice(query: Parameters, organizationID: UUID) async throws -> (kind: String, text: String)? {
        guard let code = query.get("notice") else { return nil }
        var name = "the member"
        var role = "higher-privileged"
        if let id = query.get("member").flatMap(UUID.init(uuidString:)),
            let member = try await MemberModel.query(on: services.db).filter(\.$id == id)
                .filter(\.$organizationID == organizationID).first()
        {
            name = member.name
            role = try await RoleModel.find(member.roleID, on: services.db)?.name ?? role
        }
        switch code {
        case "reset": return ("success", "MFA reset for \(name). They will set it up again at next sign-in.")
        case "skipped": return ("info", "\(name) has no MFA set up, so there was nothing to reset.")
        case "higher_privilege": return ("error", "Couldn't reset MFA for \(name): you can't reset an \(role)'s MFA.")
        case "self_reset": return ("error", "You can't reset your own MFA here — use My security.")
        case "not_found": return ("error", "Couldn't reset MFA: that member was not found.")
        case "step_up": return ("error", "Confirm it's you: enter a code from your authenticator app, then try again.")
        case "invalid_code": return ("error", "Couldn't reset MFA: that authentication code is not correct.")
        case "forbidden": return ("error", "Couldn't reset MFA: your role cannot reset MFA.")
        case "unlocked": return ("success", "Sign-in unlocked for \(name). They can sign in again now.")
        case "unlock_higher_privilege":
            return ("error", "Couldn't unlock \(name)'s sign-in: you can't unlock an \(role)'s sign-in.")
        case "unlock_self": return ("error", "You can't unlock your own sign-in.")
        case "unlock_not_found": return ("error", "Couldn't unlock sign-in: that member was not found.")
        case "unlock_forbidden": return ("error", "Couldn't unlock sign-in: your role cannot manage members.")
        default: return nil
        }
    }

    // MARK: Reset

    /// One form for both modals: a single member (`memberId` once) or many (`bulk=1`, `memberId` repeated or
    /// `scope=all` with the filter). A stale MFA is refreshed first with the modal's code.
    @Sendable func reset(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let form = try await Body.form(from: request, context: context)
        let meta = request.meta(requestID: context.requestID, ip: context.remoteIP)
        let filter = try MemberDirectory.Filter { form[$0] }
        let back = { (notice: String, member: UUID?) -> Response in
            var extra = [("notice", notice)]
            if let member { extra.append(("member", member.uuidString.lowercased())) }
            return .redirect(to: MembersPages.link(filter, extra: extra), type: .normal)
        }
        let ticket = try ResetInput.ticket(form["reason"])
        var auth = context.auth
        if let code = form["code"]?.trimmingCharacters(in: .whitespaces), !code.isEmpty,
            (try? ResetService.requireFreshMFA(auth, now: services.now)) == nil
        {
            do {
                try await services.auth.stepUp(auth: auth, code: code, meta: meta)
                auth.mfaVerifiedAt = services.now
            } catch let error as LatchkeyError where error.kind == .unauthorized || error.kind == .badRequest {
                return back("invalid_code", nil)
            }
        }
        let actor = ResetService.Actor(auth: auth, meta: meta)
        let service = ResetService(services: services)

        if form["bulk"] != "1" {
            guard let raw = form["memberId"], let id = UUID(uuidString: raw) else {
                throw LatchkeyError.badRequest("invalid_member_id", "Choose a member to reset.")
            }
            do {
                let result = try await service.resetOne(actor: actor, auth: auth, memberID: id, ticket: ticket)
                switch (result.status, result.reason) {
                case (.reset, _): return back("reset", id)
                case (.skipped, _): return back("skipped", id)
                case (.failed, ResetPolicy.reason(.notFound, targetRole: "")): return back("not_found", nil)
                case (.failed, ResetPolicy.reason(.selfAction, targetRole: "")): return back("self_reset", nil)
                case (.failed, _): return back("higher_privilege", id)
                }
            } catch let error as LatchkeyError where error.code == "step_up_required" {
                return back("step_up", nil)
            } catch let error as LatchkeyError where error.code == "forbidden" {
                return back("forbidden", nil)
            }
        }

        let ids =
            form["scope"] == "all"
            ? try await MemberDirectory(services: services).allIDs(organizationID: auth.organizationID, filter: filter)
            : try ResetInput.memberIDs(form.all["memberId"] ?? [])
        let count = Set(ids).count
        // Above 25 members the administrator must type the number (checked here, not only in the page).
        if count > 25, form["confirmCount"]?.trimmingCharacters(in: .whitespaces) != String(count) {
            throw LatchkeyError.badRequest(
                "confirmation_mismatch", "Type the number of selected members (\(count)) to confirm the reset.")
        }
        do {
            let key = try ResetInput.idempotencyKey(form["idempotencyKey"])
            let outcome = try await service.resetMany(
                actor: actor, auth: auth, memberIDs: ids, ticket: ticket, idempotencyKey: key)
            let batch: ResetBatchModel
            switch outcome {
            case .completed(let done, _): batch = done
            case .started(let started): batch = started
            }
            return .redirect(to: "/members/resets/\(batch.id!.uuidString.lowercased())", type: .normal)
        } catch let error as LatchkeyError where error.code == "step_up_required" {
            return back("step_up", nil)
        } catch let error as LatchkeyError where error.code == "forbidden" {
            return back("forbidden", nil)
        }
    }

    // MARK: Unlock

    /// ⋮ → Unlock sign-in: the same service and rules as the JSON route.
    @Sendable func unlock(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let form = try await Body.form(from: request, context: context)
        let filter = try MemberDirectory.Filter { form[$0] }
        guard let raw = form["memberId"], let id = UUID(uuidString: raw) else {
            throw LatchkeyError.badRequest("invalid_member_id", "Choose a member to unlock.")
        }
        let actor = ResetService.Actor(
            auth: context.auth, meta: request.meta(requestID: context.requestID, ip: context.remoteIP))
        var notice = "unlocked"
        do {
            _ = try await LifecycleService(services: services).unlock(actor: actor, memberID: id, ticket: "")
        } catch let error as LatchkeyError {
            switch error.code {
            case "insufficient_privilege": notice = "unlock_higher_privilege"
            case "cannot_act_on_self": notice = "unlock_self"
            case "not_found": notice = "unlock_not_found"
            case "forbidden": notice = "unlock_forbidden"
            default: throw error
            }
        }
        let member = notice == "unlock_not_found" ? [] : [("member", id.uuidString.lowercased())]
        return .redirect(to: MembersPages.link(filter, extra: [("notice", notice)] + member), type: .normal)
    }

    // MARK: Results

    func batch(_ context: OrgMemberContext) async throws -> ResetBatchModel {
        try context.require(.membersView, .membersManage, .membersResetMFA)
        guard let id = context.parameters.get("id", as: UUID.self),
            let batch = try await ResetBatchModel.query(on: services.db).filter(\.$id == id)
                .filter(\.$organizationID == context.auth.organizationID).first()
        else { throw LatchkeyError.notFound("No such reset.") }
        return batch
    }

    @Sendable func results(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let batch = try await batch(context)
        let results =
            batch.status == "completed" ? try await ResetService(services: services).results(batchID: batch.id!) : []
        return HTMLResponse.make(MembersPages.results(.init(auth: context.auth, batch: batch, results: results)))
    }

    @Sendable func resultsCSV(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let batch = try await batch(context)
        let results = try await ResetService(services: services).results(batchID: batch.id!)
        var csv = "member_id,name,email,result,reason\r\n"
        for result in results {
            csv +=
                [
                    result.memberId.uuidString.lowercased(), result.name, result.email, result.status.rawValue,
                    result.reason ?? "",
                ]
                .map(CSV.field).joined(separator: ",") + "\r\n"
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8",
                .contentDisposition: "attachment; filename=\"mfa-reset-\(batch.id!.uuidString.lowercased()).csv\"",
            ], body: .init(byteBuffer: .init(string: csv)))
    }
}

enum CSV {
    /// One field, quoted when needed; a leading formula character is neutralised for spreadsheets.
    static func field(_ value: String) -> String {
        var text = value
        if let first = text.first, "=+-@\t\r".contains(first) { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
