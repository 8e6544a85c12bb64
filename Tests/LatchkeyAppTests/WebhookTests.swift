import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LatchkeyCore
import LatchkeyWebhook
import Logging
import NIOCore
import NIOPosix
import SQLKit
import ServiceLifecycle
import Synchronization
import Testing

@testable import LatchkeyApp
@testable import LatchkeyStore

/// A real HTTP server on loopback that records what it is sent and answers the statuses it is given (then 200).
final class WebhookReceiver: Sendable {
    struct Received: Sendable {
        var headers: HTTPFields
        var body: String
    }

    private let state = Mutex<(received: [Received], statuses: [Int])>(([], []))
    private let portBox = Mutex<Int?>(nil)
    /// Runs before a request is answered, with how many came before it (e.g. to let time pass, or another worker in).
    private let hook = Mutex<(@Sendable (Int) async throws -> Void)?>(nil)

    var received: [Received] { state.withLock { $0.received } }
    func beforeAnswering(_ body: @escaping @Sendable (Int) async throws -> Void) { hook.withLock { $0 = body } }
    func answer(_ statuses: [Int]) { state.withLock { $0.statuses = statuses } }

    /// Runs the receiver for the length of `body`, which gets its URL.
    static func with(_ body: (WebhookReceiver, String) async throws -> Void) async throws {
        let receiver = WebhookReceiver()
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let before = receiver.state.withLock { $0.received.count }
            receiver.state.withLock {
                $0.received.append(Received(headers: request.headers, body: String(buffer: bytes)))
            }
            if let hook = receiver.hook.withLock({ $0 }) { try await hook(before) }
            let status = receiver.state.withLock { state -> Int in
                state.statuses.isEmpty ? 200 : state.statuses.removeFirst()
            }
            return Response(status: .init(code: status))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in receiver.portBox.withLock { $0 = channel.localAddress?.port } })
        // Stopped gracefully (cancelling a server with a connection arriving trips an assertion in NIO).
        let services = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [], logger: Logger(label: "receiver")))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            var port: Int?
            for _ in 0..<500 where port == nil {
                try await Task.sleep(for: .milliseconds(10))
                port = receiver.portBox.withLock { $0 }
            }
            do {
                try await body(receiver, "http://127.0.0.1:\(try #require(port))/hook")
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }
}

