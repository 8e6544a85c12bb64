import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import LatchkeyApp

/// What an operator's probes and load balancer see.
@Suite("Health and readiness")
struct OperationsTests {
    @Test("/readyz answers 503 JSON once the database is gone, or while draining; /healthz stays live")
    func readiness() async throws {
        try await Harness.withApp { h, client in
            var session = Session()
            let ready = try await client.page("/readyz", session: &session)
            #expect(ready.status == .ok && ready.json["status"] as? String == "ready")

            // Draining (a shutdown signal arrived): not ready, though the database answers.
            h.services.draining.begin()
            let draining = try await client.page("/readyz", session: &session)
            #expect(draining.status == .serviceUnavailable && draining.json["status"] as? String == "draining")
            #expect(draining.headers[.contentType]?.hasPrefix("application/json") == true)
            #expect(draining.headers[.retryAfter] == "5")

            // The database not answering (a PostgreSQL server that is not there): 503 JSON naming it, never a 500
            // page, within the probe's two seconds.
            let gone = try LatchkeyDatabase(
                location: .postgres(url: "postgres://latchkey@127.0.0.1:1/gone?sslmode=disable"),
                logger: h.services.logger)
            let fresh = AppServices(
                config: h.services.config, database: gone, clock: h.clock.clock, serverKey: h.services.serverKey,
                logger: h.services.logger)
            let app = buildApplication(services: fresh)
            try await app.test(.router) { other in
                var session = Session()
                let down = try await other.page("/readyz", session: &session)
                #expect(down.status == .serviceUnavailable, "\(down.text)")
                #expect(down.json["status"] as? String == "unavailable")
                #expect(down.headers[.contentType]?.hasPrefix("application/json") == true)
                let live = try await other.page("/healthz", session: &session)
                #expect(live.status == .ok && live.json["status"] as? String == "ok")
            }
        }
    }
}

