import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LatchkeyCore
import LatchkeyStore
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
