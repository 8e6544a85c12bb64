import Foundation
import Testing

@testable import LatchkeyMail

/// The SMTP client against a real SMTP server (aiosmtpd) on loopback.
@Suite struct SMTPClientTests {
    let from = MailAddress("security@acme.example", name: "Acme Security")!

    func message(to: [String], subject: String = "Hello", text: String = "Body") -> MailMessage {
        MailMessage(
            from: from, to: to.map { MailAddress($0)! }, subject: subject, text: text, html: "<p>\(text)</p>",
            messageID: MailMessage.makeID(domain: "acme.example"), date: Date(timeIntervalSince1970: 1_800_000_000))
    }

    @Test func deliversOverSTARTTLSWithAuthToEveryRecipient() async throws {
        let sink = try SMTPSink(tls: "starttls")
        defer { sink.stop() }
        let client = try SMTPClient(configuration: sink.configuration())
        let refused = try await client.send(
            message(to: ["jane@acme.example", "joe@acme.example"], subject: "Grüße – ünïcode", text: "Hallo Jane"))
        #expect(refused.isEmpty)
        let received = try await sink.waitFor(1)
        #expect(received.count == 1)
        let mail = try #require(received.first)
        #expect(mail.tls)
        #expect(mail.mailFrom == "security@acme.example")
        #expect(mail.recipients == ["jane@acme.example", "joe@acme.example"])
        let parsed = ParsedMail(mail.data)
        #expect(parsed.headers["date"] == "Fri, 15 Jan 2027 08:00:00 +0000")
        #expect(parsed.headers["message-id"]?.hasSuffix("@acme.example>") == true)
        #expect(parsed.headers["from"]?.hasSuffix("<security@acme.example>") == true)
        #expect(parsed.headers["subject"]?.hasPrefix("=?utf-8?B?") == true)
        #expect(parsed.text == "Hallo Jane")
        #expect(parsed.html == "<p>Hallo Jane</p>")
    }

    @Test func deliversOverImplicitTLS() async throws {
        let sink = try SMTPSink(tls: "implicit")
        defer { sink.stop() }
        try await SMTPClient(configuration: sink.configuration()).send(message(to: ["jane@acme.example"]))
        let received = try await sink.waitFor(1)
        #expect(received.first?.tls == true)
    }

