import Foundation
import LatchkeyCore

/// Every setting of Latchkey, with one name each — the environment variable (`LATCHKEY_DB_POOL_SIZE`) — given as
/// a flag (`--db-pool-size 16`), in the environment, or in a configuration file (`--config FILE` or
/// `LATCHKEY_CONFIG_FILE`: `NAME=value` lines, the systemd `EnvironmentFile` form, so one file serves both). A flag
/// wins over the environment, which wins over the file. `AppConfig.fromEnvironment` reads the merged values and
/// refuses a bad one in one sentence naming it; a name Latchkey does not know is refused too, never ignored.
public struct ConfigOption: Sendable {
    /// The environment variable and file key.
    public let name: String
    /// The flag, without its dashes.
    public let flag: String
    public let help: String
    public let defaultText: String
    /// Printed as `<redacted>`: keys, tokens; URLs carrying a password print without it.
    public let secret: Bool

    init(_ name: String, flag: String? = nil, _ help: String, default defaultText: String, secret: Bool = false) {
        self.name = name
        self.flag =
            flag
            ?? String(name.hasPrefix("LATCHKEY_") ? name.dropFirst("LATCHKEY_".count) : name[...])
            .lowercased().replacingOccurrences(of: "_", with: "-")
        self.help = help
        self.defaultText = defaultText
        self.secret = secret
    }

    /// Every option, in the order `--help` lists them.
    public static let all: [ConfigOption] = [
        .init(
            "DATABASE_URL", flag: "database", "the database: postgres://user:pass@host/db, or an SQLite file",
            default: "DATA_DIR/latchkey.sqlite"),
        .init("LATCHKEY_DATA_DIR", "where the SQLite file and a generated secret.key live", default: "./data"),
        .init(
            "LATCHKEY_SECRET_KEY", "the server key, 64 hex digits (`latchkey key generate`)",
            default: "DATA_DIR/secret.key", secret: true),
        .init("HOST", "address to listen on", default: "127.0.0.1"),
        .init("PORT", "port to listen on (1-65535)", default: "8080"),
        .init("LATCHKEY_ENV", "production refuses insecure defaults; or development", default: "development"),
        .init("LATCHKEY_SECURE_COOKIES", "1: cookies only over HTTPS (behind TLS); 0: not", default: "0"),
        .init(
            "LATCHKEY_PUBLIC_URL", "the base of links in mail, e.g. https://latchkey.example.com",
            default: "http://HOST:PORT"),
        .init(
            "LATCHKEY_TRUSTED_PROXIES", "reverse proxies (CIDRs) whose forwarding headers are believed", default: "none"
        ),
        .init("LOG_LEVEL", "trace, debug, info, notice, warning, error or critical", default: "info"),
        .init("LOG_FORMAT", "text, or json (one object per line)", default: "text"),
        .init(
            "LATCHKEY_METRICS_TOKEN", "when set, /metrics answers only this bearer (16+ characters)", default: "none",
            secret: true),
        .init(
            "LATCHKEY_DB_POOL_SIZE", "PostgreSQL connections per core, writes and reads each (1-100)",
            default: "8"),
        .init(
            "LATCHKEY_DB_POOL_TIMEOUT_SECONDS", "seconds a request waits for a busy pool's connection (1-600)",
            default: "30"),
        .init(
            "LATCHKEY_SHUTDOWN_DELAY_SECONDS", "seconds /readyz answers 503 after SIGTERM before stopping (0-300)",
            default: "0"),
        .init("LATCHKEY_TOKEN_REQUESTS_PER_MINUTE", "requests one API token may make a minute", default: "600"),
        .init("LATCHKEY_JOB_CHUNK_SIZE", "members a background job handles per transaction (1-1000)", default: "1000"),
        .init("LATCHKEY_JOB_CHUNK_PAUSE_MS", "pause between a background job's chunks (0-10000 ms)", default: "0"),
        .init(
            "LATCHKEY_JOB_LEASE_SECONDS", "seconds before a job left by a stopped instance is taken up (10-3600)",
            default: "60"),
        .init(
            "LATCHKEY_SMTP_URL", "smtp://user:pass@host:587, smtps://host:465, smtp://host:25?starttls=off",
            default: "none: mail stays queued", secret: true),
        .init("LATCHKEY_SMTP_CA_FILE", "an extra CA certificate (PEM) for the SMTP server", default: "the system's"),
        .init(
            "LATCHKEY_MAIL_FROM", "the sender, e.g. \"Acme Security <security@acme.example>\"",
            default: "Latchkey <no-reply@HOST>"),
        .init("LATCHKEY_WEBHOOK_ALLOW_PRIVATE", "1: webhooks may reach private addresses and plain http", default: "0"),
        .init(
            "LATCHKEY_WEBHOOK_RETRY_SECONDS", "seconds before a failed webhook delivery is retried (0.1-3600)",
            default: "10"),
    ]

    static let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    static let byFlag = Dictionary(uniqueKeysWithValues: all.map { ($0.flag, $0) })

