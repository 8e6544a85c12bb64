import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// The API tokens page: the member's tokens (the organization's with `org.settings`), a form to mint one — shown
/// once in the answer, never in a URL — and Revoke. The same service and rules as `/api/v1/tokens`.
struct TokensWebController {
    let services: AppServices

    func register(on group: RouterGroup<OrgMemberContext>) {
        let holding = group.group().add(middleware: RequireAnyPermission())
        holding.on(.get, .tokens, use: page)
        holding.on(.post, .tokens, use: create)
        holding.on(.post, .tokenRevoke, use: revoke)
    }

    static let notices = ["revoked": "Token revoked. Requests with it are refused from now on."]

    @Sendable func page(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let notice = Flash.read(request).flatMap { Self.notices[$0.key] }
        return try await render(context, notice: notice)
    }

    func render(
        _ context: OrgMemberContext, notice: String? = nil, error: LatchkeyError? = nil,
        minted: (token: APIToken, text: String)? = nil, form: TokensPages.Form = .init()
    ) async throws -> Response {
        let tokens = try await services.tokens.list(auth: context.auth, after: nil, limit: 200)
        var response = HTMLResponse.make(
            TokensPages.page(
                auth: context.auth, tokens: tokens, now: services.now, notice: notice, error: error?.message,
                minted: minted, form: form, stepUpNeeded: context.actor.needsStepUp(now: services.now)),
            error: error)
        if minted != nil { response.headers[.cacheControl] = "no-store" }
        return response
    }

    @Sendable func create(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let fields = try await Body.form(from: request, context: context)
        let form = TokensPages.Form(
            name: fields["name"] ?? "", permissions: Set((fields.all["permission"] ?? []).compactMap(Permission.init)),
            days: Int(fields["days"] ?? "") ?? 30)
        do {
            var actor = context.actor
            let code = (fields["code"] ?? "").trimmingCharacters(in: .whitespaces)
            if !code.isEmpty {
                try await services.auth.stepUp(auth: context.auth, code: code, meta: context.meta)
                actor.stepUp?.verifiedAt = services.now
            }
            let minted = try await services.tokens.create(
                auth: context.auth, actor: actor, name: fields["name"], permissions: fields.all["permission"] ?? [],
                days: Int(fields["days"] ?? ""))
            return try await render(context, minted: minted)
        } catch let error as LatchkeyError {
            return try await render(context, error: error, form: form)
        }
    }

    @Sendable func revoke(_ request: Request, context: OrgMemberContext) async throws -> Response {
        guard let id = context.parameters.get("id", as: UUID.self) else {
            throw LatchkeyError.notFound("No such token.")
        }
        _ = try await services.tokens.revoke(id, auth: context.auth, meta: context.meta)
        return Flash.redirect(to: Route.tokens.path, notice: "revoked", secure: services.config.secureCookies)
    }
}

/// Lets through members whose role holds at least one permission (a token can only delegate what its member has).
struct RequireAnyPermission: RouterMiddleware {
    typealias Context = OrgMemberContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard !context.auth.permissions.isEmpty else {
            throw LatchkeyError.forbidden(.forbidden, "Your role holds no permission a token could carry.")
        }
        return try await next(request, context)
    }
}
