import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
import Testing

@testable import LatchkeyApp

@Suite("One typed source of routes: the router, the docs and the pages agree")
struct RoutesTests {
    /// `docs/routes.md` beside the package.
    static let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/routes.md")

    @Test("docs/routes.md is generated from Route.endpoints (UPDATE_ROUTES_DOC=1 rewrites it)")
    func docsMatchTheTable() throws {
        if ProcessInfo.processInfo.environment["UPDATE_ROUTES_DOC"] == "1" {
            try Route.markdown.write(to: Self.docs, atomically: true, encoding: .utf8)
        }
        let written = try String(contentsOf: Self.docs, encoding: .utf8)
        #expect(
            written == Route.markdown, "docs/routes.md is stale: run UPDATE_ROUTES_DOC=1 swift test --filter Routes")
    }

    @Test("the router serves exactly the table's routes (and 405 on GET/HEAD of the state-changing ones)")
    func routerMatchesTheTable() async throws {
        try await Harness.withApp { h, _ in
            let router = buildRouter(services: h.services)
            let registered = Set(router.routes.map { "\($0.method.rawValue) \($0.path)" })
            var expected = Set<String>()
            for endpoint in Route.endpoints {
                for method in endpoint.methods { expected.insert("\(method.rawValue) \(endpoint.route.pattern)") }
                if endpoint.refusesGet {
                    expected.insert("GET \(endpoint.route.pattern)")
                    expected.insert("HEAD \(endpoint.route.pattern)")
                }
            }
            #expect(registered == expected)
            // Every named route is in the table.
            #expect(Set(Route.endpoints.map(\.route)) == Set(Route.allCases))
        }
    }

    @Test("paths fill their id; each sign-in step has its page")
    func paths() {
        let id = UUID(uuidString: "0A0B0C0D-0000-4000-8000-000000000001")!
        #expect(Route.resetResults.path(id) == "/members/resets/0a0b0c0d-0000-4000-8000-000000000001")
        #expect(Route.apiResetJob.path(id) == "/api/v1/mfa-reset-jobs/0a0b0c0d-0000-4000-8000-000000000001")
        #expect(Route.home(for: nil) == "/login")
        #expect(Route.home(for: .mfaPending) == "/login/mfa")
        #expect(Route.home(for: .enrollmentRequired) == "/enroll")
        #expect(Route.home(for: .recoveryCodesPending) == "/enroll/recovery-codes")
        #expect(Route.home(for: .signedIn) == "/")
    }

    @Test("the stylesheet and script are files served under a content hash, cached for good, with an ETag")
    func assets() async throws {
        try await Harness.withApp { _, client in
            let assets = StaticAssets.shared
            #expect(
                assets.stylesheetPath.range(of: #"^/static/app\.[0-9a-f]{12}\.css$"#, options: .regularExpression)
                    != nil)
            #expect(
                assets.scriptPath.range(of: #"^/static/app\.[0-9a-f]{12}\.js$"#, options: .regularExpression) != nil)
            let login = try await client.execute(uri: "/login", method: .get)
            #expect(String(buffer: login.body).contains("href=\"\(assets.stylesheetPath)\""))
            #expect(String(buffer: login.body).contains("src=\"\(assets.scriptPath)\""))

            let css = try await client.execute(uri: assets.stylesheetPath, method: .get)
            #expect(css.status == .ok)
            #expect(css.headers[.contentType] == "text/css; charset=utf-8")
            #expect(css.headers[.cacheControl] == "public, max-age=31536000, immutable")
            #expect(String(buffer: css.body).contains("--accent"))
            let etag = try #require(css.headers[.eTag])
            let again = try await client.execute(
                uri: assets.stylesheetPath, method: .get, headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified)
            let script = try await client.execute(uri: assets.scriptPath, method: .get)
            // The typed-count threshold comes from the page, which takes it from `BulkLimits`.
            #expect(String(buffer: script.body).contains("dataset.typedConfirmationAbove"))
            #expect(try await client.execute(uri: "/static/app.css", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/static/app.0000000000.js", method: .get).status == .notFound)
        }
    }
}