    /// The options as `--help` shows them: the flag and its variable with the default, then what it does.
    public static var helpText: String {
        let lines = all.map { option in
            "  --\(option.flag), \(option.name) (default \(option.defaultText))\n      \(option.help)"
                + (option.secret ? " (a secret: keep it out of flags)" : "")
        }
        return """
            Every setting is a flag, an environment variable, or a NAME=value line in the file given with \
            --config FILE (or LATCHKEY_CONFIG_FILE). A flag wins over the environment, which wins over the file. \
            `latchkey config` prints them all and where each came from.\n

            """ + lines.joined(separator: "\n")
    }
}

/// Where each setting came from: flags, the environment, a file. `values` merges them; `describe` prints them with
/// secrets redacted.
public struct ConfigInput: Sendable {
    public var flags: [String: String] = [:]
    public var environment: [String: String] = [:]
    public var file: [String: String] = [:]
    public var filePath: String?

    public init() {}

    /// Reads the process' environment, the file it or `configFile` names, and `arguments` — the flags left over by
    /// a command (`--name value` or `--name=value`); an unknown flag, a flag without a value, or an unknown name in
    /// the file is refused in one line.
    public static func gather(
        arguments: [String], configFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ConfigInput {
        var input = ConfigInput()
        input.environment = environment
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            guard argument.hasPrefix("--") else {
                throw LatchkeyError.badRequest("bad_setting", "\(argument) is not an option.")
            }
            var flag = String(argument.dropFirst(2))
            var value: String
            if let equals = flag.firstIndex(of: "=") {
                value = String(flag[flag.index(after: equals)...])
                flag = String(flag[..<equals])
            } else {
                guard index + 1 < arguments.count else {
                    throw LatchkeyError.badRequest("bad_setting", "--\(flag) needs a value.")
                }
                index += 1
                value = arguments[index]
            }
            guard let option = ConfigOption.byFlag[flag] else {
                throw LatchkeyError.badRequest(
                    "bad_setting", "--\(flag) is not a Latchkey option (see --help for every setting).")
            }
            input.flags[option.name] = value
            index += 1
        }
        if let path = configFile ?? environment["LATCHKEY_CONFIG_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            input.filePath = path
            input.file = try parseFile(path)
        }
        return input
    }

    /// `NAME=value` lines; blank lines and `#` comments skipped; a value may be quoted ("…" or '…').
    static func parseFile(_ path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LatchkeyError.badRequest("bad_config_file", "The configuration file \(path) cannot be read.")
        }
        var values: [String: String] = [:]
        for (number, raw) in String(decoding: data, as: UTF8.self).split(
            separator: "\n", omittingEmptySubsequences: false
        ).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw LatchkeyError.badRequest(
                    "bad_config_file", "\(path) line \(number + 1) is not NAME=value.")
            }
            let name = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" {
                value = String(value.dropFirst().dropLast())
            }
            guard ConfigOption.byName[name] != nil else {
                throw LatchkeyError.badRequest(
                    "bad_config_file", "\(path) line \(number + 1): \(name) is not a Latchkey setting.")
            }
            values[name] = value
        }
        return values
    }

    /// Every value by name: the file's, then the environment's over it, then the flags'.
    public var values: [String: String] {
        file.merging(environment) { $1 }.merging(flags) { $1 }
    }

    /// The configuration these settings make (a bad value refused in one sentence naming it as it was given: the
    /// flag, the variable, or the file's line).
    public func config() throws -> AppConfig {
        do {
            return try AppConfig.fromEnvironment(values)
        } catch var error as LatchkeyError {
            for option in ConfigOption.all where error.message.hasPrefix(option.name + " ") {
                let rest = error.message.dropFirst(option.name.count)
                if flags[option.name] != nil {
                    error.message = "--\(option.flag) (\(option.name))" + rest
                } else if environment[option.name]?.isEmpty ?? true, file[option.name] != nil {
                    error.message = "\(option.name) in \(filePath ?? "the configuration file")" + rest
                }
                break
            }
            throw error
        }
    }

    /// One line per setting that is set: its name, value (secrets redacted) and where it came from.
    public func describe() -> [String] {
        ConfigOption.all.compactMap { option in
            let source: String
            let value: String
            if let flag = flags[option.name] {
                (source, value) = ("flag --\(option.flag)", flag)
            } else if let env = environment[option.name], !env.isEmpty {
                (source, value) = ("environment", env)
            } else if let file = file[option.name] {
                (source, value) = ("file \(filePath ?? "")", file)
            } else {
                return "\(option.name) = (default: \(option.defaultText))"
            }
            return "\(option.name) = \(Self.redacted(value, option)) (\(source))"
        }
    }

    /// A secret's value as printed: URLs keep everything but their password, anything else is hidden.
    static func redacted(_ value: String, _ option: ConfigOption) -> String {
        let urlOption = option.name == "DATABASE_URL" || option.name == "LATCHKEY_SMTP_URL"
        guard option.secret || urlOption else { return value }
        if urlOption, let components = URLComponents(string: value), components.host != nil {
            guard let password = components.percentEncodedPassword else { return value }
            return value.replacingOccurrences(of: ":\(password)@", with: ":<redacted>@")
        }
        return value.isEmpty ? "" : "<redacted>"
    }
}