extension Harness {
    /// An owner registers a webhook for role changes at `url`, then `count` members are made Admins (one event each).
    func roleChangesHooked(to url: String, count: Int, client: some TestClientProtocol) async throws {
        var owner = try await enrolled("olga@acme.test", name: "Olga", role: .owner, client: client)
        _ = try await client.api(
            .post, "/api/v1/webhooks", #"{"url":"\#(url)","eventTypes":["member.role_changed"]}"#,
            session: &owner.session)
        for i in 0..<count {
            let member = try await self.member("m\(i)@acme.test", totp: false)
            _ = try await client.api(
                .post, "/api/v1/members/\(member.id)/role",
                #"{"roleId":"\#(acme.roles[.admin]!.lowercasedString)"}"#, session: &owner.session)
        }
    }

    /// Webhook rows as stored.
    func deliveryRows() async throws -> [(status: String, attempts: Int, code: Int?)] {
        try await sql.raw("SELECT status, attempts, last_status_code FROM webhook_deliveries ORDER BY event_seq").all()
            .map {
                (
                    try $0.decode(column: "status", as: String.self), try $0.decode(column: "attempts", as: Int.self),
                    try $0.decode(column: "last_status_code", as: Int?.self)
                )
            }
    }
}

@Suite("Webhooks: signed deliveries of audit events, retried, leased, never to private addresses")
struct WebhookTests {
    @Test("only org.settings with audit.view registers one; private, loopback and link-local targets are refused")
    func registration() async throws {
        try await Harness.withApp { h, client in
            var owner = try await h.enrolled("olga@acme.test", name: "Olga", role: .owner, client: client)
            var member = try await h.enrolled("mia@acme.test", name: "Mia", client: client)
            let body = #"{"url":"https://hooks.example.com/latchkey","eventTypes":["mfa.reset"]}"#
            #expect(
                try await client.api(.post, "/api/v1/webhooks", body, session: &member.session).status == .forbidden)
            for url in [
                "http://hooks.example.com/x", "https://127.0.0.1/x", "https://10.1.2.3/x",
                "https://169.254.169.254/latest",
                "https://[::1]/x", "https://[fd00::1]/x", "https://localhost/x", "https://192.168.1.10/x",
                "https://[::ffff:127.0.0.1]/x", "https://user:pw@hooks.example.com/x", "not a url",
            ] {
                let refused = try await client.api(
                    .post, "/api/v1/webhooks", #"{"url":"\#(url)","eventTypes":["*"]}"#, session: &owner.session)
                #expect(refused.status == .badRequest && refused.errorCode == "invalid_webhook_url", "\(url)")
            }
            let unknown = try await client.api(
                .post, "/api/v1/webhooks", #"{"url":"https://93.184.215.14/x","eventTypes":["nope"]}"#,
                session: &owner.session)
            #expect(unknown.errorCode == "invalid_event_types")
            #expect(try await h.services.store.webhooks.endpoints(organizationID: h.acme.organizationID).isEmpty)
            // A public address literal needs no DNS: registered, with its secret shown this once.
            let created = try await client.api(
                .post, "/api/v1/webhooks",
                #"{"url":"https://93.184.215.14/hooks","description":"SIEM","eventTypes":["mfa.reset","member.suspended"]}"#,
                session: &owner.session)
            #expect(created.status == .created)
            let secret = try #require(created.json["secret"] as? String)
            #expect(secret.hasPrefix("whsec_"))
            let id = try #require(created.json["id"] as? String)
            let shown = try await client.api(.get, "/api/v1/webhooks/\(id)", session: &owner.session)
            #expect(shown.json["secret"] == nil && shown.json["status"] as? String == "enabled")
            let stored = try await h.sql.raw("SELECT secret_sealed FROM webhook_endpoints").first()?.decode(
                column: "secret_sealed", as: String.self)
            #expect(stored != nil && stored?.contains(secret) == false)
            #expect(try await h.auditEvents(action: .webhookCreated).map(\.result) == ["success"])
            let disabled = try await client.api(.post, "/api/v1/webhooks/\(id)/disable", nil, session: &owner.session)
            #expect(disabled.json["status"] as? String == "disabled")
            let deleted = try await client.api(.post, "/api/v1/webhooks/\(id)/delete", nil, session: &owner.session)
            #expect(deleted.json["status"] as? String == "deleted")
            #expect(try await client.api(.get, "/api/v1/webhooks/\(id)", session: &owner.session).status == .notFound)
            #expect(try await h.auditEvents(action: .webhookDeleted).count == 1)
        }
    }

    @Test(
        "an event is POSTed once, signed over t.body, only to endpoints that asked for its type, only after they exist")
    func signedDelivery() async throws {
        try await Harness.withApp(configure: { $0.webhookAllowPrivate = true }) { h, client in
            try await WebhookReceiver.with { receiver, url in
                var owner = try await h.enrolled("olga@acme.test", name: "Olga", role: .owner, client: client)
                let jane = try await h.enrolled("jane@acme.test", name: "Jane", client: client)
                // An event before the endpoint exists is not sent.
                _ = try await client.api(.post, "/api/v1/members/\(jane.id)/suspend", "{}", session: &owner.session)
                let created = try await client.api(
                    .post, "/api/v1/webhooks", #"{"url":"\#(url)","eventTypes":["member.reactivated"]}"#,
                    session: &owner.session)
                let secret = try #require(created.json["secret"] as? String)
                let id = try #require(created.json["id"] as? String)
                _ = try await client.api(.post, "/api/v1/members/\(jane.id)/reactivate", "{}", session: &owner.session)
                _ = try await client.api(.post, "/api/v1/members/\(jane.id)/suspend", "{}", session: &owner.session)
                let dispatcher = try WebhookDispatcher(services: h.services)
                #expect(try await dispatcher.queueNewEvents() == 1)
                #expect(try await dispatcher.queueNewEvents() == 0)
                #expect(try await dispatcher.deliverDue() == 1)
                #expect(try await dispatcher.deliverDue() == 0)
                let got = try #require(receiver.received.first)
                #expect(receiver.received.count == 1)
                let signature = try #require(got.headers[HTTPField.Name("Latchkey-Signature")!])
                let parts = Dictionary(
                    uniqueKeysWithValues: signature.split(separator: ",").map {
                        let pair = $0.split(separator: "=", maxSplits: 1)
                        return (String(pair[0]), String(pair[1]))
                    })
                let t = try #require(parts["t"].flatMap { Int64($0) })
                #expect(parts["v1"] == WebhookSignature.hex(body: got.body, secret: secret, t: t))
                #expect(abs(Double(t) - h.clock.now.timeIntervalSince1970) < 2)
                let json = try #require(try JSONSerialization.jsonObject(with: Data(got.body.utf8)) as? [String: Any])
                #expect(json["type"] as? String == "member.reactivated")
                #expect((json["data"] as? [String: Any])?["action"] as? String == "member.reactivated")
                #expect(got.headers[HTTPField.Name("Latchkey-Event")!] == "member.reactivated")
                let log = try await client.api(.get, "/api/v1/webhooks/\(id)/deliveries", session: &owner.session)
                let entry = try #require((log.json["deliveries"] as? [[String: Any]])?.first)
                #expect(entry["status"] as? String == "delivered" && entry["lastStatusCode"] as? Int == 200)
                #expect(entry["attempts"] as? Int == 1)
            }
        }
    }

