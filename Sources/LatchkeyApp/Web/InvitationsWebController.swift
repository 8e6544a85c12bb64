import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// Invite members (the Members page's dialog), resend and revoke from ⋮, and the page where an invited person
/// accepts.
struct InvitationsWebController {
    let services: AppServices
    var invitations: InvitationService { InvitationService(services: services) }

    func register(members group: RouterGroup<OrgMemberContext>, router: Router<AppRequestContext>) {
        group.on(.post, .membersInvite, use: invite)
        group.on(.post, .memberInvitationResend, use: resend)
        group.on(.post, .memberInvitationRevoke, use: revoke)
        router.on(.get, .invitationAccept, use: acceptPage)
        router.on(.post, .invitationAccept, use: accept)
    }

    @Sendable func invite(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let form = try await Body.form(from: request, context: context, maxSize: BulkLimits.invitationBodyBytes)
        let rows = try InviteInput.rows(from: form["invitations"] ?? "")
        let outcomes = try await invitations.invite(
            rows, defaultRole: form["roleId"] ?? "", actor: Actor(context.auth, meta: context.meta))
        return HTMLResponse.make(InvitePages.results(auth: context.auth, outcomes: outcomes))
    }

    func back(_ form: FormFields, id: UUID, notice: MembersNotice) -> Response {
        let secure = services.config.secureCookies
        if form["return"] == "member", notice != .invitationRevoked {
            return Flash.redirect(to: Route.memberPage.path(id), notice: notice.rawValue, member: id, secure: secure)
        }
        return Flash.redirect(
            to: MembersPages.link(
                try! MemberDirectory.Filter(query: nil, role: nil, mfa: nil, status: "invited", sort: nil, limit: nil)),
            notice: notice.rawValue, member: id, secure: secure)
    }

    @Sendable func resend(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let id = try context.parameters.require("id", as: UUID.self)
        let form = try await Body.form(from: request, context: context)
        _ = try await invitations.resend(id, actor: Actor(context.auth, meta: context.meta))
        return back(form, id: id, notice: .invitationResent)
    }

    @Sendable func revoke(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let id = try context.parameters.require("id", as: UUID.self)
        let form = try await Body.form(from: request, context: context)
        _ = try await invitations.revoke(id, actor: Actor(context.auth, meta: context.meta))
        return back(form, id: id, notice: .invitationRevoked)
    }

    // MARK: Accepting

    func page(_ request: Request, error: LatchkeyError?, _ body: (String) -> HTML) -> Response {
        AuthWebController(services: services).preSessionPage(request: request, error: error, body)
    }

    @Sendable func acceptPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = request.uri.queryParameters.get("token") ?? ""
        let invitation = try await invitations.invitation(token: token)
        return page(request, error: nil) { InvitePages.accept(csrf: $0, token: token, invitation: invitation) }
    }

    /// Sets name and password and opens a session at its next step: enrollment where MFA is required.
    @Sendable func accept(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form = try await Body.form(from: request, context: context)
        let token = form["token"] ?? ""
        do {
            let outcome = try await invitations.accept(
                token: token, name: form["name"] ?? "", password: form["password"] ?? "",
                confirm: form["confirmPassword"] ?? "", meta: context.meta)
            var response = Response.redirect(to: Route.home(for: outcome.state), type: .normal)
            let secure = services.config.secureCookies
            response.setCookie(Cookies.set(Cookies.session, outcome.token, secure: secure))
            response.setCookie(Cookies.clear(Cookies.preSessionCSRF, secure: secure))
            return response
        } catch let error as LatchkeyError {
            let invitation = try await invitations.invitation(token: token)
            return page(request, error: error) {
                InvitePages.accept(
                    csrf: $0, token: token, invitation: invitation, name: form["name"], error: error.message)
            }
        }
    }
}

/// The Invite dialog's text: one person per line — `email`, or `email,name,role` (CSV, quotes allowed, an
/// `email,name,role` header skipped) — or several emails on one line separated by commas, semicolons or spaces.
enum InviteInput {
    static func rows(from text: String) throws -> [InvitationService.Row] {
        var rows: [InvitationService.Row] = []
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let fields = csvFields(line)
            if rows.isEmpty, fields.first?.lowercased() == "email" { continue }
            let emails = fields.count > 1 && fields[1].contains("@")
            if emails || (fields.count == 1 && line.contains(where: { $0 == ";" || $0 == " " })) {
                for email in line.split(whereSeparator: { ",; \t".contains($0) }) where !email.isEmpty {
                    rows.append(.init(email: String(email)))
                }
            } else {
                rows.append(
                    .init(
                        email: fields[0], name: fields.count > 1 ? fields[1] : "",
                        role: fields.count > 2 ? fields[2] : ""))
            }
            if rows.count > BulkLimits.maximumPerRequest {
                throw LatchkeyError.badRequest(
                    "too_many_invitations", "Invite at most \(BulkLimits.maximumPerRequest) people in one request.")
            }
        }
        return rows
    }

    /// The fields of one CSV line (RFC 4180 quoting), trimmed.
    static func csvFields(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var index = line.startIndex
        while index < line.endIndex {
            let character = line[index]
            if quoted {
                if character == "\"" {
                    let next = line.index(after: index)
                    if next < line.endIndex, line[next] == "\"" {
                        current.append("\"")
                        index = next
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                fields.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
            index = line.index(after: index)
        }
        fields.append(current.trimmingCharacters(in: .whitespaces))
        return fields
    }
}