@Suite("Behind a reverse proxy")
struct ProxyTests {
    /// A wrong password with forwarding headers; returns the audit event it caused and the answer's request id.
    static func failedSignIn(_ h: Harness, _ client: any TestClientProtocol, headers extra: HTTPFields) async throws
        -> (event: AuditEventModel, answered: String?)
    {
        var headers: HTTPFields = [.contentType: "application/json"]
        headers.append(contentsOf: extra)
        let response = try await client.execute(
            uri: "/api/v1/auth/login", method: .post, headers: headers,
            body: ByteBuffer(string: #"{"email":"ada@acme.test","password":"not the password"}"#))
        #expect(response.status == .unauthorized)
        let event = try #require(try await h.auditEvents(action: .signInPassword).last)
        return (event, response.headers[.requestID])
    }

    static let spoofed: HTTPFields = [
        .xForwardedFor: "198.51.100.9, 203.0.113.7", .requestID: "lb-7f3a9c",
    ]

    @Test("without trusted proxies, forwarding headers and request ids are ignored: the peer is the client")
    func untrusted() async throws {
        try await Harness.withApp(live: true) { h, client in
            try await h.member("ada@acme.test", totp: false)
            let (event, answered) = try await Self.failedSignIn(h, client, headers: Self.spoofed)
            #expect(event.ip == "127.0.0.1")
            #expect(event.requestID != "lb-7f3a9c" && answered == event.requestID)
        }
    }

    @Test("from a trusted proxy: the first untrusted hop from the right, Forwarded too, and the proxy's request id")
    func trusted() async throws {
        let trust = try ProxyTrust.parse("127.0.0.0/8, ::1/128, 10.0.0.0/8").get()
        try await Harness.withApp(configure: { $0.trustedProxies = trust }, live: true) { h, client in
            try await h.member("ada@acme.test", totp: false)
            // The left entry is whatever the sender wrote; the proxy appended the address it saw.
            var (event, answered) = try await Self.failedSignIn(h, client, headers: Self.spoofed)
            #expect(event.ip == "203.0.113.7")
            #expect(event.requestID == "lb-7f3a9c" && answered == "lb-7f3a9c")
            // Trusted hops are skipped; RFC 7239's form with an IPv6 address and port.
            (event, _) = try await Self.failedSignIn(
                h, client, headers: [.forwarded: #"for="[2001:db8::7]:4711";proto=https, for=10.1.2.3"#])
            #expect(event.ip == "2001:db8::7")
            // A request id that is not a plain token is not taken.
            (event, answered) = try await Self.failedSignIn(h, client, headers: [.requestID: "bad id <x>"])
            #expect(event.ip == "127.0.0.1" && event.requestID != "bad id <x>" && answered == event.requestID)
        }
    }
}

@Suite("Access log")
struct AccessLogTests {
    @Test("one line per request: method, the route's pattern (never the path's ids or the query), status, id, time")
    func oneLinePerRequest() async throws {
        let capture = CapturingLogHandler()
        try await Harness.withApp(capture: capture) { h, client in
            var session = Session()
            let accept = try await client.page("/invitations/accept?token=lk-invite-7Q2x9secret", session: &session)
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            let (jane, _) = try await h.member("jane@acme.test", totp: false)
            let detail = try await client.page("/members/\(jane)?tab=audit", session: &admin.session)
            let search = try await client.api(.get, "/api/v1/members?query=zebra-search-term", session: &admin.session)
            let nowhere = try await client.page("/nowhere/at-all", session: &session)
            let lines = capture.lines.withLockedValue { $0 }.filter { $0.contains(" request [") }
            for (response, method, route) in [
                (accept, "GET", "/invitations/accept"), (detail, "GET", "/members/{id}"),
                (search, "GET", "/api/v1/members"), (nowhere, "GET", "unmatched"),
            ] {
                let id = try #require(response.headers[.requestID])
                let line = lines.filter {
                    $0.contains("\"request_id\": \(id),") || $0.contains("\"request_id\": \(id)]")
                }
                #expect(line.count == 1, "\(id): \(lines)")
                let text = line.first ?? ""
                #expect(text.hasPrefix("info request"))
                for field in [
                    "\"method\": \(method)", "\"status\": \(response.status.code)", "\"route\": \(route)",
                    "\"duration_ms\": ",
                ] {
                    #expect(text.contains(field), "\(field) not in \(text)")
                }
            }
            let all = capture.text
            for leaked in ["lk-invite-7Q2x9secret", "zebra-search-term", "tab=audit", jane.uuidString, "at-all"] {
                #expect(!all.contains(leaked), "\(leaked) reached the logs")
            }
        }
    }
}

@Suite("Log format")
struct LogFormatTests {
    @Test("LOG_FORMAT=json: every line the process writes is one JSON object with time, level, label and message")
    func jsonLines() async throws {
        let bed = try await CLITestBed.make(label: "json-logs")
        // An empty database: migrating it logs each migration.
        let run = try bed.run(["migrate"], environment: ["LOG_FORMAT": "json", "LOG_LEVEL": "trace"])
        #expect(run.status == 0, "\(run.printed)")
        let lines = run.printed.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(!lines.isEmpty, "\(run.printed)")
        for line in lines {
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            for key in ["time", "level", "label", "message"] { #expect(object[key] is String, "\(key) in \(line)") }
        }
        // Everything else it printed is the command's own answer, not a log line.
        let others = run.printed.split(separator: "\n").filter { !$0.hasPrefix("{") }
        #expect(others.count == 1 && others[0].hasPrefix("Migrations applied to"), "\(others)")
        let refused = try bed.run(["migrate"], environment: ["LOG_FORMAT": "xml"])
        #expect(refused.status != 0 && refused.printed.contains("LOG_FORMAT must be text or json."))
        await bed.cleanup()
    }

    @Test("LOG_FORMAT=text: every line the process writes is `time level label: metadata [source] message`")
    func textLines() async throws {
        let bed = try await CLITestBed.make(label: "text-logs")
        let run = try bed.run(["migrate"], environment: ["LOG_FORMAT": "text", "LOG_LEVEL": "trace"])
        #expect(run.status == 0, "\(run.printed)")
        let shape =
            #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (trace|debug|info|notice|warning|error|critical) [^ :]+:( [^ =]+=[^ ]*)* \[[^\]]+\] .+$/#
        let lines = run.printed.split(separator: "\n").filter { !$0.hasPrefix("Migrations applied to") }
        #expect(lines.count > 5, "\(run.printed)")
        for line in lines { #expect(line.wholeMatch(of: shape) != nil, "\(line)") }
        #expect(lines.contains { $0.contains(" info latchkey:") || $0.contains(" info codes.vapor") }, "\(run.printed)")
        await bed.cleanup()
    }
}

@Suite("Metrics")
struct MetricsTests {
    static func count(_ h: Harness, _ action: String, _ result: String) -> Int {
        let line = h.services.metrics.exposition.split(separator: "\n").first {
            $0.hasPrefix("latchkey_audit_events_total{action=\"\(action)\",result=\"\(result)\"}")
        }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    @Test("audit events are counted once their transaction commits: never one rolled back, once when nested")
    func countedAfterCommit() async throws {
        try await Harness.withApp { h, _ in
            let (jane, _) = try await h.member("jane@acme.test", totp: false)
            let entry = AuditEntry(
                organizationID: h.acme.organizationID, action: .memberSuspended, targetID: jane, result: .success)
            struct Abandon: Error {}
            // Written, then rolled back: the log does not hold it, and neither do the metrics.
            await #expect(throws: Abandon.self) {
                try await h.services.store.transaction { tx in
                    try await tx.audit.append(entry, at: h.clock.now)
                    #expect(Self.count(h, "member.suspended", "success") == 0, "counted before the commit")
                    throw Abandon()
                }
            }
            #expect(Self.count(h, "member.suspended", "success") == 0)
            // A transaction inside another: counted once, when the outer one commits.
            try await h.services.store.transaction { tx in
                try await tx.transaction { inner in try await inner.audit.appendAll([entry, entry], at: h.clock.now) }
                #expect(Self.count(h, "member.suspended", "success") == 0, "counted before the outer commit")
            }
            #expect(Self.count(h, "member.suspended", "success") == 2)
            // Outside a transaction: at once.
            try await h.services.store.audit.append(entry, at: h.clock.now)
            #expect(Self.count(h, "member.suspended", "success") == 3)
            let held = try await h.auditEvents(action: .memberSuspended).count
            #expect(held == 3)
        }
    }
}

@Suite("Configuration")
struct ConfigurationTests {
    @Test("every setting from a flag, the environment or a file, one name each; bad values named; secrets redacted")
    func layers() async throws {
        let bed = try await CLITestBed.make(label: "config")
        let help = try bed.run(["serve", "--help"])
        for option in ConfigOption.all {
            #expect(help.printed.contains("--\(option.flag), \(option.name) "), "\(option.name) not in --help")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("latchkey.env").path
        let smtpPassword = "s3cret-smtp-Pw"
        let metricsToken = "metrics-token-7Yq2kP9wZr"
        try """
        # the systemd EnvironmentFile form
        PORT=9090
        LOG_FORMAT="json"
        LATCHKEY_METRICS_TOKEN=\(metricsToken)
        LATCHKEY_SMTP_URL=smtp://relay:\(smtpPassword)@mail.acme.test:587

        """.write(toFile: file, atomically: true, encoding: .utf8)
        // The file, the environment over it, a flag over both.
        let layered = try bed.run(["config", "--config", file, "--log-level", "debug"], environment: ["PORT": "9091"])
        #expect(layered.status == 0, "\(layered.printed)")
        for line in [
            "PORT = 9091 (environment)", "LOG_FORMAT = json (file \(file))", "LOG_LEVEL = debug (flag --log-level)",
            "LATCHKEY_METRICS_TOKEN = <redacted> (file \(file))",
            "LATCHKEY_SMTP_URL = smtp://relay:<redacted>@mail.acme.test:587 (file \(file))",
            "LATCHKEY_SECRET_KEY = <redacted> (environment)", "LATCHKEY_DB_POOL_SIZE = (default: 8)",
            "LATCHKEY_DB_POOL_TIMEOUT_SECONDS = (default: 30)",
        ] {
            #expect(layered.printed.contains(line), "\(line) not in \(layered.printed)")
        }
        for secret in [smtpPassword, metricsToken, hex(bed.key)] {
            #expect(!layered.printed.contains(secret), "a secret was printed")
        }
        let fromFile = try bed.run(["config"], environment: ["LATCHKEY_CONFIG_FILE": file])
        #expect(fromFile.printed.contains("PORT = 9090 (file \(file))"), "\(fromFile.printed)")

        // A bad value stops it in one line naming the setting as it was given.
        for (arguments, environment, message) in [
            (["--port", "0"], [:], "--port (PORT) must be a number from 1 to 65535."),
            (["--db-pool-size=500"], [:], "--db-pool-size (LATCHKEY_DB_POOL_SIZE) must be a number from 1 to 100."),
            (
                [], ["LATCHKEY_DB_POOL_TIMEOUT_SECONDS": "0"],
                "LATCHKEY_DB_POOL_TIMEOUT_SECONDS must be a number from 1 to 600."
            ),
            ([], ["LATCHKEY_SECURE_COOKIES": "maybe"], "LATCHKEY_SECURE_COOKIES must be"),
            (["--colour", "blue"], [:], "--colour is not a Latchkey option"),
            (["--log-level"], [:], "--log-level needs a value."),
        ] as [([String], [String: String?], String)] {
            let refused = try bed.run(["config"] + arguments, environment: environment)
            let lines = refused.printed.split(separator: "\n")
            #expect(refused.status != 0 && lines.count == 1 && refused.printed.contains(message), "\(refused.printed)")
        }
        try "PORT=9090\nLATCHKEY_COLOUR=blue\n".write(toFile: file, atomically: true, encoding: .utf8)
        let unknown = try bed.run(["migrate", "--config", file])
        #expect(
            unknown.status != 0
                && unknown.printed.contains("\(file) line 2: LATCHKEY_COLOUR is not a Latchkey setting."))
        try "PORT=99999\n".write(toFile: file, atomically: true, encoding: .utf8)
        let badInFile = try bed.run(["migrate", "--config", file])
        #expect(
            badInFile.status != 0 && badInFile.printed.contains("PORT in \(file) must be a number from 1 to 65535."))

        // At trace level nothing secret reaches a log line: the key, the metrics token, the SMTP password.
        let traced = try bed.run(
            ["migrate"],
            environment: [
                "LOG_LEVEL": "trace", "LATCHKEY_METRICS_TOKEN": metricsToken,
                "LATCHKEY_SMTP_URL": "smtp://relay:\(smtpPassword)@mail.acme.test:587",
            ])
        #expect(traced.status == 0, "\(traced.printed)")
        for secret in [smtpPassword, metricsToken, hex(bed.key)] { #expect(!traced.printed.contains(secret)) }
        await bed.cleanup()
    }
}
