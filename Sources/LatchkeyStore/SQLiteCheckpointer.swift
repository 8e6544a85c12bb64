import Foundation
import Logging
import NIOPosix
import Synchronization
// SQLiteNIO's own copy of the library, as `SQLiteReader` uses it (one copy per process: see there).
import VaporCSQLite

/// Copies the write-ahead log back into the SQLite file off the writer's path.
///
/// By default SQLite checkpoints in the commit that takes the log past 1,000 pages: that commit copies the pages
/// into the file and syncs it while the single writer waits, so every request queued behind it waits too. A bulk
/// reset of 10,000 members paid for twenty such checkpoints, about 40 % of its time. Here the writer's automatic
/// checkpoint is only a safety net (`safetyNetPages`), and a connection of its own looks at the log's size every
/// `interval` and runs a passive checkpoint once it has grown past `thresholdPages` — the same point SQLite's
/// default would, without holding the writer: a passive checkpoint takes no write lock and never waits for
/// readers (it copies what no reader still needs; the next round copies the rest).
///
/// The last connection to close checkpoints whatever is left (SQLite does this itself).
final class SQLiteCheckpointer: Sendable {
    /// The writer's own automatic checkpoint, should this one fall behind (64 MiB of log at 4 KiB pages).
    static let safetyNetPages = 16_384
    /// The log size past which a checkpoint runs: SQLite's default automatic checkpoint.
    static let thresholdPages = 1_000

    struct Counts: Sendable, Equatable {
        /// Checkpoints run.
        var runs = 0
        /// Frames in the log and frames copied into the file, at the last checkpoint.
        var logFrames: Int32 = 0
        var copiedFrames: Int32 = 0
        /// The largest log any checkpoint found (the log file stays large after one, so the next run may find a
        /// log begun again and small).
        var largestLogFrames: Int32 = 0
    }

    private let path: String
    private let logger: Logger
    private let handle: Mutex<OpaquePointer?>
    private let state = Mutex(Counts())
    /// The thread that looks: a thread of its own, not a task, so that no load on Swift's cooperative threads can
    /// hold checkpoints back (a task at utility priority waited more than ten seconds under a loaded test run).
    private let thread = NIOThreadPool(numberOfThreads: 1)
    private let stopped = Atomic<Bool>(false)

    /// Opens its read-write connection to the file (which must exist and be in WAL mode) and starts looking.
    init(path: String, interval: Duration = .milliseconds(100), logger: Logger) throws {
        self.path = path
        self.logger = logger
        var handle: OpaquePointer?
        let status = sqlite_nio_sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite_nio_sqlite3_close_v2(handle)
            throw SQLiteReader.Failure(code: status, message: message)
        }
        // This connection never checkpoints on its own commits (it makes none). A connection learns that the
        // file is in WAL mode only once it has read it: until then a checkpoint does nothing (and says -1 frames).
        sqlite_nio_sqlite3_wal_autocheckpoint(handle, 0)
        // Its first read waits for a moment's lock (another process opening or closing the file) instead of
        // failing the start; its passive checkpoints never wait, whatever this says.
        sqlite_nio_sqlite3_busy_timeout(handle, 30_000)
        let read = sqlite_nio_sqlite3_exec(handle, "PRAGMA journal_mode", nil, nil, nil)
        guard read == SQLITE_OK else {
            let message = String(cString: sqlite_nio_sqlite3_errmsg(handle))
            sqlite_nio_sqlite3_close_v2(handle)
            throw SQLiteReader.Failure(code: read, message: message)
        }
        self.handle = Mutex(handle)
        let pause = useconds_t(
            interval.components.seconds * 1_000_000 + interval.components.attoseconds / 1_000_000_000_000)
        thread.start()
        thread.submit { [weak self] _ in
            while true {
                usleep(pause)
                guard let self, !self.stopped.load(ordering: .relaxed) else { return }
                self.checkpointIfDue()
            }
        }
    }

    /// What the checkpoints did so far.
    var counts: Counts { state.withLock { $0 } }

    /// The log's size in pages, from the file's size (no lock, no statement).
    private var logPages: Int {
        // stat(2) itself: FileManager's attributes also look the owner up in /etc/passwd and /etc/group.
        var info = stat()
        guard stat(path + "-wal", &info) == 0 else { return 0 }
        return Int(info.st_size) / 4096
    }

    private func checkpointIfDue() {
        guard logPages > Self.thresholdPages else { return }
        checkpoint()
    }

    /// Runs one passive checkpoint now, on the calling thread.
    func checkpoint() {
        handle.withLock { handle in
            guard let handle else { return }
            var log: Int32 = 0
            var copied: Int32 = 0
            let status = sqlite_nio_sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &copied)
            if status == SQLITE_OK, log >= 0 {
                state.withLock {
                    $0.runs += 1; $0.logFrames = log; $0.copiedFrames = copied
                    $0.largestLogFrames = max($0.largestLogFrames, log)
                }
            } else {
                logger.warning(
                    "SQLite checkpoint did not run",
                    metadata: [
                        "status": "\(status)", "message": "\(String(cString: sqlite_nio_sqlite3_errmsg(handle)))",
                    ])
            }
        }
    }

    /// Stops looking and closes the connection.
    func close() async {
        stopped.store(true, ordering: .relaxed)
        try? await thread.shutdownGracefully()
        handle.withLock { handle in
            sqlite_nio_sqlite3_close_v2(handle)
            handle = nil
        }
    }
}
