import Foundation
import LatchkeyStore
import SQLKit
import Testing

@testable import LatchkeyApp

@Suite("Database engine")
struct DatabaseEngineTests {
    @Test("the suite runs on the engine it was asked for")
    func engine() async throws {
        try await Harness.withApp { h, _ in
            let version: String
            if TestDatabase.isPostgres {
                version = try await h.sql.raw("SELECT version() AS v").first()!.decode(column: "v", as: String.self)
                #expect(version.hasPrefix("PostgreSQL"))
                #expect(h.services.database.location.isPostgres)
            } else {
                version = try await h.sql.raw("SELECT sqlite_version() AS v").first()!.decode(
                    column: "v", as: String.self)
                #expect(!h.services.database.location.isPostgres)
            }
            print("database engine: \(TestDatabase.isPostgres ? "PostgreSQL" : "SQLite") \(version.prefix(40))")
        }
    }
}
