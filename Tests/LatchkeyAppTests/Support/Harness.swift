import FluentKit
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SQLKit
import Testing

@testable import LatchkeyApp

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let box: NIOLockedValueBox<Date>
    init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { box = .init(start) }
    var now: Date { box.withLockedValue { $0 } }
    func advance(_ seconds: TimeInterval) { box.withLockedValue { $0 = $0.addingTimeInterval(seconds) } }
    var clock: Clock { Clock { [box] in box.withLockedValue { $0 } } }
    var unix: Int64 { Int64(now.timeIntervalSince1970) }
}

/// Which database the suite runs on: `LATCHKEY_TEST_DB=postgres` with `TEST_DATABASE_URL`, else SQLite.
enum TestDatabase {
    static var isPostgres: Bool { ProcessInfo.processInfo.environment["LATCHKEY_TEST_DB"] == "postgres" }

    /// A fresh, empty database for one test: an SQLite file, or a new PostgreSQL schema.
    static func fresh(logger: Logger) async throws -> (DatabaseLocation, cleanup: @Sendable () async -> Void) {
        if isPostgres {
            guard let url = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"] else {
                throw LatchkeyError(
                    .internalError, "no_test_database", "LATCHKEY_TEST_DB=postgres needs TEST_DATABASE_URL")
            }
            let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            let admin = try LatchkeyDatabase(location: .postgres(url: url), logger: logger)
            try await admin.sql.raw("CREATE SCHEMA \(unsafeRaw: schema)").run()
            await admin.shutdown()
            let cleanup: @Sendable () async -> Void = {
                guard let admin = try? LatchkeyDatabase(location: .postgres(url: url), logger: logger) else { return }
                try? await admin.sql.raw("DROP SCHEMA \(unsafeRaw: schema) CASCADE").run()
                await admin.shutdown()
            }
            return (.postgres(url: url, searchPath: [schema]), cleanup)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "latchkey-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return (
            .sqlite(path: directory.appendingPathComponent("test.sqlite").path),
            { try? FileManager.default.removeItem(at: directory) }
        )
    }
}

/// Started services on a fresh database with a controlled clock, plus fixtures.
struct Harness: Sendable {
    let services: AppServices
    let clock: TestClock
    let acme: OrganizationService.Created
    let globex: OrganizationService.Created

    static let password = "correct horse battery staple"

    /// Runs `body` against a fresh application and database.
    static func withApp(
        requireMFA: Bool = true, demoMode: Bool = false, configure: @Sendable (inout AppConfig) -> Void = { _ in },
        capture: CapturingLogHandler? = nil, live: Bool = false,
        _ body: @Sendable (Harness, any TestClientProtocol) async throws -> Void
    ) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        if let capture {
            logger = Logger(label: "test") { _ in capture }
            logger.logLevel = .trace
        }
        let (location, cleanup) = try await TestDatabase.fresh(logger: logger)
        var config = AppConfig(database: location, dataDirectory: FileManager.default.temporaryDirectory.path)
        config.secretKey = RandomSource.system.bytes(32)
        config.bcryptCost = 4
        config.demoMode = demoMode
        // Tests run their own dispatchers, on the test clock, at the moments they choose.
        config.runsWebhookDispatcher = false
        // A debug build beside seven other tests on two cores answers the 200 requests at once of the concurrency
        // tests in about 10 s (1.6 s alone); the server's 30 s wait for a connection is a release build's setting,
        // and a request timing out here says the machine was slow, not that a write was lost or counted twice.
        config.databasePoolTimeoutSeconds = 300
        configure(&config)
        let clock = TestClock()
        let services = try await AppServices.start(config: config, clock: clock.clock, logger: logger)
        let orgs = OrganizationService(services: services)
        let acme = try await orgs.createOrganization(name: "Acme", slug: "acme", requireMFA: requireMFA)
        let globex = try await orgs.createOrganization(name: "Globex", slug: "globex", requireMFA: false)
        let harness = Harness(services: services, clock: clock, acme: acme, globex: globex)
        let app = buildApplication(services: services)
        do {
            // `live`: a real server on loopback, for what only a connection carries (the peer's address).
            try await app.test(live ? .live : .router) { client in try await body(harness, client) }
        } catch {
            await cleanup()
            throw error
        }
        await cleanup()
    }

    var db: any Database { services.db }
    var sql: any SQLDatabase { services.sql }

    /// Creates a member; with `totp`, an authenticator is confirmed for them and its secret returned.
    @discardableResult
    func member(
        _ email: String, name: String = "Test Member", role: BuiltInRole = .member,
        organization: OrganizationService.Created? = nil,
        totp: Bool
    ) async throws -> (id: UUID, secret: [UInt8]?) {
        let org = organization ?? acme
        let id = try await OrganizationService(services: services).createMember(
            organizationID: org.organizationID, roleID: org.roles[role]!, email: email, name: name,
            password: Self.password)
        guard totp else { return (id, nil) }
        let secret = RandomSource.system.bytes(20)
        let sealed = try services.serverKey.seal(secret, context: id.uuidString)
        try await TOTPCredentialModel(memberID: id, secretCiphertext: sealed, confirmed: true, createdAt: clock.now)
            .create(on: db)
        try await MemberModel.query(on: db).filter(\.$id == id).set(\.$mfaStatus, to: MFAStatus.enabled.rawValue)
            .update()
        return (id, secret)
    }

    /// A session past the password step of `email` (the harness's password), as a request would load it.
    func passwordStep(_ email: String, meta: RequestMeta) async throws -> AuthState {
        let opened = try await services.auth.login(email: email, password: Self.password, meta: meta)
        return try #require(try await services.sessions.load(token: opened.token))
    }

    /// The current code for a secret, read from oathtool (the member's phone) at the test clock's time.
    func code(_ secret: [UInt8], offsetSteps: Int64 = 0) throws -> String {
        try oathtool(secret: secret, unix: clock.unix + offsetSteps * 30)
    }

    /// A throttle bucket's stored failure count (nil when it has none).
    func failures(_ bucket: SignInBucket) async throws -> Int? {
        try await sql.select().column("failures").from("sign_in_throttles").where("key", .equal, bucket.key).first()?
            .decode(column: "failures", as: Int.self)
    }

    /// Stores a bucket's state directly (e.g. a member already at the second factor's hard stop).
    func setThrottle(
        _ bucket: SignInBucket, email: String, memberID: UUID?, failures: Int, lockedUntil: Int64
    ) async throws {
        try await sql.insert(into: "sign_in_throttles")
            .columns(
                "key", "kind", "email", "member_id", "organization_id", "failures", "last_failed_at", "locked_until"
            )
            .values(
                SQLBind(bucket.key), SQLBind(bucket.kind), SQLBind(email), SQLBind(memberID),
                SQLBind(acme.organizationID),
                SQLBind(failures), SQLBind(Int64(clock.now.timeIntervalSince1970 * 1000)), SQLBind(lockedUntil)
            ).run()
    }

    func auditEvents(action: AuditAction) async throws -> [AuditEventModel] {
        try await AuditEventModel.query(on: db).filter(\.$action == action.rawValue).sort(\.$seq).all()
    }
}

