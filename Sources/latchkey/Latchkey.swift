import ArgumentParser
import Foundation
import LatchkeyApp
import LatchkeyCore
import LatchkeySeeding
import LatchkeyStore
import Logging

@main
struct Latchkey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latchkey",
        abstract:
            "Member accounts with multi-factor authentication, and MFA reset for the people who lose their phone.",
        version: LatchkeyVersion.current,
        subcommands: [
            Serve.self, Config.self, Migrate.self, Backup.self, Demo.self, Org.self, Member.self, MFA.self,
            Password.self,
            Token.self, Audit.self, Key.self,
            Bench.self,
        ])
}

/// Options every command that touches the database shares: the database, a configuration file, and any setting
/// as a flag (`--log-level debug`; every one is in `latchkey serve --help`), read through `ConfigInput`.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "Database: postgres://… or an SQLite file path (default: $DATABASE_URL, else data/latchkey.sqlite).")
    var database: String?
    @Option(
        name: .customLong("config"),
        help: "A file of NAME=value settings (default: $LATCHKEY_CONFIG_FILE); flags and the environment win over it.")
    var configFile: String?
    /// Every other setting given as a flag; checked against `ConfigOption.all`.
    @Argument(parsing: .allUnrecognized, help: .hidden) var settings: [String] = []

    func input() throws -> ConfigInput {
        var input = try ConfigInput.gather(arguments: settings, configFile: configFile)
        if let database { input.flags["DATABASE_URL"] = database }
        return input
    }

    func config() throws -> AppConfig { try input().config() }
}

/// Runs one operator tool against the configured database and prints its line; a refusal becomes a one-line
/// error, and the database is closed either way.
func operate(_ database: DatabaseOptions, _ tool: (OperatorTools) async throws -> String) async throws {
    let config = try database.config()
    let services = try await AppServices.start(config: config, logger: makeLogger(config))
    do {
        let line = try await tool(OperatorTools(services: services))
        await services.database.shutdown()
        print(line)
    } catch let error as LatchkeyError {
        await services.database.shutdown()
        throw ValidationError(error.message)
    }
}

/// Installs the JSON or the text handler, once (a global's initializer runs once; the first one asked for wins).
private let jsonLogging: Void = LoggingSystem.bootstrap { LineLogHandler(label: $0, format: .json) }
private let textLogging: Void = LoggingSystem.bootstrap { LineLogHandler(label: $0, format: .text) }

func makeLogger(_ config: AppConfig) -> Logger {
    // Every logger of the process — ours and the libraries' — writes in the configured format.
    if config.logJSON { _ = jsonLogging } else { _ = textLogging }
    var logger = Logger(label: "latchkey")
    logger.logLevel = config.logLevel
    return logger
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server.", discussion: ConfigOption.helpText)
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let config = try database.config()
        let services = try await AppServices.start(config: config, logger: makeLogger(config))
        services.logger.info(
            "Latchkey listening",
            metadata: [
                "address": "http://\(config.host):\(config.port)", "database": "\(config.database)",
                "version": "\(LatchkeyVersion.current)",
            ])
        try await runServer(services: services)
    }
}

struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the settings and print them, with where each came from (secrets redacted).",
        discussion: ConfigOption.helpText)
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let input = try database.input()
        _ = try input.config()
        print(input.describe().joined(separator: "\n"))
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply database migrations.")
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let config = try database.config()
        let services = try await AppServices.start(config: config, logger: makeLogger(config))
        await services.database.shutdown()
        print("Migrations applied to \(config.database).")
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a running SQLite database to a new file, consistently (back up the server key separately).")
    @OptionGroup var database: DatabaseOptions
    @Option(help: "The new file to write (never overwritten).") var output: String

    func run() async throws {
        let config = try database.config()
        // Read-only: no migration, no key (the copy is sealed under the same key as the database).
        let services = try await AppServices.start(config: config, logger: makeLogger(config), readOnly: true)
        do {
            try await services.database.backup(to: output)
        } catch {
            await services.database.shutdown()
            throw error
        }
        await services.database.shutdown()
        print("Backed up \(config.database) to \(output).")
    }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Seed the demo organizations (Acme, Globex) if absent, then serve.", discussion: ConfigOption.helpText
    )
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Write every seeded account (email, organization, role, password, TOTP secret) as JSON to this file.")
    var credentialsFile: String?
    @Flag(help: "Seed and write the credentials file, then exit without serving.")
    var seedOnly = false

    func run() async throws {
        // Mail goes out for real with --smtp-url (or LATCHKEY_SMTP_URL), else it stays in the demo mailbox.
        var config = try database.config()
        config.demoMode = true
        let services = try await AppServices.start(config: config, logger: makeLogger(config))
        let credentials: [DemoSeeder.Credential]
        do {
            credentials = try await DemoSeeder(services: services).seed()
        } catch {
            await services.database.shutdown()
            throw error
        }
        if let credentialsFile {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(credentials).write(to: URL(fileURLWithPath: credentialsFile))
        }
        let owner = credentials.first { $0.email == "owner@acme.test" }
        print(
            """

            Latchkey demo — \(credentials.count) accounts in Acme (MFA required) and Globex (MFA optional).
              Open       http://\(config.host):\(config.port)/login
              Sign in    owner@acme.test / \(DemoSeeder.password)
              Code       oathtool --totp -b \(owner?.totpSecret ?? "<secret>")
              Enrolment  sam.lee@acme.test / \(DemoSeeder.password)  (no MFA yet: you will set it up)
              Mail       \(config.smtp.map { "sent through \($0) from \(config.sender)" } ?? "kept in the demo mailbox (pass --smtp-url to send it)")
            \(credentialsFile.map { "  Accounts   \($0)" } ?? "  Accounts   pass --credentials-file PATH for every account and secret")

            """)
        fflush(nil)  // flush stdout so the banner shows before the server starts
        if seedOnly {
            await services.database.shutdown()
            return
        }
        try await runServer(services: services)
    }
}

