import Foundation
import LatchkeyStore
import Logging

/// A migrated SQLite database in a directory of its own, whatever engine the rest of the suite runs on: for the
/// tests of the SQLite-only parts (the writer, the readers).
enum SQLiteFile {
    /// Runs `body` with the database, then shuts it down and removes its directory.
    static func withMigrated(_ name: String, _ body: (LatchkeyDatabase) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try LatchkeyDatabase(
            location: .sqlite(path: directory.appendingPathComponent("latchkey.sqlite").path),
            logger: Logger(label: "test"))
        do {
            try await database.migrate()
            try await body(database)
        } catch {
            await database.shutdown()
            throw error
        }
        await database.shutdown()
    }
}
