import Foundation
import LatchkeyCore
import LatchkeyStore
import Logging

@testable import LatchkeyApp

/// A database of the test's own (not the harness's), arranged through `services()`, then driven from the shell
/// through the built `latchkey` binary, as an operator would.
struct CLITestBed {
    let config: AppConfig
    let url: String
    let key: [UInt8]
    let logger: Logger
    let cleanup: @Sendable () async -> Void

    static func make(label: String) async throws -> CLITestBed {
        var logger = Logger(label: label)
        logger.logLevel = .warning
        let (location, url, cleanup) = try await CrashRecoveryTests.standaloneDatabase(logger: logger)
        let key = RandomSource.system.bytes(32)
        var config = AppConfig(database: location, dataDirectory: FileManager.default.temporaryDirectory.path)
        config.secretKey = key
        config.bcryptCost = 4
        return CLITestBed(config: config, url: url, key: key, logger: logger, cleanup: cleanup)
    }

    /// The application's services on this database (shut them down before running the binary).
    func services() async throws -> AppServices {
        try await AppServices.start(config: config, logger: logger)
    }

    /// Acme, with Olivia Owner as its owner.
    func acme(_ services: AppServices) async throws -> (organization: OrganizationService.Created, ownerID: UUID) {
        let orgs = OrganizationService(services: services)
        let acme = try await orgs.createOrganization(name: "Acme", slug: "acme", requireMFA: true)
        let ownerID = try await orgs.createMember(
            organizationID: acme.organizationID, roleID: acme.roles[.owner]!, email: "owner@acme.test",
            name: "Olivia Owner", password: "correct horse battery staple")
        return (acme, ownerID)
    }

    /// Runs `latchkey ARGUMENTS --database URL`; returns its exit status and everything it printed. `environment`
    /// sets (or, with nil, removes) variables beside the bed's key and log level.
    func run(_ arguments: [String], environment changes: [String: String?] = [:]) throws -> (
        status: Int32, printed: String
    ) {
        let process = Process()
        process.executableURL = CrashRecoveryTests.executable
        process.arguments = arguments + ["--database", url]
        var environment = ProcessInfo.processInfo.environment
        environment["LATCHKEY_SECRET_KEY"] = hex(key)
        environment["LOG_LEVEL"] = "error"
        for (name, value) in changes { environment[name] = value }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, printed)
    }
}
