import Foundation
import LatchkeyCore
import Synchronization

/// The Manage Members counts this instance has read, each with the organization's directory version it was read
/// with (M020). A count is used again only while the version in the database is the same — the version changes
/// in the transaction of any change a count depends on — so a remembered count is never stale, whichever
/// instance made the change. Counts that depend on the clock (the Locked filter) are never remembered.
///
/// The organization's roles are remembered the same way (a role's change changes the version too, M021), and whole
/// pages at the directory stamp, the version with its activity (M032, `page(for:stamp:)`). Nothing read inside a
/// transaction is remembered: it may see writes that never commit.
public final class DirectoryCounts: Sendable {
    /// A page of the table as read: the organization, what was asked, and where it starts.
    struct PageKey: Hashable {
        var organizationID: UUID
        var filter: MemberDirectory.Filter
        var after: String?
        var before: String?
    }

    struct Key: Hashable {
        var organizationID: UUID
        var search: SearchTerms.Query
        var roleID: UUID?
        var mfa: MFAStatus?
        var status: MemberDirectory.Status?
        var cap: Int
        /// A SCIM list's filter (`all`, `active`, `suspended`): SCIM counts exactly, with its own meaning of active.
        var scim: String? = nil
    }

    /// Where a SCIM page at some position starts: the `(name, id)` of a row in the `(organization, name, id)`
    /// order, and whether the page starts at that row or just after it.
    struct Seek: Sendable, Equatable {
        var name: String
        var id: UUID
        var inclusive: Bool
    }

    private struct State {
        var entries: [Key: (version: Int64, count: Int)] = [:]
        var roles: [UUID: (version: Int64, roles: [Role])] = [:]
        var positions: [Key: (version: Int64, seeks: [Int: Seek])] = [:]
        var pages: [PageKey: (stamp: DirectoryStamp, page: MemberDirectory.Page)] = [:]
        var pageHits = 0
        var pageMisses = 0
        var hits = 0
        var misses = 0
    }

    private let state = Mutex(State())
    private let countReads = SharedReads<Key, Read>()
    private let pageReads = SharedReads<PageRead, MemberDirectory.Page>()
    /// At most this many counts are kept; past it the memory starts again empty (a count costs one query).
    let capacity: Int

    public init(capacity: Int = 4096) { self.capacity = capacity }

    func count(for key: Key, version: Int64) -> Int? {
        state.withLock { state in
            guard let entry = state.entries[key], entry.version == version else {
                state.misses += 1
                return nil
            }
            state.hits += 1
            return entry.count
        }
    }

    func remember(_ count: Int, for key: Key, version: Int64) {
        state.withLock { state in
            if state.entries.count >= capacity, state.entries[key] == nil {
                state.entries.removeAll(keepingCapacity: true)
            }
            state.entries[key] = (version, count)
        }
    }

    /// A count read from the database and the directory version it holds for (nil: the organization has none).
    struct Read: Sendable {
        var count: Int
        var version: Int64? = nil
    }

    /// A count for `key` at `version` or later: the one remembered, else the one another request of this instance
    /// is reading now (when it holds for `version` or later), else `read`'s, which requests arriving meanwhile
    /// share. When a change moves the version, the 16 pages in flight would otherwise all count again at once, each
    /// as costly as a page (during a bulk job: after every chunk).
    func count(for key: Key, atLeast version: Int64, read: @escaping @Sendable () async throws -> Read)
        async throws -> Int
    {
        if let count = count(for: key, version: version) { return count }
        let (task, joined) = countReads.task(for: key) { try await self.readAndRemember(key, read) }
        guard joined else { return try await task.value.count }
        // A count that started before this caller's version was read may hold for an earlier one: read again.
        if let result = try? await task.value, let read = result.version, read >= version { return result.count }
        return try await readAndRemember(key, read).count
    }

    /// Reads a count and remembers it at the version it holds for.
    func readAndRemember(_ key: Key, _ read: @Sendable () async throws -> Read) async throws -> Read {
        let result = try await read()
        if let version = result.version { remember(result.count, for: key, version: version) }
        return result
    }

    /// At most this many pages are kept (each at most 101 rows, some 30 KB): past it the memory starts again empty.
    static let pageCapacity = 256

    /// The page read before for `key` at `stamp`, if it was: the same rows, total and cursors, as long as neither
    /// the version nor the activity has moved since (M032).
    func page(for key: PageKey, stamp: DirectoryStamp) -> MemberDirectory.Page? {
        state.withLock { state in
            guard let entry = state.pages[key], entry.stamp == stamp else {
                state.pageMisses += 1
                return nil
            }
            state.pageHits += 1
            return entry.page
        }
    }

    func remember(_ page: MemberDirectory.Page, for key: PageKey, stamp: DirectoryStamp) {
        state.withLock { state in
            if state.pages.count >= Self.pageCapacity, state.pages[key] == nil {
                state.pages.removeAll(keepingCapacity: true)
            }
            state.pages[key] = (stamp, page)
        }
    }

    /// A page being read now for `key` by a request whose session read `stamp`.
    struct PageRead: Hashable {
        var key: PageKey
        var stamp: DirectoryStamp
    }

