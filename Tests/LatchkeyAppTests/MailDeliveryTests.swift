import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import LatchkeyMail
import LatchkeyStore
import Testing

@testable import LatchkeyApp

/// The outbox delivered to a real SMTP server (aiosmtpd with STARTTLS and AUTH) by the delivery worker, on both
/// databases.
@Suite struct MailDeliveryTests {
    /// Resets `email`'s MFA from the operator CLI's path: a real change that queues a real notice.
    func queueNotice(_ h: Harness, _ email: String) async throws {
        try await h.member(email, name: "Jane \"JD\" Doe", totp: true)
        _ = try await OperatorTools(services: h.services).resetMFA(email: email, reason: "INC-7")
    }

    func worker(_ h: Harness, _ sink: SMTPSink?, port: Int? = nil) throws -> MailDelivery {
        let configuration =
            try sink?.configuration()
            ?? SMTPConfiguration.parse("smtp://latchkey:x@localhost:\(port!)", caFile: nil)
        return try MailDelivery(services: h.services, configuration: configuration)
    }

    func outbox(_ h: Harness) async throws -> [OutboxMessage] {
        try await h.services.store.outbox.recent(organizationID: h.acme.organizationID, limit: 100)
    }

    @Test func aQueuedNoticeIsDeliveredWithTextHTMLAndHeaders() async throws {
        let sink = try SMTPSink()
        defer { sink.stop() }
        try await Harness.withApp(configure: {
            $0.mailFrom = MailAddress(parsing: "Acme Security <security@acme.example>")
            $0.publicURL = "https://latchkey.acme.example"
        }) { h, _ in
            try await queueNotice(h, "jane@acme.example")
            let queued = try await outbox(h)
            #expect(queued.map(\.status) == [.queued])
            #expect(try await worker(h, sink).deliverDue() == 1)
            let received = try await sink.waitFor(1)
            #expect(received.count == 1)
            let mail = ParsedMail(received[0].data)
            #expect(received[0].recipients == ["jane@acme.example"] && received[0].tls)
            #expect(received[0].mailFrom == "security@acme.example")
            #expect(mail.headers["message-id"] == "<\(queued[0].id.uuidString.lowercased())@acme.example>")
            #expect(mail.headers["date"]?.hasSuffix("+0000") == true)
            #expect(mail.headers["subject"] == "Your multi-factor authentication was reset")
            #expect(mail.text.contains("Reason or ticket given: INC-7"))
            #expect(mail.html.contains("<p>Hello Jane &quot;JD&quot; Doe,</p>"))
            let sent = try await outbox(h)
            #expect(sent.map(\.status) == [.sent] && sent[0].attempts == 1 && sent[0].sentAt == h.clock.now)
            // Nothing more to send, nothing sent twice.
            #expect(try await worker(h, sink).deliverDue() == 0)
            try await Task.sleep(for: .milliseconds(200))
            #expect(try sink.received().count == 1)
        }
    }

    @Test func aTemporaryRefusalIsRetriedAfterBackOff() async throws {
        let sink = try SMTPSink()
        defer { sink.stop() }
        try await Harness.withApp { h, _ in
            try await queueNotice(h, "tempfail@acme.example")
            let worker = try worker(h, sink)
            #expect(try await worker.deliverDue() == 1)
            var message = try #require(try await outbox(h).first)
            #expect(message.status == .queued && message.attempts == 1)
            #expect(message.lastError?.hasPrefix("451 4.3.0") == true)
            #expect(message.nextAttemptAt == h.clock.now.addingTimeInterval(30))
            // Not due yet: not claimed.
            #expect(try await worker.deliverDue() == 0)
            h.clock.advance(31)
            #expect(try await worker.deliverDue() == 1)
            message = try #require(try await outbox(h).first)
            #expect(message.status == .sent && message.attempts == 2 && message.lastError == nil)
            #expect(try await sink.waitFor(1).map(\.recipients) == [["tempfail@acme.example"]])
        }
    }

