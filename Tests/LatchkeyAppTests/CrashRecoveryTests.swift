import FluentKit
import Foundation
import LatchkeyCore
import LatchkeyStore
import Logging
import SQLKit
import Testing

@testable import LatchkeyApp

@Suite("Crash recovery of background reset jobs")
struct CrashRecoveryTests {
    /// The `latchkey` executable built next to the tests.
    static var executable: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent(".build/debug/latchkey")
    }

    /// A database a separate process can open by URL: an SQLite file, or a new PostgreSQL database.
    static func standaloneDatabase(logger: Logger) async throws -> (
        DatabaseLocation, String, @Sendable () async -> Void
    ) {
        if TestDatabase.isPostgres, let url = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"],
            var components = URLComponents(string: url)
        {
            let name = "crash_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
            let admin = try LatchkeyDatabase(location: .postgres(url: url), logger: logger)
            try await admin.sql.raw("CREATE DATABASE \(unsafeRaw: name)").run()
            await admin.shutdown()
            components.path = "/" + name
            let target = components.string!
            return (
                .postgres(url: target), target,
                {
                    guard let admin = try? LatchkeyDatabase(location: .postgres(url: url), logger: logger) else {
                        return
                    }
                    try? await admin.sql.raw("DROP DATABASE IF EXISTS \(unsafeRaw: name) WITH (FORCE)").run()
                    await admin.shutdown()
                }
            )
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "latchkey-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("crash.sqlite").path
        return (.sqlite(path: path), path, { try? FileManager.default.removeItem(at: directory) })
    }

    @Test("SIGKILL mid-job leaves every member fully reset or untouched; the job then resumes and finishes")
    func killMidJob() async throws {
        var logger = Logger(label: "crash-test")
        logger.logLevel = .warning
        let (location, url, cleanup) = try await Self.standaloneDatabase(logger: logger)
        defer { Task { await cleanup() } }
        let key = RandomSource.system.bytes(32)
        var config = AppConfig(database: location, dataDirectory: FileManager.default.temporaryDirectory.path)
        config.secretKey = key
        config.bcryptCost = 4
        let clock = TestClock(Date())
        var services = try await AppServices.start(config: config, clock: clock.clock, logger: logger)

        // An organization, its owner, and 3,000 members with an authenticator, recovery codes and a session.
        let orgs = OrganizationService(services: services)
        let acme = try await orgs.createOrganization(name: "Acme", slug: "acme", requireMFA: true)
        let ownerID = try await orgs.createMember(
            organizationID: acme.organizationID, roleID: acme.roles[.owner]!, email: "owner@acme.test",
            name: "Olivia Owner",
            password: "correct horse battery staple")
        let count = 3_000
        var ids: [UUID] = []
        let serverKey = services.serverKey
        try await services.db.transaction { tx in
            var members: [MemberModel] = []
            var credentials: [TOTPCredentialModel] = []
            var codes: [RecoveryCodeModel] = []
            var sessions: [SessionModel] = []
            for index in 0..<count {
                let member = MemberModel(
                    organizationID: acme.organizationID, roleID: acme.roles[.member]!, email: "m\(index)@acme.test",
                    name: "Member \(index)", passwordHash: "x", mfaStatus: .enabled, createdAt: clock.now)
                let id = member.id!
                members.append(member)
                credentials.append(
                    TOTPCredentialModel(
                        memberID: id,
                        secretCiphertext: try serverKey.seal(
                            RandomSource.system.bytes(20), context: id.uuidString),
                        confirmed: true, createdAt: clock.now))
                for n in 0..<2 {
                    codes.append(RecoveryCodeModel(memberID: id, codeHash: "h\(index)-\(n)", createdAt: clock.now))
                }
                sessions.append(
                    SessionModel(
                        tokenHash: sha256Hex("t\(index)"), memberID: id, organizationID: acme.organizationID,
                        state: .signedIn,
                        csrfToken: "c", createdAt: clock.now, expiresAt: clock.now.addingTimeInterval(3600),
                        ip: "127.0.0.1",
                        userAgent: "test"))
            }
            for chunk in members.chunked(500) { try await Array(chunk).create(on: tx) }
            for chunk in credentials.chunked(500) { try await Array(chunk).create(on: tx) }
            for chunk in codes.chunked(1000) { try await Array(chunk).create(on: tx) }
            for chunk in sessions.chunked(500) { try await Array(chunk).create(on: tx) }
        }
        ids = try await MemberModel.query(on: services.db).filter(\.$email != "owner@acme.test").all().map { $0.id! }
        #expect(ids.count == count)

        // The owner starts a bulk reset; it is large, so it waits for a runner.
        let organization = try #require(try await services.store.organizations.find(acme.organizationID))
        var actor = Actor(
            operatorFor: organization, meta: RequestMeta(requestID: "crash", ip: "127.0.0.1", userAgent: "test"))
        actor.memberID = ownerID
        actor.email = "owner@acme.test"
        actor.roleName = "Owner"
        let (batch, _) = try await ResetService(services: services).openBatch(
            actor: actor, memberIDs: ids, ticket: "crash test", idempotencyKey: nil, requestHash: "crash")
        let batchID = batch.id
        #expect(batch.background)

        // A real server process picks the job up; it is killed with SIGKILL part-way.
        let port = Int.random(in: 20_000..<40_000)
        let server = Process()
        server.executableURL = Self.executable
        server.arguments = ["serve", "--database", url, "--port", String(port)]
        var environment = ProcessInfo.processInfo.environment
        environment["LATCHKEY_SECRET_KEY"] = hex(key)
        environment["LOG_LEVEL"] = "error"
        // Ten seconds between chunks (the longest pause the setting allows): on a busy machine (the whole suite at
        // once) the poll below, slowed by its neighbours, saw a job with 0.2 s pauses finish before the kill, and
        // once (CI, 2026-12-02) one with 1 s pauses. The poll ends at the first chunk's commit, so the long pause
        // costs the test nothing; the kill lands in the pause or in the next chunk's transaction, both "part-way".
        environment["LATCHKEY_JOB_CHUNK_PAUSE_MS"] = "10000"
        server.environment = environment
        server.standardOutput = FileHandle.nullDevice
        try server.run()
        var processed = 0
        let deadline = Date().addingTimeInterval(120)
        while processed < BulkLimits.chunkSize && Date() < deadline {
            try await Task.sleep(for: .milliseconds(5))
            processed = try await ResetBatchModel.find(batchID, on: services.db)?.processed ?? 0
        }
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
        #expect(server.terminationReason == .uncaughtSignal)

        // Reopen and look at every member.
        await services.database.shutdown()
        services = try await AppServices.start(config: config, clock: clock.clock, logger: logger)
        let stopped = try #require(try await ResetBatchModel.find(batchID, on: services.db))
        #expect(stopped.status == "running")
        #expect(stopped.processed > 0 && stopped.processed < count, "killed after \(stopped.processed) of \(count)")
        let results = try await ResetResultModel.query(on: services.db).filter(\.$batchID == batchID).all()
        let done = Set(results.filter { $0.status != "pending" }.map(\.memberID))
        #expect(done.count == stopped.processed)
        let sql = services.sql
        func counts(_ table: String) async throws -> [UUID: Int] {
            let rows = try await sql.raw("SELECT member_id, COUNT(*) AS n FROM \(unsafeRaw: table) GROUP BY member_id")
                .all()
            return Dictionary(
                uniqueKeysWithValues: try rows.map {
                    (try $0.decode(column: "member_id", as: UUID.self), try $0.decode(column: "n", as: Int.self))
                })
        }
        let credentialCounts = try await counts("totp_credentials")
        let codeCounts = try await counts("recovery_codes")
        let sessionCounts = try await counts("sessions")
        let statuses = Dictionary(
            uniqueKeysWithValues: try await MemberModel.query(on: services.db).all().map { ($0.id!, $0.mfaStatus) })
        let audited = try await AuditEventModel.query(on: services.db).filter(
            \.$action == AuditAction.mfaReset.rawValue
        ).all()
        var auditCounts: [UUID: Int] = [:]
        for event in audited { auditCounts[event.targetID!, default: 0] += 1 }
        var torn = 0
        for id in ids {
            let fullyReset =
                statuses[id] == "reset_pending" && credentialCounts[id] == nil && codeCounts[id] == nil
                && sessionCounts[id] == nil
                && auditCounts[id] == 1 && done.contains(id)
            let untouched =
                statuses[id] == "enabled" && credentialCounts[id] == 1 && codeCounts[id] == 2 && sessionCounts[id] == 1
                && auditCounts[id] == nil && !done.contains(id)
            if !(fullyReset || untouched) { torn += 1 }
        }
        #expect(torn == 0, "\(torn) members are half reset")
        guard case .intact = try await services.audit.verify() else {
            Issue.record("audit chain broken after the crash")
            return
        }

        // Once the dead runner's lease runs out, another runner resumes and finishes the job.
        // (The killed process renewed its lease in real time, so move past real time + lease.)
        clock.advance(Date().timeIntervalSince(clock.now) + TimeInterval(config.jobLeaseSeconds) + 1)
        #expect(try await JobRunner(services: services).runOne())
        let finished = try #require(try await ResetBatchModel.find(batchID, on: services.db))
        #expect(finished.status == "completed")
        #expect(finished.processed == count && finished.resetCount == count)
        #expect(try await TOTPCredentialModel.query(on: services.db).filter(\.$memberID ~~ ids).count() == 0)
        #expect(
            try await AuditEventModel.query(on: services.db).filter(\.$action == AuditAction.mfaReset.rawValue).count()
                == count)
        guard case .intact = try await services.audit.verify() else {
            Issue.record("audit chain broken after resuming")
            return
        }
        await services.database.shutdown()
    }
}
