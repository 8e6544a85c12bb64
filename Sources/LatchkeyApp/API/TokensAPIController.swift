import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// `/api/v1/tokens`: API tokens minted (by a signed-in member only), listed and revoked (`TokenService`).
struct TokensAPIController {
    let services: AppServices

    func register(on group: RouterGroup<OrgMemberContext>) {
        group.group().add(middleware: SessionOnly()).on(.post, .apiTokens, use: create)
        group.on(.get, .apiTokens, use: list)
        group.on(.post, .apiTokenRevoke, use: revoke)
    }

    struct TokenJSON: Encodable {
        struct Creator: Encodable {
            var id: UUID
            var name: String
            var email: String
        }
        var id: UUID
        var name: String
        /// The token's first characters (`lk_` and eight more).
        var prefix: String
        var permissions: [String]
        var creator: Creator
        /// `active`, `expired` or `revoked`.
        var status: String
        var createdAt: Date
        var expiresAt: Date
        var lastUsedAt: Date?
        var revokedAt: Date?
        /// The token itself: in the answer that creates it, and never again.
        var token: String?

        init(_ token: APIToken, now: Date, text: String? = nil) {
            id = token.id
            name = token.name
            prefix = token.prefix
            permissions = token.permissions.sorted().map(\.rawValue)
            creator = Creator(id: token.creatorID, name: token.creatorName, email: token.creatorEmail)
            status = token.revokedAt != nil ? "revoked" : (now >= token.expiresAt ? "expired" : "active")
            createdAt = token.createdAt
            expiresAt = token.expiresAt
            lastUsedAt = token.lastUsedAt
            revokedAt = token.revokedAt
            self.token = text
        }
    }

    struct CreateBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["name", "permissions", "expiresInDays"]
        var name: String?
        var permissions: [String]?
        var expiresInDays: Int?
    }

    @Sendable func create(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let body = try await Body.json(CreateBody.self, from: request, context: context)
        let (token, text) = try await services.tokens.create(
            auth: context.auth, actor: context.actor, name: body.name, permissions: body.permissions,
            days: body.expiresInDays)
        var response = JSONResponse.make(TokenJSON(token, now: services.now, text: text), status: .created)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    struct ListResponse: Encodable {
        var tokens: [TokenJSON]
        var nextCursor: String?
    }

    /// `?limit=` (1–200, 50 by default) and `?cursor=` (the previous page's `nextCursor`).
    @Sendable func list(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let keyset = try KeysetPage(request)
        let tokens = try await services.tokens.list(
            auth: context.auth, after: try keyset.after(), limit: keyset.limit + 1)
        let page = keyset.cut(tokens) { KeysetPage.encode($0.createdAt, $0.id) }
        let now = services.now
        return JSONResponse.make(ListResponse(tokens: page.rows.map { TokenJSON($0, now: now) }, nextCursor: page.next))
    }

    @Sendable func revoke(_ request: Request, context: OrgMemberContext) async throws -> Response {
        guard let id = context.parameters.get("id", as: UUID.self) else {
            throw LatchkeyError.notFound("No such token.")
        }
        _ = try await Body.json(EmptyJSONBody.self, from: request, context: context, allowEmpty: true)
        let token = try await services.tokens.revoke(id, auth: context.auth, meta: context.meta)
        return JSONResponse.make(TokenJSON(token, now: services.now))
    }
}