    @Test func aPermanentRefusalFailsWithTheAnswerAndCanBeRetried() async throws {
        let sink = try SMTPSink()
        defer { sink.stop() }
        try await Harness.withApp { h, _ in
            try await queueNotice(h, "reject@acme.example")
            #expect(try await worker(h, sink).deliverDue() == 1)
            let failed = try #require(try await outbox(h).first)
            #expect(failed.status == .failed && failed.failedAt == h.clock.now)
            #expect(failed.lastError?.hasPrefix("550 5.1.1 <reject@acme.example>") == true)
            #expect(try await worker(h, sink).deliverDue() == 0)
            #expect(try sink.received().isEmpty)
            // An administrator's retry queues it again (and it fails again here, with the same answer).
            let retried = try await h.services.store.outbox.retry(
                failed.id, organizationID: h.acme.organizationID, now: h.clock.now)
            #expect(retried?.status == .queued)
            #expect(
                try await h.services.store.outbox.retry(
                    failed.id, organizationID: h.globex.organizationID, now: h.clock.now) == nil)
            #expect(try await worker(h, sink).deliverDue() == 1)
            #expect(try await outbox(h).first?.attempts == 2)
        }
    }

    @Test func mailQueuedWhileTheServerIsDownGoesOutOnceItIsBack() async throws {
        let first = try SMTPSink()
        let port = first.port
        first.stop()
        try await Harness.withApp { h, _ in
            // The change commits although no mail server answers.
            try await queueNotice(h, "jane@acme.example")
            let jane = try #require(try await h.services.store.members.find(email: "jane@acme.example"))
            #expect(try await h.services.store.credentials.confirmedTOTP(memberID: jane.id) == nil)
            let down = try worker(h, nil, port: port)
            #expect(try await down.deliverDue() == 1)
            let waiting = try #require(try await outbox(h).first)
            #expect(waiting.status == .queued && waiting.lastError?.contains("cannot connect") == true)
            h.clock.advance(31)
            #expect(try await down.deliverDue() == 1)
            #expect(try await outbox(h).first?.nextAttemptAt == h.clock.now.addingTimeInterval(60))

            let back = try SMTPSink(port: port)
            defer { back.stop() }
            h.clock.advance(61)
            #expect(try await worker(h, back).deliverDue() == 1)
            #expect(try await back.waitFor(1).count == 1)
            #expect(try await outbox(h).first?.status == .sent)
        }
    }

    @Test func temporaryFailuresGiveUpAfter24Hours() async throws {
        let closed = try SMTPSink()
        let port = closed.port
        closed.stop()
        try await Harness.withApp { h, _ in
            try await queueNotice(h, "jane@acme.example")
            let down = try worker(h, nil, port: port)
            var attempts = 0
            while try await outbox(h).first?.status == .queued, attempts < 100 {
                attempts += try await down.deliverDue()
                h.clock.advance(3600)
            }
            let message = try #require(try await outbox(h).first)
            #expect(message.status == .failed)
            #expect(message.lastError?.hasPrefix("gave up after 24 hours; last answer: cannot connect") == true)
            #expect((20...30).contains(attempts))
        }
    }

    @Test func twoWorkersNeverSendOneMessageTwice() async throws {
        let sink = try SMTPSink()
        defer { sink.stop() }
        try await Harness.withApp { h, _ in
            let count = 60
            try await h.services.store.outbox.enqueue(
                (0..<count).map {
                    OutboxMessage(
                        organizationID: h.acme.organizationID, toEmail: "member\($0)@acme.example",
                        subject: "Message \($0)", body: "Body \($0)", createdAt: h.clock.now)
                })
            var first = try worker(h, sink)
            var second = try worker(h, sink)
            first.batchSize = 7
            second.batchSize = 7
            try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in [first, second, first, second] {
                    group.addTask {
                        var total = 0
                        while true {
                            let claimed = try await worker.deliverDue()
                            if claimed == 0 { return total }
                            total += claimed
                        }
                    }
                }
                var claimed = 0
                for try await part in group { claimed += part }
                #expect(claimed == count)
            }
            let received = try await sink.waitFor(count)
            #expect(received.count == count)
            #expect(Set(received.flatMap(\.recipients)).count == count)
            let all = try await h.services.store.outbox.page(
                organizationID: h.acme.organizationID, status: .sent, before: nil, limit: 1000)
            #expect(all.count == count && all.allSatisfy { $0.attempts == 1 })
        }
    }

    @Test func theMailPageShowsDeliveryWithoutBodiesAndRetriesFailedMail() async throws {
        let sink = try SMTPSink()
        defer { sink.stop() }
        let url = sink.url
        let ca = sink.caFile
        try await Harness.withApp(configure: { $0.smtp = try? SMTPConfiguration.parse(url, caFile: ca) }) { h, client in
            var owner = try await h.enrolled("olivia@acme.test", role: .owner, client: client)
            var admin = try await h.enrolled("ada@acme.test", role: .admin, client: client)
            var member = try await h.enrolled("mo@acme.test", client: client)
            try await queueNotice(h, "reject@acme.example")
            try await queueNotice(h, "jane@acme.example")
            // The application's own delivery worker runs too (SMTP is configured): between the two, each message
            // is tried once.
            let worker = try worker(h, sink)
            let deadline = Date().addingTimeInterval(20)
            while try await outbox(h).contains(where: { $0.status == .queued }), Date() < deadline {
                if try await worker.deliverDue() == 0 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(try await outbox(h).map(\.attempts) == [1, 1])
            #expect(try await sink.waitFor(1).count == 1)

            let page = try await client.page("/mail", session: &owner.session)
            #expect(page.status == .ok)
            #expect(page.text.contains("Mail is handed to <code>smtp://latchkey:***@localhost:\(sink.port)</code>"))
            #expect(!page.text.contains("s3cret"))
            #expect(page.text.contains("550 5.1.1 &lt;reject@acme.example&gt;"))
            #expect(page.text.contains(">Failed <span class=\"count\">1</span>"))
            #expect(page.text.contains(">Sent <span class=\"count\">1</span>"))
            #expect(!page.text.contains("Reason or ticket given"), "a message's body never shows")
            let failedOnly = try await client.page("/mail?status=failed", session: &owner.session)
            #expect(failedOnly.text.contains("reject@acme.example") && !failedOnly.text.contains("jane@acme.example"))
            #expect(try await client.page("/mail?status=bogus", session: &owner.session).status == .badRequest)
            #expect(try await client.page("/mail?before=nope", session: &owner.session).status == .badRequest)

            let failed = try #require(try await outbox(h).first { $0.status == .failed })
            // Another organization's message answers like a missing one; a role without org.settings is refused.
            let globexMessage = OutboxMessage(
                organizationID: h.globex.organizationID, toEmail: "x@globex.test", subject: "G", body: "G",
                createdAt: h.clock.now)
            try await h.services.store.outbox.enqueue([globexMessage])
            let foreign = try await client.form(
                "/mail/\(globexMessage.id)/retry", ["_csrf": owner.session.csrf ?? ""], session: &owner.session)
            #expect(foreign.status == .notFound)
            let refused = try await client.form(
                "/mail/\(failed.id)/retry", ["_csrf": member.session.csrf ?? ""], session: &member.session)
            #expect(refused.status == .forbidden)
            let noCSRF = try await client.form("/mail/\(failed.id)/retry", [:], session: &admin.session)
            #expect(noCSRF.status == .forbidden)
            #expect(try await outbox(h).first { $0.id == failed.id }?.status == .failed)

            let retried = try await client.form(
                "/mail/\(failed.id)/retry", ["_csrf": admin.session.csrf ?? ""], session: &admin.session)
            #expect(retried.status == .seeOther || retried.status == .found)
            // Queued again, so a worker (here the application's own) tries it once more — and it fails again.
            let retryDeadline = Date().addingTimeInterval(20)
            while let current = try await outbox(h).first(where: { $0.id == failed.id }),
                current.attempts == 1 || current.status == .queued, Date() < retryDeadline
            {
                _ = try await worker.deliverDue()
                try await Task.sleep(for: .milliseconds(50))
            }
            let again = try await outbox(h).first { $0.id == failed.id }
            #expect(again?.attempts == 2 && again?.status == .failed)
            let events = try await h.auditEvents(action: .mailRetried)
            #expect(events.count == 1 && events.first?.actorEmail == "ada@acme.test")
            #expect(events.first?.targetEmail == "reject@acme.example")
        }
    }
}