struct Org: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "org", abstract: "Manage organizations.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an organization with its first owner (password read from standard input).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Organization name.") var name: String
        @Option(help: "URL slug: lower-case letters, digits, dashes.") var slug: String
        @Option(help: "Owner's email.") var ownerEmail: String
        @Option(help: "Owner's display name.") var ownerName: String
        @Flag(inversion: .prefixedNo, help: "Require MFA for every member.") var requireMfa = true

        func run() async throws {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else {
                throw ValidationError("Type the owner's password on standard input.")
            }
            let config = try database.config()
            let services = try await AppServices.start(config: config, logger: makeLogger(config))
            defer { Task { await services.database.shutdown() } }
            do {
                let orgs = OrganizationService(services: services)
                let created = try await orgs.createOrganization(name: name, slug: slug, requireMFA: requireMfa)
                _ = try await orgs.createMember(
                    organizationID: created.organizationID, roleID: created.roles[.owner]!, email: ownerEmail,
                    name: ownerName,
                    password: password)
                print("Created \(name) (\(slug)) with owner \(ownerEmail).")
                await services.database.shutdown()
            } catch let error as LatchkeyError {
                await services.database.shutdown()
                throw ValidationError(error.message)
            }
        }
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Audit log tools.", subcommands: [Verify.self, Checkpoint.self, Export.self])

    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print each audit chain's head (seq, hash, time), signed: keep it away from the database.",
            discussion:
                "Give it back to `audit verify --checkpoint FILE` to prove nothing before it was removed or changed.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Only this organization (slug); default every chain.") var organization: String?

        func run() async throws {
            let config = try database.config()
            let services = try await AppServices.start(config: config, logger: makeLogger(config), readOnly: true)
            do {
                let lines = try await OperatorTools(services: services).checkpointAudit(organizationSlug: organization)
                await services.database.shutdown()
                print(lines)
            } catch let error as LatchkeyError {
                await services.database.shutdown()
                throw ValidationError(error.message)
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Export the audit log as CSV or JSON Lines.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "csv or jsonl.") var format = "csv"
        @Option(help: "Only this organization (slug); default every organization.") var organization: String?
        @Option(help: "Write to this file instead of standard output.") var output: String?

        func validate() throws {
            guard ["csv", "jsonl"].contains(format) else { throw ValidationError("--format is csv or jsonl.") }
        }

        func run() async throws {
            let config = try database.config()
            let services = try await AppServices.start(config: config, logger: makeLogger(config), readOnly: true)
            var text = ""
            do {
                try await OperatorTools(services: services).exportAudit(
                    organizationSlug: organization, jsonLines: format == "jsonl"
                ) { text += $0 }
            } catch let error as LatchkeyError {
                await services.database.shutdown()
                throw ValidationError(error.message)
            }
            await services.database.shutdown()
            if let output {
                try text.write(toFile: output, atomically: true, encoding: .utf8)
            } else {
                print(text, terminator: "")
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk the audit hash chains and report the first break.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "A file of checkpoints (`audit checkpoint`): also prove the chains still hold what they saw.")
        var checkpoint: String?

        func run() async throws {
            var checkpoints: String?
            if let checkpoint {
                guard let data = FileManager.default.contents(atPath: checkpoint) else {
                    throw ValidationError("Cannot read \(checkpoint).")
                }
                checkpoints = String(decoding: data, as: UTF8.self)
            }
            let config = try database.config()
            let services = try await AppServices.start(config: config, logger: makeLogger(config), readOnly: true)
            let result: AuditStore.Verification
            do {
                result = try await OperatorTools(services: services).verifyAudit(checkpoints: checkpoints)
            } catch let error as LatchkeyError {
                await services.database.shutdown()
                throw ValidationError(error.message)
            }
            await services.database.shutdown()
            switch result {
            case .intact(let events):
                let held = checkpoints.map { text in text.split(separator: "\n").filter { !$0.isEmpty }.count } ?? 0
                print(
                    "Audit log intact: \(events) events verified"
                        + (held > 0 ? ", and every chain holds what its checkpoint saw (\(held) checkpoints)." : "."))
            case .broken(let chain, let seq, let eventID, let reason):
                print(
                    "Audit log BROKEN in chain \(chain) at event \(seq)\(eventID.map { " (\($0))" } ?? ""): \(reason).")
                throw ExitCode(2)
            }
        }
    }
}