func oathtool(secret: [UInt8], unix: Int64) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["oathtool", "--totp", "-b", "-N", "@\(unix)", Base32.encode(secret)]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw LatchkeyError(.internalError, "oathtool", "oathtool failed") }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A browser-like cookie jar and the CSRF token the API handed out.
struct Session: Sendable {
    var cookies: [String: String] = [:]
    var csrf: String?

    var cookieHeader: String { cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ") }

    mutating func absorb(_ response: TestResponse) {
        for field in response.headers where field.name == .setCookie {
            let pair = field.value.split(separator: ";", maxSplits: 1)[0]
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : ""
            if value.isEmpty || field.value.contains("Max-Age=0") { cookies[name] = nil } else { cookies[name] = value }
        }
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]) ?? [:]
    }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var location: String? { headers[.location] }
    /// The one-time message a redirect sets for the next page (its key, without the member's id).
    var notice: String? {
        for field in headers where field.name == .setCookie && field.value.hasPrefix("lk_notice=") {
            let value = field.value.dropFirst("lk_notice=".count).split(separator: ";", maxSplits: 1).first ?? ""
            return value.split(separator: "~").first.map(String.init)
        }
        return nil
    }
}

extension TestClientProtocol {
    /// Sends a JSON body (raw text, so tests can send malformed JSON too) with the session's cookies and CSRF token.
    @discardableResult
    func api(
        _ method: HTTPRequest.Method, _ path: String, _ body: String? = nil, session: inout Session, csrf: Bool = true,
        contentType: String = "application/json"
    ) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if body != nil { headers[.contentType] = contentType }
        if !session.cookies.isEmpty { headers[.cookie] = session.cookieHeader }
        if csrf, let token = session.csrf { headers[.csrfToken] = token }
        let response = try await execute(
            uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        session.absorb(response)
        OpenAPIContract.check(method, path, response)
        return response
    }

    /// Posts an HTML form with the session's cookies.
    @discardableResult
    func form(_ path: String, _ fields: [String: String], session: inout Session) async throws -> TestResponse {
        let body = fields.map { key, value in
            "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
        }.joined(separator: "&")
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if !session.cookies.isEmpty { headers[.cookie] = session.cookieHeader }
        let response = try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
        session.absorb(response)
        return response
    }

    @discardableResult
    func page(_ path: String, session: inout Session) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if !session.cookies.isEmpty { headers[.cookie] = session.cookieHeader }
        let response = try await execute(uri: path, method: .get, headers: headers)
        session.absorb(response)
        return response
    }

    /// Password step through the API; returns the session and the status it reported.
    func login(_ email: String, password: String = Harness.password) async throws -> (Session, TestResponse) {
        var session = Session()
        let response = try await api(
            .post, "/api/v1/auth/login", #"{"email":"\#(email)","password":"\#(password)"}"#, session: &session)
        session.csrf = response.json["csrfToken"] as? String
        return (session, response)
    }

    /// Full sign-in with a TOTP code.
    func signIn(_ email: String, code: String) async throws -> Session {
        var (session, response) = try await login(email)
        #expect(response.json["status"] as? String == "mfa_required")
        let mfa = try await api(.post, "/api/v1/auth/mfa", #"{"code":"\#(code)"}"#, session: &session)
        #expect(mfa.status == .ok, "MFA step failed: \(mfa.text)")
        return session
    }
}

/// The value of the hidden `_csrf` field in a page.
func csrfField(in html: String) -> String? {
    guard let range = html.range(of: "name=\"_csrf\" value=\"") else { return nil }
    let rest = html[range.upperBound...]
    return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
}

/// Keeps every log line (message and metadata) so a test can search them.
struct CapturingLogHandler: LogHandler {
    let lines = NIOLockedValueBox<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.withLockedValue { $0.append("\(event.level) \(event.message) \(all)") }
    }

    var text: String { lines.withLockedValue { $0.joined(separator: "\n") } }
}

/// Tests read and arrange rows directly (the effect that matters is in the tables); the application itself
/// reaches the data only through `Store`.
extension AppServices {
    var db: any Database { database.db }
    var sql: any SQLDatabase { database.sql }
    var audit: AuditStore { store.audit }
    var throttles: SignInThrottles { store.throttles }
}

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
