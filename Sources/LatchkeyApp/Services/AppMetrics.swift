import CoreMetrics
import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore
import Logging
import Prometheus
import Synchronization

/// What `GET /metrics` shows, in Prometheus' text format.
///
/// - Requests, by route pattern, method and status, with latency histograms: Hummingbird's `MetricsMiddleware`,
///   which speaks swift-metrics; `latchkey serve` makes `factory` the process's metrics backend
///   (`bootstrapProcessMetrics`), whose sanitizer gives its metrics Latchkey's names.
/// - Sign-ins, lockouts, MFA resets and every audited action, counted from the audit events once they are committed
///   (`LatchkeyDatabase.auditSetup`): a rolled-back attempt is never counted, and the counts agree with the
///   audit log.
/// - Gauges read when scraped: background jobs and their members left, mail and webhook backlogs (one indexed count
///   each), database connections in use, idle and queued, and the process' resident memory.
///
/// Labels are bounded: route patterns (never a path's ids), methods, statuses, action codes and results.
public final class AppMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// The swift-metrics backend writing into `registry`, with Hummingbird's metric names made Latchkey's.
    public let factory: PrometheusMetricsFactory

    static var signIns: MetricNameDescriptor {
        named(
            "sign_in_attempts", unit: "total",
            "Sign-in steps checked, by step (password, totp, recovery_code) and result.")
    }
    static var lockouts: MetricNameDescriptor {
        named("lockouts", unit: "total", "Sign-in locks started after too many wrong attempts.")
    }
    static var resets: MetricNameDescriptor {
        named("mfa_resets", unit: "total", "MFA resets per member, by outcome (reset, skipped, denied, failed).")
    }
    static var events: MetricNameDescriptor {
        named("audit_events", unit: "total", "Audit events committed, by action and result.")
    }

    let jobs: Prometheus.Gauge
    let jobMembers: Prometheus.Gauge
    let mail: Prometheus.Gauge
    let webhooks: Prometheus.Gauge
    let residentMemory: Prometheus.Gauge

    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = AppMetrics.latchkeyNames
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(20),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        self.factory = factory
        func gauge(_ name: String, _ help: String) -> Prometheus.Gauge {
            registry.makeGauge(descriptor: Self.named(name, help))
        }
        jobs = gauge("jobs_running", "Background bulk jobs running now.")
        jobMembers = gauge("job_members_remaining", "Members the running background jobs have still to act on.")
        mail = gauge("mail_queued", "Messages not yet handed to the mail server (and not given up).")
        webhooks = gauge("webhook_deliveries_pending", "Webhook deliveries not yet made (and not given up).")
        residentMemory = registry.makeGauge(
            descriptor: Self.named(
                "resident_memory", unit: "bytes", "Resident memory of this process.", namespace: "process"))
        registry.makeGauge(
            descriptor: Self.named("build_info", "The version this process runs (always 1)."),
            labels: [("version", LatchkeyVersion.current)]
        ).set(to: 1)
        for step in ["password", "totp", "recovery_code"] {
            for result in ["success", "failure", "denied"] {
                _ = registry.makeCounter(descriptor: Self.signIns, labels: [("step", step), ("result", result)])
            }
        }
        _ = registry.makeCounter(descriptor: Self.lockouts)
        for outcome in ["reset", "skipped", "denied", "failed"] {
            _ = registry.makeCounter(descriptor: Self.resets, labels: [("outcome", outcome)])
        }
    }

    /// A metric's name and help: `namespace_name[_unit]`.
    static func named(_ name: String, unit: String = "", _ help: String, namespace: String = "latchkey")
        -> MetricNameDescriptor
    {
        MetricNameDescriptor(namespace: namespace, metricName: name, unitName: unit, helpText: help)
    }

    /// Counts committed audit events (told by `AuditSetup`).
    func record(_ entries: [AuditEntry]) {
        var counts: [String: (AuditAction, AuditResult, Int64)] = [:]
        for entry in entries {
            counts["\(entry.action.rawValue) \(entry.result.rawValue)", default: (entry.action, entry.result, 0)].2 += 1
        }
        for (action, result, count) in counts.values {
            registry.makeCounter(
                descriptor: Self.events, labels: [("action", action.rawValue), ("result", result.rawValue)]
            ).increment(by: count)
            switch action {
            case .signInPassword, .signInMFA, .signInRecoveryCode:
                let step = action == .signInPassword ? "password" : action == .signInMFA ? "totp" : "recovery_code"
                let outcome = result == .skipped ? "failure" : result.rawValue
                registry.makeCounter(descriptor: Self.signIns, labels: [("step", step), ("result", outcome)])
                    .increment(by: count)
            case .lockout:
                registry.makeCounter(descriptor: Self.lockouts).increment(by: count)
            case .mfaReset:
                let outcome =
                    switch result {
                    case .success: "reset"
                    case .skipped: "skipped"
                    case .denied: "denied"
                    case .failure: "failed"
                    }
                registry.makeCounter(descriptor: Self.resets, labels: [("outcome", outcome)]).increment(by: count)
            default: break
            }
        }
    }

    /// Everything as it stands, without reading the gauges again.
    var exposition: String { registry.emitToString() }

    /// Reads the gauges' values now and renders everything.
    func render(services: AppServices) async -> [UInt8] {
        do {
            let backlog = try await services.store.instance.backlog()
            jobs.set(Int64(backlog.jobs))
            jobMembers.set(Int64(backlog.jobMembers))
            mail.set(Int64(backlog.mail))
            webhooks.set(Int64(backlog.webhookDeliveries))
            for pool in try await services.database.poolUse() {
                for (state, value) in [("in_use", pool.inUse), ("idle", pool.idle)] {
                    registry.makeGauge(
                        descriptor: Self.connections, labels: [("pool", pool.pool), ("state", state)]
                    ).set(Int64(value))
                }
                registry.makeGauge(descriptor: Self.connectionsMax, labels: [("pool", pool.pool)])
                    .set(Int64(pool.capacity))
                registry.makeGauge(descriptor: Self.connectionWaits, labels: [("pool", pool.pool)])
                    .set(Int64(pool.waiting))
            }
        } catch {
            // The scrape still answers: the counters are this process' own, and a database that does not answer
            // shows in `/readyz` and in the requests' statuses.
            services.logger.warning(
                "metrics: the database's figures were not read", metadata: ["error_type": "\(type(of: error))"])
        }
        if let bytes = Self.residentBytes() { residentMemory.set(Int64(bytes)) }
        return registry.emitToBuffer()
    }

    static var connections: MetricNameDescriptor {
        named("db_connections", "This process' database connections, by pool (writes, reads) and state (in_use, idle).")
    }
    static var connectionsMax: MetricNameDescriptor {
        named("db_connections_max", "The most connections each pool may open.")
    }
    static var connectionWaits: MetricNameDescriptor {
        named("db_connection_waits", "Work queued for a connection now (SQLite's one writer).")
    }

    /// The resident set from `/proc/self/statm` (Linux); nil elsewhere.
    static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Hummingbird's metric names and labels, made Prometheus' and Latchkey's.
    @Sendable static func latchkeyNames(_ name: String, _ labels: [(String, String)]) -> (String, [(String, String)]) {
        let names = [
            "hb.requests": "latchkey_http_requests_total",
            "hb.request.errors": "latchkey_http_request_errors_total",
            "http.server.request.duration": "latchkey_http_request_duration_seconds",
            "http.server.active_requests": "latchkey_http_requests_active",
        ]
        let labelNames = [
            "http.route": "route", "http.request.method": "method", "http.response.status_code": "status",
            "error.type": "status",
        ]
        // A request no route matched: "unmatched", as in the access log.
        let values = ["NotFound": "unmatched", "Unknown": "unmatched"]
        return (
            names[name] ?? name,
            labels.map { label, value in
                let renamed = labelNames[label] ?? label
                return (renamed, renamed == "route" ? values[value] ?? value : value)
            }
        )
    }

    /// Makes `factory` the process' swift-metrics backend, once (a process serves one application).
    public func bootstrapProcessMetrics() {
        let first = Self.bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        if first { MetricsSystem.bootstrap(factory) }
    }

    private static let bootstrapped = Mutex(false)
}

/// `GET /metrics`: the Prometheus text format. When `LATCHKEY_METRICS_TOKEN` is set, only a request bearing it is
/// answered (401 otherwise); without it the endpoint is open, like `/healthz` — keep it off the public side of the
/// proxy or set the token.
enum MetricsEndpoint {
    static func response(to request: Request, services: AppServices) async throws -> Response {
        if let token = services.config.metricsToken {
            let presented = request.headers[.authorization].flatMap { value -> String? in
                value.hasPrefix("Bearer ") ? String(value.dropFirst(7)) : nil
            }
            guard let presented, constantTimeEquals(Array(presented.utf8), Array(token.utf8)) else {
                throw LatchkeyError(
                    .unauthorized, "metrics_token_required",
                    "The metrics need Authorization: Bearer with the server's metrics token.")
            }
        }
        let body = await services.metrics.render(services: services)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