struct Key: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "The server key: make one, or rotate to a new one.",
        subcommands: [Generate.self, Rotate.self])

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new random server key (64 hex digits) for LATCHKEY_SECRET_KEY or a key file.")

        func run() async throws {
            print(hex(RandomSource.system.bytes(32)))
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seal every TOTP secret, webhook secret and the recovery-code and audit keys under a new key.",
            discussion: """
                Stop every instance first. The current key comes from LATCHKEY_SECRET_KEY or the data directory's \
                secret.key, the new one from --new-key-file (make it with `latchkey key generate`). The rotation \
                is resumable: run the same command again after an interruption. Instances refuse to start until \
                it is finished; then start them with the new key.
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "A file holding the new key: 64 hex digits or base64 of 32 bytes.") var newKeyFile: String
        @Option(help: "Seal at most this many secrets in this run (the rest on the next).") var limit: Int?

        func run() async throws {
            guard let text = FileManager.default.contents(atPath: newKeyFile),
                let material = ServerKey.parse(String(decoding: text, as: UTF8.self))
            else { throw ValidationError("\(newKeyFile) does not hold a 32-byte key (64 hex digits or base64).") }
            if let limit, limit < 1 { throw ValidationError("--limit must be 1 or more.") }
            let config = try database.config()
            let services = try await AppServices.start(config: config, logger: makeLogger(config), rotating: true)
            do {
                let (line, finished) = try await OperatorTools(services: services).rotateKey(to: material, limit: limit)
                await services.database.shutdown()
                print(line)
                if !finished { throw ExitCode(3) }
            } catch let error as LatchkeyError {
                await services.database.shutdown()
                throw ValidationError(error.message)
            }
        }
    }
}

struct MFA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mfa", abstract: "Break-glass MFA tools for the server operator.", subcommands: [Reset.self])

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reset a member's MFA from the server's shell (e.g. an organization's only owner is locked out).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The member's email.") var email: String
        @Option(help: "Reason or ticket, stored in the audit event.") var reason = ""

        func run() async throws {
            try await operate(database) { try await $0.resetMFA(email: email, reason: reason) }
        }
    }
}

struct Password: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "password", abstract: "Break-glass password tools for the server operator.",
        subcommands: [Link.self])

    struct Link: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Print a single-use link (valid one hour) that sets a member's password; links use $LATCHKEY_PUBLIC_URL."
        )
        @OptionGroup var target: Member.Target

        func run() async throws {
            try await operate(target.database) {
                try await $0.passwordLink(email: target.email, reason: target.reason)
            }
        }
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "API tokens for automation.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Mint an API token for a member (at most their role's permissions) and print it once; audited as the operator."
        )
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The member the token acts for.") var email: String
        @Option(help: "A name to recognise it by, e.g. \"help-desk script\".") var name: String
        @Option(help: "Comma-separated permissions, e.g. members.view,members.reset_mfa.") var permissions: String
        @Option(help: "Days until it expires (at most 365; 90 when it may reset MFA).") var days: Int

        func run() async throws {
            try await operate(database) {
                try await $0.createToken(
                    email: email, name: name,
                    permissions: permissions.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) },
                    days: days)
            }
        }
    }
}

struct Member: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "member", abstract: "Operator tools for one member's account.",
        subcommands: [
            Invite.self, Import.self, Unlock.self, SetRole.self, Suspend.self, Reactivate.self, Remove.self,
        ])

    struct Invite: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Invite one person to an organization: they get an email with a link valid for 7 days.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The organization's slug, e.g. acme.") var org: String
        @Option(help: "The person's email.") var email: String
        @Option(help: "Their name (they can change it when accepting).") var name = ""
        @Option(help: "The role's name.") var role = "Member"

        func run() async throws {
            try await operate(database) {
                try await $0.invite(
                    organizationSlug: org, rows: [.init(email: email, name: name, role: role)], defaultRole: role)
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Invite everyone in a CSV file (email,name,role — header optional; one email per line works too), up to 10,000."
        )
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The organization's slug, e.g. acme.") var org: String
        @Option(help: "The CSV file.") var file: String
        @Option(help: "The role of lines that name none.") var role = "Member"

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("Cannot read \(file).")
            }
            try await operate(database) {
                try await $0.invite(
                    organizationSlug: org, rows: try $0.inviteRows(String(decoding: data, as: UTF8.self)),
                    defaultRole: role)
            }
        }
    }

    /// Options of the lifecycle commands.
    struct Target: ParsableArguments {
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The member's email.") var email: String
        @Option(help: "Reason or ticket, stored in the audit event.") var reason = ""
    }

    struct SetRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-role", abstract: "Give a member another role of their organization (audited, mailed).")
        @OptionGroup var target: Target
        @Option(help: "The role's name, e.g. Admin.") var role: String

        func run() async throws {
            try await operate(target.database) {
                try await $0.changeRole(email: target.email, roleName: role, reason: target.reason)
            }
        }
    }

    struct Suspend: LifecycleCommand {
        static let configuration = CommandConfiguration(
            abstract: "Suspend a member: signed out everywhere, no sign-in until reactivated (audited, mailed).")
        static let action = LifecycleAction.suspend
        @OptionGroup var target: Target
    }

    struct Reactivate: LifecycleCommand {
        static let configuration = CommandConfiguration(abstract: "Let a suspended member sign in again.")
        static let action = LifecycleAction.reactivate
        @OptionGroup var target: Target
    }

    struct Remove: LifecycleCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a member from their organization; the audit history stays (audited, mailed).")
        static let action = LifecycleAction.remove
        @OptionGroup var target: Target
    }

    struct Unlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lift a member's sign-in lock from the server's shell (wrong passwords and wrong codes).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The member's email.") var email: String
        @Option(help: "Reason or ticket, stored in the audit event.") var reason = ""

        func run() async throws {
            try await operate(database) { try await $0.unlock(email: email, reason: reason) }
        }
    }
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark helpers (see bench/): seed a large organization, time a bulk reset. Not for real data.",
        shouldDisplay: false,
        subcommands: [Seed.self, Reset.self, Invite.self, Role.self, Pending.self, Bcrypt.self, SignIns.self])

    /// Runs one benchmark helper on the configured database and prints its JSON.
    static func timed<T: Encodable>(_ database: DatabaseOptions, _ body: (BenchTools) async throws -> T) async throws {
        var config = try database.config()
        config.logLevel = .error
        let services = try await AppServices.start(config: config, logger: makeLogger(config))
        let result = try await body(BenchTools(services: services))
        await services.database.shutdown()
        try printJSON(result)
    }

    struct Invite: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Invite N new people in one request; print the time.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Organization slug.") var slug: String
        @Option(help: "People to invite.") var count: Int

        func run() async throws {
            try await Bench.timed(database) { try await $0.inviteMany(slug: slug, count: count) }
        }
    }

    struct Pending: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add N enrolled members with sessions at the second factor; print each token and TOTP secret.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Organization slug.") var slug: String
        @Option(help: "Sessions to open.") var count: Int

        func run() async throws {
            try await Bench.timed(database) { try await $0.pendingSessions(slug: slug, count: count) }
        }
    }

    struct SignIns: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign-ins", abstract: "Add N members with a real password hash; print their emails.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Organization slug.") var slug: String
        @Option(help: "Accounts to add.") var count: Int
        @Option(help: "Their password.") var password = "bench-password-signin"

        func run() async throws {
            try await Bench.timed(database) {
                try await $0.signInAccounts(slug: slug, count: count, password: password)
            }
        }
    }

    struct Bcrypt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time one bcrypt verification at the configured cost, on one thread; print the median.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Verifications to time.") var count = 9

        struct Timing: Encodable {
            var cost: Int
            var verifications: Int
            var medianMs: Double
        }

        func run() async throws {
            let cost = try database.config().bcryptCost
            let hasher = PasswordHasher(cost: cost)
            let hash = try await hasher.hash("bench-password")
            var times: [Double] = []
            for _ in 0..<max(1, count) {
                let start = ContinuousClock.now
                guard try await hasher.verify("bench-password", hash: hash) else { throw ExitCode.failure }
                let elapsed = ContinuousClock.now - start
                times.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
            }
            try Bench.printJSON(
                Timing(cost: Int(cost), verifications: times.count, medianMs: times.sorted()[times.count / 2]))
        }
    }

    struct Role: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give every member of a seeded organization another role in one request; print the time.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Organization slug.") var slug: String
        @Option(help: "The role's name.") var role = "Admin"

        func run() async throws {
            try await Bench.timed(database) { try await $0.changeRoleOfAll(slug: slug, role: role) }
        }
    }

    static func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    struct Seed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an organization with N enrolled members.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Organization slug.") var slug: String
        @Option(help: "Members to create.") var members: Int

        func run() async throws { try await Bench.timed(database) { try await $0.seed(slug: slug, count: members) } }
    }

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reset every member of a seeded organization in one request; print the time.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Organization slug.") var slug: String

        func run() async throws { try await Bench.timed(database) { try await $0.resetAll(slug: slug) } }
    }
}

/// A lifecycle command with no option of its own: the action on the member the options name.
protocol LifecycleCommand: AsyncParsableCommand {
    static var action: LifecycleAction { get }
    var target: Member.Target { get }
}

extension LifecycleCommand {
    func run() async throws {
        try await operate(target.database) {
            try await $0.lifecycle(Self.action, email: target.email, reason: target.reason)
        }
    }
}