    /// The page for `key` at `stamp`: the one remembered, else the one another request that read the same stamp is
    /// reading now, else `read`'s (the page and the stamp read with its rows, at which it is remembered), which
    /// requests arriving with the same stamp meanwhile share. When a change moves the stamp (during a bulk job:
    /// after every chunk), the 16 help-desk pages in flight would otherwise all read the same page again at once.
    /// A read begun by a request with the same stamp began after that stamp was read, so it shows every change the
    /// stamp does. When it fails, each request that joined it reads alone.
    func page(
        for key: PageKey, stamp: DirectoryStamp?,
        read: @escaping @Sendable () async throws -> (page: MemberDirectory.Page, stamp: DirectoryStamp?)
    ) async throws -> MemberDirectory.Page {
        let readAndRemember = { @Sendable [self] () async throws -> MemberDirectory.Page in
            let (page, read) = try await read()
            if let read { remember(page, for: key, stamp: read) }
            return page
        }
        // A request that read no stamp (a caller without a session) reads alone, and its page is remembered.
        guard let stamp else { return try await readAndRemember() }
        if let page = page(for: key, stamp: stamp) { return page }
        let flight = PageRead(key: key, stamp: stamp)
        let (task, joined) = pageReads.task(for: flight, read: readAndRemember)
        guard joined else { return try await task.value }
        if let page = try? await task.value { return page }
        return try await readAndRemember()
    }

    /// How many pages were answered by a read another request had started (for tests and benchmarks).
    var sharedPageReads: Int { pageReads.joined }

    /// How many pages were answered from memory and how many were read (for tests and benchmarks).
    public var pageStatistics: (hits: Int, misses: Int) { state.withLock { ($0.pageHits, $0.pageMisses) } }

    /// The organization's roles as read at `version` (M021), if they were.
    func roles(of organizationID: UUID, version: Int64) -> [Role]? {
        state.withLock { state in
            guard let entry = state.roles[organizationID], entry.version == version else { return nil }
            return entry.roles
        }
    }

    func remember(roles: [Role], of organizationID: UUID, version: Int64) {
        state.withLock { state in
            if state.roles.count >= capacity, state.roles[organizationID] == nil {
                state.roles.removeAll(keepingCapacity: true)
            }
            state.roles[organizationID] = (version, roles)
        }
    }

    /// The known position nearest at or before `offset` in a SCIM list (0 is the start, known without asking), and
    /// the version it holds for. A sync reads pages in order, each starting where the last one ended: a page deep in
    /// a large organization then seeks its first row in the index instead of stepping over every row before it.
    func seek(for key: Key, atOrBefore offset: Int) -> (version: Int64, position: Int, seek: Seek)? {
        state.withLock { state in
            guard let entry = state.positions[key] else { return nil }
            var best: (Int, Seek)?
            for (position, seek) in entry.seeks where position <= offset && position > (best?.0 ?? 0) {
                best = (position, seek)
            }
            return best.map { (entry.version, $0.0, $0.1) }
        }
    }

    /// At most this many SCIM lists' positions are kept, each at most `seeksPerList` (a sync of 100,000 members in
    /// pages of 100 is 1,000 positions): some 64,000 names and ids in all, a few MB, however many lists are read.
    static let positionLists = 64
    static let seeksPerList = 1_000

    /// Remembers where the rows at `position` start, read at `version` (a later version forgets the earlier's).
    func remember(_ seek: Seek, at position: Int, for key: Key, version: Int64) {
        state.withLock { state in
            var entry = state.positions[key] ?? (version, [:])
            if entry.version != version { entry = (version, [:]) }
            if entry.seeks.count >= Self.seeksPerList { entry.seeks.removeAll(keepingCapacity: true) }
            entry.seeks[position] = seek
            if state.positions.count >= Self.positionLists, state.positions[key] == nil {
                state.positions.removeAll(keepingCapacity: true)
            }
            state.positions[key] = entry
        }
    }

    /// How many SCIM lists have positions remembered, and how many positions in all (for tests).
    var positionsKept: (lists: Int, seeks: Int) {
        state.withLock { state in (state.positions.count, state.positions.values.reduce(0) { $0 + $1.seeks.count }) }
    }

    /// How many counts were answered from memory and how many were read (for tests and benchmarks).
    public var statistics: (hits: Int, misses: Int) { state.withLock { ($0.hits, $0.misses) } }

    /// How many counts were answered by a read another request had started (for tests).
    var sharedReads: Int { countReads.joined }
}

/// Reads in flight by key: a request that asks for a key being read joins that read instead of starting its own.
final class SharedReads<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct State {
        var running: [Key: (id: UInt64, task: Task<Value, any Error>)] = [:]
        var started: UInt64 = 0
        var joined = 0
    }

    private let state = Mutex(State())

    /// The read of `key` in flight (`joined`), else `read` started as it: the callers until it ends share it.
    func task(for key: Key, read: @escaping @Sendable () async throws -> Value) -> (
        task: Task<Value, any Error>, joined: Bool
    ) {
        state.withLock { state in
            if let running = state.running[key] {
                state.joined += 1
                return (running.task, true)
            }
            state.started += 1
            let id = state.started
            let task = Task {
                defer { self.finish(key, id: id) }
                return try await read()
            }
            state.running[key] = (id, task)
            return (task, false)
        }
    }

    private func finish(_ key: Key, id: UInt64) {
        state.withLock { state in
            if state.running[key]?.id == id { state.running[key] = nil }
        }
    }

    /// How many callers joined a read another had started.
    var joined: Int { state.withLock { $0.joined } }
}

/// An organization's directory version (M020) and activity (M032), read together: while neither moves, the
/// Manage Members rows are what they were when read at the same stamp.
public struct DirectoryStamp: Hashable, Sendable {
    public var version: Int64
    public var activity: Int64

    public init(version: Int64, activity: Int64) {
        self.version = version
        self.activity = activity
    }

    /// The stamp in a row's `version` and `activity` columns; nil when the organization has none.
    init?(_ row: any RowColumns, version: String, activity: String) throws {
        guard let read = try row.optionalInt64(version), let active = try row.optionalInt64(activity) else {
            return nil
        }
        self.init(version: read, activity: active)
    }
}