    @Test(
        "a failing receiver is retried with back-off, gets the event once when it answers 200, and a day of failures disables the endpoint"
    )
    func retriesAndDisabling() async throws {
        try await Harness.withApp(configure: { $0.webhookAllowPrivate = true }) { h, client in
            try await WebhookReceiver.with { receiver, url in
                var owner = try await h.enrolled("olga@acme.test", name: "Olga", role: .owner, client: client)
                let jane = try await h.enrolled("jane@acme.test", name: "Jane", client: client)
                _ = try await client.api(
                    .post, "/api/v1/webhooks",
                    #"{"url":"\#(url)","eventTypes":["member.suspended","member.reactivated"]}"#,
                    session: &owner.session)
                receiver.answer([500])
                _ = try await client.api(.post, "/api/v1/members/\(jane.id)/suspend", "{}", session: &owner.session)
                let dispatcher = try WebhookDispatcher(services: h.services)
                try await dispatcher.queueNewEvents()
                #expect(try await dispatcher.deliverDue() == 1)
                #expect(try await h.deliveryRows().map(\.status) == ["pending"])
                #expect(try await dispatcher.deliverDue() == 0)  // not due for 10 s
                h.clock.advance(11)
                #expect(try await dispatcher.deliverDue() == 1)
                #expect(try await h.deliveryRows().map(\.status) == ["delivered"])
                #expect(try await h.deliveryRows().map(\.attempts) == [2])
                #expect(receiver.received.map { $0.body }.count == 2)  // the 500, then the 200

                // Down for good: attempts 10 s, 30 s, 90 s … apart, and after a day the endpoint is disabled.
                receiver.answer(Array(repeating: 503, count: 100))
                _ = try await client.api(.post, "/api/v1/members/\(jane.id)/reactivate", "{}", session: &owner.session)
                #expect(try await dispatcher.queueNewEvents() == 1)
                #expect(try await dispatcher.deliverDue() == 1)  // this one, at once (the first is not sent again)
                var waits: [TimeInterval] = []
                var last = h.clock.now
                for _ in 0..<40 {
                    if try await dispatcher.deliverDue() == 1 {
                        waits.append(h.clock.now.timeIntervalSince(last))
                        last = h.clock.now
                    }
                    let endpoint = try #require(
                        try await h.services.store.webhooks.endpoints(organizationID: h.acme.organizationID).first)
                    if !endpoint.enabled { break }
                    h.clock.advance(max(10, min(3600, waits.last.map { $0 * 3 } ?? 10)))
                }
                #expect(waits.prefix(5).map { Int($0) } == [10, 30, 90, 270, 810])
                let endpoint = try #require(
                    try await h.services.store.webhooks.endpoints(organizationID: h.acme.organizationID).first)
                #expect(!endpoint.enabled && endpoint.disabledReason.contains("Failing for a day"))
                #expect(try await h.deliveryRows().last?.status == "failed")
                let disabled = try #require(try await h.auditEvents(action: .webhookDisabled).last)
                #expect(disabled.actorRole == "system" && disabled.reason.contains("503"))
            }
        }
    }

    @Test("two workers at once never send one delivery twice")
    func leases() async throws {
        try await Harness.withApp(configure: { $0.webhookAllowPrivate = true }) { h, client in
            try await WebhookReceiver.with { receiver, url in
                try await h.roleChangesHooked(to: url, count: 30, client: client)
                let workers = try (0..<4).map { _ in try WebhookDispatcher(services: h.services) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in workers {
                        group.addTask {
                            for _ in 0..<5 {
                                try await worker.queueNewEvents()
                                try await worker.deliverDue()
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let received = { (id: String) in
                    receiver.received.filter { $0.headers[HTTPField.Name("Latchkey-Delivery")!] == id }.count
                }
                // The leases' promise, while four workers race: each delivery claimed once, delivered on its
                // first attempt and received once. (An answer is never lost to the receiver closing the connection
                // — WebhookPosterTests — so no attempt here fails.)
                let raced = try await h.sql.raw("SELECT id, attempts, status, last_error FROM webhook_deliveries")
                    .all().map {
                        (
                            id: try $0.decode(column: "id", as: UUID.self).lowercasedString,
                            attempts: try $0.decode(column: "attempts", as: Int.self),
                            status: try $0.decode(column: "status", as: String.self),
                            error: try $0.decode(column: "last_error", as: String.self)
                        )
                    }
                #expect(raced.count == 30)
                for row in raced {
                    #expect(
                        row.status == "delivered" && row.attempts == 1 && received(row.id) == 1,
                        "\(row.id): \(row.status) after \(row.attempts) attempts, received \(received(row.id)): \(row.error)"
                    )
                }
                let events = receiver.received.compactMap {
                    ((try? JSONSerialization.jsonObject(with: Data($0.body.utf8))) as? [String: Any])?["data"]
                        .flatMap { ($0 as? [String: Any])?["id"] as? String }
                }
                #expect(Set(events).count == 30)
            }
        }
    }

    @Test("a batch that outlasts its lease: each delivery's lease is renewed as it comes up, none is sent twice")
    func slowBatch() async throws {
        try await Harness.withApp(configure: { $0.webhookAllowPrivate = true }) { h, client in
            try await WebhookReceiver.with { receiver, url in
                try await h.roleChangesHooked(to: url, count: 3, client: client)
                let first = try WebhookDispatcher(services: h.services)
                let second = try WebhookDispatcher(services: h.services)
                #expect(try await first.queueNewEvents() == 3)
                // The first worker leases all three at once; its first two POSTs take 40 s and 30 s, so the batch's
                // lease has run out while it is on the second. The second worker, looking then, may take only the
                // third: the second's lease was renewed when it came up.
                receiver.beforeAnswering { index in
                    switch index {
                    case 0: h.clock.advance(40)
                    case 1:
                        h.clock.advance(30)
                        let taken = try await second.deliverDue()
                        #expect(taken == 1)
                    default: break
                    }
                }
                #expect(try await first.deliverDue() == 3)
                let ids = receiver.received.compactMap { $0.headers[HTTPField.Name("Latchkey-Delivery")!] }
                #expect(ids.count == 3 && Set(ids).count == 3, "\(ids)")
                #expect(try await h.deliveryRows().map(\.status) == ["delivered", "delivered", "delivered"])
            }
        }
    }

    @Test("100 registrations at once make exactly the 20 an organization may have, each audited once")
    func concurrentRegistrations() async throws {
        try await Harness.withApp { h, client in
            let owner = try await h.enrolled("olga@acme.test", name: "Olga", role: .owner, client: client)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for i in 0..<100 {
                    group.addTask {
                        var session = owner.session
                        return try await client.api(
                            .post, "/api/v1/webhooks",
                            #"{"url":"https://93.184.215.14/hooks/\#(i)","eventTypes":["*"]}"#, session: &session
                        ).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 20)
            #expect(statuses.filter { $0 == .conflict }.count == 80)
            #expect(try await h.services.store.webhooks.endpoints(organizationID: h.acme.organizationID).count == 20)
            #expect(try await h.auditEvents(action: .webhookCreated).count == 20)
        }
    }

    @Test("addresses: every private, loopback, link-local, shared and reserved range is refused; public ones pass")
    func addressRules() throws {
        for blocked in [
            "0.0.0.0", "10.0.0.1", "100.64.0.1", "127.0.0.1", "169.254.169.254", "172.16.0.1", "172.31.255.255",
            "192.168.0.1", "192.0.2.1", "198.18.0.1", "224.0.0.1", "255.255.255.255",
        ] {
            #expect(!WebhookTarget.isPublic(try SocketAddress(ipAddress: blocked, port: 443)), "\(blocked)")
        }
        for blocked in [
            "::", "::1", "fe80::1", "fd12:3456::1", "ff02::1", "::ffff:10.0.0.1", "64:ff9b::7f00:1", "2001:db8::1",
        ] {
            #expect(!WebhookTarget.isPublic(try SocketAddress(ipAddress: blocked, port: 443)), "\(blocked)")
        }
        for allowed in ["93.184.215.14", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            #expect(WebhookTarget.isPublic(try SocketAddress(ipAddress: allowed, port: 443)), "\(allowed)")
        }
    }
}
