// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// How the server binary is linked on Linux (measured in docs/performance.md, finding 22): with lld rather than
// gold, its 143,000 relative relocations packed (DT_RELR: 3.4 MB of relocation records become 28 KB, read at every
// start), and none of its symbols exported to the dynamic linker (nothing loads a plugin into the server; the
// exported table was 1.3 MB). Together these take 8 MB off the resident set of an idle server. DT_RELR needs glibc
// 2.36 or later (Debian 12, Ubuntu 24.04, RHEL 10).
let serverLinkerFlags = [
    "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic",
]

let package = Package(
    name: "latchkey",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "latchkey", targets: ["latchkey"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/vapor/fluent-kit", from: "1.57.0"),
        .package(url: "https://github.com/vapor/fluent-postgres-driver", from: "2.14.0"),
        .package(url: "https://github.com/vapor/sql-kit", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit", from: "4.5.2"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/vapor/postgres-kit", from: "2.17.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .target(
            name: "LatchkeyCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto")
            ],
            // The 10,000 most common passwords (the head of Django's common-passwords list), refused as passwords.
            resources: [.embedInCode("Resources/common-passwords.txt")],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(
            name: "CQRencode",
            pkgConfig: "libqrencode",
            providers: [.apt(["libqrencode-dev"])]
        ),
        // One call Swift cannot make: `sqlite3_db_config` is variadic (see `SQLiteReader`).
        .target(
            name: "CLatchkeySQLite",
            dependencies: [.product(name: "SQLiteNIO", package: "sqlite-nio")]
        ),
        .target(
            name: "LatchkeyStore",
            dependencies: [
                "LatchkeyCore",
                "CLatchkeySQLite",
                .product(name: "FluentKit", package: "fluent-kit"),
                .product(name: "FluentSQL", package: "fluent-kit"),
                .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
                .product(name: "SQLKit", package: "sql-kit"),
                // The read-only connections beside the writer (`SQLiteReader`) use SQLiteNIO's values and its
                // C library (`VaporCSQLite`, which is not a product: reached through SQLiteNIO's module map).
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                // The session's lookup and the hot reads as named prepared statements on PostgreSQL.
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // An SMTP client on swift-nio (no SMTP library is in the package mirror): knows nothing of Latchkey.
        .target(
            name: "LatchkeyMail",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // Webhook delivery on swift-nio: which addresses a URL may reach (SSRF rules, after DNS too) and one HTTP
        // POST to the address checked. Knows nothing of Latchkey.
        .target(
            name: "LatchkeyWebhook",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "LatchkeyApp",
            dependencies: [
                "LatchkeyCore",
                "LatchkeyStore",
                "LatchkeyMail",
                "LatchkeyWebhook",
                "CQRencode",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                // `/metrics`: Hummingbird's metrics middleware speaks swift-metrics; swift-prometheus collects and
                // renders it, with Latchkey's own counters and gauges.
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The stylesheet and script, compiled into the binary (nothing to ship beside it) and served with a
            // content hash in their names (`StaticAssets`).
            resources: [
                .embedInCode("Public/app.css"), .embedInCode("Public/app.js"), .embedInCode("Public/openapi.json"),
                .embedInCode("Public/scim-schemas.json"),
            ],
            swiftSettings: swiftSettings
        ),
        // Demo data and benchmark seeding: tools for `latchkey demo` and `latchkey bench`, kept out of the
        // server library.
        .target(
            name: "LatchkeySeeding",
            dependencies: ["LatchkeyCore", "LatchkeyStore", "LatchkeyApp"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "latchkey",
            dependencies: [
                "LatchkeyCore",
                "LatchkeyStore",
                "LatchkeyApp",
                "LatchkeySeeding",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings,
            linkerSettings: [.unsafeFlags(serverLinkerFlags, .when(platforms: [.linux]))]
        ),
        .testTarget(
            name: "LatchkeyCoreTests",
            dependencies: ["LatchkeyCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LatchkeyAppTests",
            dependencies: [
                "LatchkeyCore",
                "LatchkeyStore",
                "LatchkeyApp",
                "LatchkeyMail",
                "LatchkeyWebhook",
                "LatchkeySeeding",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "FluentKit", package: "fluent-kit"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