    @Test func refusesAServerWithoutSTARTTLSBeforeSendingCredentials() async throws {
        let sink = try SMTPSink(tls: "none", auth: nil)
        defer { sink.stop() }
        let client = try SMTPClient(configuration: SMTPConfiguration.parse("smtp://u:p@localhost:\(sink.port)"))
        await #expect {
            try await client.send(message(to: ["jane@acme.example"]))
        } throws: { error in
            guard let error = error as? SMTPError, case .connection(let reason) = error else { return false }
            return reason.contains("STARTTLS") && !error.isPermanent
        }
        #expect(try sink.received().isEmpty)
        // A relay on the same host without TLS, when the URL says so.
        try await SMTPClient(configuration: .parse("smtp://localhost:\(sink.port)?starttls=off"))
            .send(message(to: ["jane@acme.example"]))
        #expect(try await sink.waitFor(1).first?.tls == false)
    }

    @Test func wrongCredentialsOrAnUntrustedCertificateAreConnectionErrors() async throws {
        let sink = try SMTPSink(tls: "starttls")
        defer { sink.stop() }
        let wrong = try SMTPClient(
            configuration: .parse("smtp://latchkey:nope@localhost:\(sink.port)", caFile: sink.caFile))
        await #expect {
            try await wrong.send(message(to: ["jane@acme.example"]))
        } throws: { error in
            guard let error = error as? SMTPError, case .connection(let reason) = error else { return false }
            return reason.hasPrefix("authentication refused: 535") && !reason.contains("nope")
        }
        var untrustedConfiguration = try SMTPConfiguration.parse(sink.url)
        untrustedConfiguration.replyTimeout = .seconds(3)
        let untrusted = try SMTPClient(configuration: untrustedConfiguration)
        await #expect {
            try await untrusted.send(message(to: ["jane@acme.example"]))
        } throws: { error in
            guard let error = error as? SMTPError, case .connection(let reason) = error else { return false }
            return reason.contains("TLS")
        }
        #expect(try sink.received().isEmpty)
    }

    @Test func temporaryAndPermanentRefusalsCarryTheServersAnswer() async throws {
        let sink = try SMTPSink(tls: "starttls")
        defer { sink.stop() }
        let client = try SMTPClient(configuration: sink.configuration())
        await #expect {
            try await client.send(message(to: ["reject-me@acme.example"]))
        } throws: { error in
            guard let error = error as? SMTPError else { return false }
            return error.isPermanent && error.description.hasPrefix("550 5.1.1")
        }
        await #expect {
            try await client.send(message(to: ["tempfail@acme.example"]))
        } throws: { error in
            guard let error = error as? SMTPError else { return false }
            return !error.isPermanent && error.description.hasPrefix("451 4.3.0")
        }
        // The second try of the temporarily refused recipient goes through; a refused one among accepted ones
        // is reported and the others still get the message.
        let refused = try await client.send(message(to: ["tempfail@acme.example", "reject@acme.example"]))
        #expect(refused.map(\.0.address) == ["reject@acme.example"])
        #expect(try await sink.waitFor(1).first?.recipients == ["tempfail@acme.example"])
    }

    @Test func linesBeginningWithADotArriveIntact() async throws {
        let sink = try SMTPSink(tls: "starttls")
        defer { sink.stop() }
        let data = "Subject: dots\r\n\r\n.\r\n..two\r\n.leading\r\nend\r\n"
        try await SMTPClient(configuration: sink.configuration())
            .send(from: from, to: [MailAddress("jane@acme.example")!], data: data)
        let received = try await sink.waitFor(1)
        #expect(
            received.first?.data.replacingOccurrences(of: "\r\n", with: "\n")
                == data.replacingOccurrences(of: "\r\n", with: "\n"))
        #expect(SMTPClient.dotStuffed(".\n..a\nb") == "..\r\n...a\r\nb\r\n.\r\n")
    }

    @Test func aServerThatStopsAnsweringTimesOut() async throws {
        // The server sits on DATA for a minute; the client gives up after half a second of silence.
        let sink = try SMTPSink(tls: "starttls", slow: 60)
        defer { sink.stop() }
        var configuration = try sink.configuration()
        configuration.replyTimeout = .milliseconds(500)
        let started = Date()
        await #expect {
            try await SMTPClient(configuration: configuration).send(self.message(to: ["slow@acme.example"]))
        } throws: { error in (error as? SMTPError)?.isPermanent == false }
        #expect(Date().timeIntervalSince(started) < 30)
        // Nothing listening: a connection error, not a hang.
        let closed = try SMTPClient(configuration: .parse("smtp://localhost:1"))
        await #expect(throws: SMTPError.self) { try await closed.send(self.message(to: ["jane@acme.example"])) }
    }
}

@Suite struct MailFormatTests {
    @Test func namesAndSubjectsCannotInjectHeaders() throws {
        let from = try #require(MailAddress("security@acme.example", name: "Eve\r\nBcc: victim@evil.example"))
        let to = try #require(MailAddress("jane@acme.example", name: "Jane \"JD\" <Doe>"))
        let raw = MailMessage(
            from: from, to: [to], subject: "Hi\r\nBcc: victim@evil.example", text: "x",
            messageID: "<a@b>", date: Date()
        ).rendered()
        let headerBlock = raw.components(separatedBy: "\r\n\r\n")[0]
        #expect(!headerBlock.lowercased().contains("\r\nbcc:"))
        #expect(headerBlock.contains("From: =?utf-8?B?"))
        #expect(headerBlock.contains("<jane@acme.example>"))
        #expect(MailAddress("jane@acme.example>\r\nRCPT TO:<x@y") == nil)
        #expect(MailAddress("a b@c.d") == nil)
        #expect(MailAddress("no-at-sign") == nil)
        #expect(MailAddress(parsing: "Acme Security <security@acme.example>")?.name == "Acme Security")
    }

    @Test func configurationURLs() throws {
        let starttls = try SMTPConfiguration.parse("smtp://user%40x:p%40ss@mail.example")
        #expect(starttls.security == .startTLS && starttls.port == 587)
        #expect(starttls.username == "user@x" && starttls.password == "p@ss")
        #expect(starttls.description == "smtp://user@x:***@mail.example:587")
        #expect(try SMTPConfiguration.parse("smtps://mail.example").port == 465)
        #expect(try SMTPConfiguration.parse("smtp://localhost:25?starttls=off").security == .none)
        #expect(throws: SMTPConfigurationError.self) {
            try SMTPConfiguration.parse("smtp://u:p@localhost?starttls=off")
        }
        #expect(throws: SMTPConfigurationError.self) { try SMTPConfiguration.parse("http://mail.example") }
        #expect(throws: SMTPConfigurationError.self) { try SMTPConfiguration.parse("smtp://mail.example?tls=1") }
    }
}
