import Foundation
import LatchkeyCore
import LatchkeyMail
import LatchkeyStore
import Logging

/// Everything the server needs to start, from flags and environment.
public struct AppConfig: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var database: DatabaseLocation
    /// Where the SQLite file and the generated server key live.
    public var dataDirectory: String
    /// Raw 32-byte server key; nil means "read or create `secret.key` in the data directory".
    public var secretKey: [UInt8]?
    /// Mark cookies `Secure` (set when served over TLS, directly or behind a proxy).
    public var secureCookies: Bool = false
    /// bcrypt cost for passwords.
    public var bcryptCost: UInt8 = 12
    /// `LATCHKEY_ENV=production`: the start refuses insecure defaults (see `productionProblems`).
    public var production = false
    /// Demo mode shows the demo mailbox.
    public var demoMode: Bool = false
    public var logLevel: Logger.Level = .info
    /// `LOG_FORMAT`: `text` (swift-log's line format) or `json` (one object per line); see `LineLogHandler`.
    public var logJSON = false
    /// Reset MFA requests one actor may make per minute.
    public var resetRequestsPerActorPerMinute = 30
    /// Reset MFA requests one organization may make per minute.
    public var resetRequestsPerOrganizationPerMinute = 120
    /// Requests one API token may make per minute (`LATCHKEY_TOKEN_REQUESTS_PER_MINUTE`).
    public var tokenRequestsPerMinute = 600
    /// Webhooks may reach private, loopback and link-local addresses, over `http` too
    /// (`LATCHKEY_WEBHOOK_ALLOW_PRIVATE=1`: a receiver on the same network, or tests).
    public var webhookAllowPrivate = false
    /// The first wait before a failed webhook delivery is tried again; each later wait is three times longer, at
    /// most an hour (`LATCHKEY_WEBHOOK_RETRY_SECONDS`).
    public var webhookRetrySeconds: Double = 10
    /// Runs the webhook dispatcher beside the server (the Swift tests drive dispatchers themselves).
    public var runsWebhookDispatcher = true
    /// PostgreSQL connections per event loop (one loop per core), for the writes and again for the hot reads
    /// (`LATCHKEY_DB_POOL_SIZE`, 1 to 100): mind the server's `max_connections` across instances.
    public var databasePoolSize = 8
    /// How long a request waits for a PostgreSQL connection of a busy pool before it fails
    /// (`LATCHKEY_DB_POOL_TIMEOUT_SECONDS`, 1 to 600).
    public var databasePoolTimeoutSeconds = 30
    /// The reverse proxies whose `Forwarded` / `X-Forwarded-For` and `X-Request-Id` are believed
    /// (`LATCHKEY_TRUSTED_PROXIES`, CIDRs); none by default, so the client is the connection's peer.
    public var trustedProxies = ProxyTrust.none
    /// Seconds between a shutdown signal and the server stopping, while `/readyz` answers 503 so load balancers
    /// stop sending requests (`LATCHKEY_SHUTDOWN_DELAY_SECONDS`, 0 to 300).
    public var shutdownDelaySeconds = 0
    /// When set, `/metrics` answers only `Authorization: Bearer <this>` (`LATCHKEY_METRICS_TOKEN`).
    public var metricsToken: String?
    /// Members a background reset job handles per transaction.
    public var jobChunkSize = BulkLimits.chunkSize
    /// Pause between a background job's chunks, to bound the load a large reset puts on the database.
    public var jobChunkPause: Duration = .zero
    /// How long a background job's claim lasts without a chunk finishing: after an instance dies mid-job, another
    /// takes the job up once it runs out (`LATCHKEY_JOB_LEASE_SECONDS`, 10 to 3600; each chunk renews it).
    public var jobLeaseSeconds = 60

    /// Where mail is handed over (`LATCHKEY_SMTP_URL`, `LATCHKEY_SMTP_CA_FILE`); nil keeps mail in the outbox.
    public var smtp: SMTPConfiguration?
    /// The sender of every message (`LATCHKEY_MAIL_FROM`).
    public var mailFrom: MailAddress?
    /// The base of every link in mail (`LATCHKEY_PUBLIC_URL`), e.g. `https://latchkey.acme.example`.
    public var publicURL: String?

    public init(database: DatabaseLocation, dataDirectory: String) {
        self.database = database
        self.dataDirectory = dataDirectory
    }

    /// Builds a configuration from settings by name (`ConfigOption.all`: the environment, or what `ConfigInput`
    /// merged from flags, the environment and a file); a bad value is refused in one sentence naming it.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws
        -> AppConfig
    {
        let dataDirectory = env["LATCHKEY_DATA_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "data"
        let database: DatabaseLocation
        if let url = env["DATABASE_URL"], !url.isEmpty {
            database = try DatabaseLocation.parse(url)
        } else {
            database = .sqlite(path: (dataDirectory as NSString).appendingPathComponent("latchkey.sqlite"))
        }
        var config = AppConfig(database: database, dataDirectory: dataDirectory)
        let settings = Settings(env)
        if let mode = try settings.choice("LATCHKEY_ENV", ["production", "development"]) {
            config.production = mode == "production"
        }
        if let host = env["HOST"], !host.isEmpty { config.host = host }
        if let port = try settings.integer("PORT", 1...65535) { config.port = port }
        if let key = env["LATCHKEY_SECRET_KEY"], !key.isEmpty {
            guard let material = ServerKey.parse(key) else {
                throw LatchkeyError.badRequest(
                    "bad_secret_key", "LATCHKEY_SECRET_KEY must be 32 bytes as 64 hex digits or base64.")
            }
            config.secretKey = material
        }
        if let secure = try settings.choice("LATCHKEY_SECURE_COOKIES", ["1", "0", "true", "false", "yes", "no"]) {
            config.secureCookies = ["1", "true", "yes"].contains(secure)
        }
        if let level = try settings.choice("LOG_LEVEL", Logger.Level.allCases.map(\.rawValue)) {
            config.logLevel = Logger.Level(rawValue: level) ?? config.logLevel
        }
        if let format = try settings.choice("LOG_FORMAT", ["text", "json"]) { config.logJSON = format == "json" }
        if let size = try settings.integer("LATCHKEY_JOB_CHUNK_SIZE", 1...BulkLimits.chunkSize) {
            config.jobChunkSize = size
        }
        if let pause = try settings.integer("LATCHKEY_JOB_CHUNK_PAUSE_MS", 0...10_000, of: "milliseconds") {
            config.jobChunkPause = .milliseconds(pause)
        }
        if let lease = try settings.integer("LATCHKEY_JOB_LEASE_SECONDS", 10...3600, of: "seconds") {
            config.jobLeaseSeconds = lease
        }
        if let limit = try settings.integer("LATCHKEY_TOKEN_REQUESTS_PER_MINUTE", 1...1_000_000) {
            config.tokenRequestsPerMinute = limit
        }
        if let allow = try settings.choice("LATCHKEY_WEBHOOK_ALLOW_PRIVATE", ["1", "0"]) {
            config.webhookAllowPrivate = allow == "1"
        }
        if let seconds = env["LATCHKEY_WEBHOOK_RETRY_SECONDS"], !seconds.isEmpty {
            guard let value = Double(seconds), (0.1...3600).contains(value) else {
                throw LatchkeyError.badRequest(
                    "bad_webhook_retry", "LATCHKEY_WEBHOOK_RETRY_SECONDS must be a number of seconds from 0.1 to 3600.")
            }
            config.webhookRetrySeconds = value
        }
        if let proxies = env["LATCHKEY_TRUSTED_PROXIES"], !proxies.isEmpty {
            switch ProxyTrust.parse(proxies) {
            case .success(let trust): config.trustedProxies = trust
            case .failure(let error):
                throw LatchkeyError.badRequest(
                    "bad_trusted_proxies",
                    "LATCHKEY_TRUSTED_PROXIES must list networks as CIDRs (10.0.0.0/8, ::1/128); \"\(error.entry)\" is not one."
                )
            }
        }
        if let size = try settings.integer("LATCHKEY_DB_POOL_SIZE", 1...100) { config.databasePoolSize = size }
        if let seconds = try settings.integer("LATCHKEY_DB_POOL_TIMEOUT_SECONDS", 1...600) {
            config.databasePoolTimeoutSeconds = seconds
        }
        if let token = env["LATCHKEY_METRICS_TOKEN"], !token.isEmpty {
            guard token.count >= 16 else {
                throw LatchkeyError(
                    .badRequest, "bad_metrics_token", "LATCHKEY_METRICS_TOKEN must be at least 16 characters long.")
            }
            config.metricsToken = token
        }
        if let delay = try settings.integer("LATCHKEY_SHUTDOWN_DELAY_SECONDS", 0...300, of: "seconds") {
            config.shutdownDelaySeconds = delay
        }
        try config.applyMail(env)
        return config
    }

    /// Reads the mail settings; a bad value is named in one sentence.
    public mutating func applyMail(_ env: [String: String]) throws {
        if let url = env["LATCHKEY_SMTP_URL"], !url.isEmpty {
            do {
                smtp = try SMTPConfiguration.parse(
                    url, caFile: env["LATCHKEY_SMTP_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 })
            } catch {
                throw LatchkeyError.badRequest("bad_smtp_url", "\(error.description).")
            }
            if let smtp, let caFile = smtp.caFile {
                do {
                    _ = try SMTPClient(configuration: smtp)
                } catch {
                    throw LatchkeyError.badRequest(
                        "bad_smtp_ca_file", "LATCHKEY_SMTP_CA_FILE \(caFile) is not a readable PEM certificate.")
                }
            }
        }
        if let from = env["LATCHKEY_MAIL_FROM"], !from.isEmpty {
            guard let address = MailAddress(parsing: from) else {
                throw LatchkeyError.badRequest(
                    "bad_mail_from",
                    "LATCHKEY_MAIL_FROM must be an address, e.g. \"Acme Security <security@acme.example>\".")
            }
            mailFrom = address
        }
        if let url = env["LATCHKEY_PUBLIC_URL"], !url.isEmpty {
            guard let components = URLComponents(string: url), ["http", "https"].contains(components.scheme ?? ""),
                components.host?.isEmpty == false, components.query == nil
            else {
                throw LatchkeyError.badRequest(
                    "bad_public_url",
                    "LATCHKEY_PUBLIC_URL must be an http(s) address, e.g. https://latchkey.acme.example.")
            }
            publicURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
    }

    /// The base of links in mail: `LATCHKEY_PUBLIC_URL`, else this server's own address.
    public var linkBase: String {
        if let publicURL { return publicURL }
        let host = host == "0.0.0.0" || host == "::" ? "localhost" : host
        return "http://\(host):\(port)"
    }

    /// The sender: `LATCHKEY_MAIL_FROM`, else `Latchkey <no-reply@…>` in the public address's domain.
    public var sender: MailAddress {
        if let mailFrom { return mailFrom }
        let host = URLComponents(string: linkBase)?.host ?? "localhost"
        return MailAddress("no-reply@\(host)", name: "Latchkey") ?? MailAddress("no-reply@localhost", name: "Latchkey")!
    }

    /// What `LATCHKEY_ENV=production` refuses to start with, each naming its fix: cookies without `Secure`, a key
    /// that would be generated beside the database instead of given, the demo's seeded accounts.
    public var productionProblems: [String] {
        guard production else { return [] }
        var problems: [String] = []
        if !secureCookies { problems.append("cookies are not Secure (set LATCHKEY_SECURE_COOKIES=1 and serve HTTPS)") }
        if !hasServerKey { problems.append("no server key is given (set LATCHKEY_SECRET_KEY; none is generated)") }
        if demoMode { problems.append("the demo seeds accounts with a published password (use `serve`)") }
        return problems
    }

    /// Whether a key is given: in `LATCHKEY_SECRET_KEY`, or as `secret.key` in the data directory.
    public var hasServerKey: Bool {
        secretKey != nil || FileManager.default.fileExists(atPath: keyPath)
    }

    var keyPath: String { (dataDirectory as NSString).appendingPathComponent("secret.key") }

    /// The server key: from configuration, else read from `secret.key` in the data directory, else — only when
    /// `create` (a database that has no key yet) — generated there once with permissions 0600. `expected` is the
    /// database's key fingerprint, named when no key is found.
    public func loadServerKey(random: RandomSource = .system, create: Bool = true, expected: String? = nil) throws
        -> ServerKey
    {
        if let secretKey { return try ServerKey(material: secretKey) }
        let fileManager = FileManager.default
        let path = keyPath
        if let existing = fileManager.contents(atPath: path) {
            guard let material = ServerKey.parse(String(decoding: existing, as: UTF8.self)) else {
                throw LatchkeyError.badRequest("bad_secret_key", "\(path) does not hold a 32-byte key.")
            }
            return try ServerKey(material: material)
        }
        guard create else {
            throw LatchkeyError.badRequest(
                "missing_secret_key",
                "No server key: LATCHKEY_SECRET_KEY is not set and \(path) does not exist"
                    + (expected.map { ". This database's secrets are sealed with the key of fingerprint \($0)" } ?? "")
                    + ".")
        }
        try fileManager.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let material = random.bytes(32)
        let created = fileManager.createFile(
            atPath: path, contents: Data(hex(material).utf8), attributes: [.posixPermissions: 0o600])
        guard created else { throw LatchkeyError.badRequest("secret_key_unwritable", "Could not write \(path).") }
        return try ServerKey(material: material)
    }
}

/// Reads one environment variable as a bounded number or one of a few words; a bad value stops the start with one
/// sentence naming the variable (`PORT must be a number from 1 to 65535.`). Unset or empty: nil, the default stays.
struct Settings {
    let env: [String: String]

    init(_ env: [String: String]) { self.env = env }

    func integer(_ name: String, _ range: ClosedRange<Int>, of unit: String? = nil) throws -> Int? {
        guard let text = env[name], !text.isEmpty else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw LatchkeyError.badRequest(
                "bad_setting",
                "\(name) must be a number\(unit.map { " of \($0)" } ?? "") from \(range.lowerBound) to \(range.upperBound)."
            )
        }
        return value
    }

    /// One of `words` (any case), lower-cased.
    func choice(_ name: String, _ words: [String]) throws -> String? {
        guard let text = env[name], !text.isEmpty else { return nil }
        guard words.contains(text.lowercased()) else {
            let listed =
                words.count == 2
                ? "\(words[0]) or \(words[1])" : "one of " + words.joined(separator: ", ")
            throw LatchkeyError.badRequest("bad_setting", "\(name) must be \(listed).")
        }
        return text.lowercased()
    }
}
