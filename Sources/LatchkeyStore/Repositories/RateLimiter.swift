import FluentKit
import Foundation
import SQLKit

/// Fixed-window request counters in the database, so every server instance shares them.
public struct RateLimiter: Sendable {
    /// A limit: at most `limit` hits per `window` seconds for one bucket.
    public struct Rule: Sendable {
        public var bucket: String
        public var limit: Int
        public var window: Int64

        public init(bucket: String, limit: Int, window: Int64) {
            self.bucket = bucket
            self.limit = limit
            self.window = window
        }
    }

    let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// One rule's window after a hit: its limit, the hits counted in it (this one included) and the seconds until it
    /// ends.
    public struct Window: Sendable, Equatable {
        public var limit: Int
        public var hits: Int
        public var resetSeconds: Int

        public init(limit: Int, hits: Int, resetSeconds: Int) {
            self.limit = limit
            self.hits = hits
            self.resetSeconds = resetSeconds
        }

        public var remaining: Int { max(0, limit - hits) }
        public var exceeded: Bool { hits > limit }
    }

    /// Counts one hit against every rule (atomically per bucket); returns each rule's window, in order.
    public func hit(_ rules: [Rule], now: Date) async throws -> [Window] {
        var windows: [Window] = []
        for rule in rules { windows.append(try await count(rule, now: now)) }
        return windows
    }

    /// Counts one hit against `rule` (atomically): its window, this hit included.
    private func count(_ rule: Rule, now: Date) async throws -> Window {
        let sql = db as! any SQLDatabase
        let unix = Int64(now.timeIntervalSince1970)
        let start = unix - unix % rule.window
        let rows = try await sql.raw(
            """
            INSERT INTO rate_limits (bucket, window_start, hits) VALUES (\(bind: rule.bucket), \(bind: start), 1)
            ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
            RETURNING hits
            """
        ).all()
        return Window(
            limit: rule.limit, hits: try rows.first?.decode(column: "hits", as: Int.self) ?? 0,
            resetSeconds: Int(start + rule.window - unix))
    }

    /// Drops windows older than `age` seconds.
    public func prune(olderThan age: Int64, now: Date) async throws {
        let sql = db as! any SQLDatabase
        try await sql.delete(from: "rate_limits").where(
            "window_start", .lessThan, Int64(now.timeIntervalSince1970) - age
        ).run()
    }
}

extension [RateLimiter.Window] {
    /// The seconds to wait when any window is exceeded (the longest such wait), else nil.
    public var retryAfter: Int? {
        filter(\.exceeded).map(\.resetSeconds).max()
    }

    /// The window closest to refusing: fewest requests remaining, then the longest wait.
    public var tightest: RateLimiter.Window? {
        self.min { ($0.remaining, -$0.resetSeconds) < ($1.remaining, -$1.resetSeconds) }
    }
}
