import Foundation
import LatchkeyCore
import Synchronization

/// How this process writes audit events: the chain's HMAC key, and who is told of events once committed.
///
/// The key (`AuditChainKey`) is the database's, opened at start; without it (a store made for a test or a tool)
/// events are written unkeyed, as before chains were keyed. The observer is the metrics: an event written inside a
/// transaction is told only after that transaction commits (never one that rolled back), and once however many
/// stores of the transaction wrote it.
public final class AuditSetup: Sendable {
    public typealias Observer = @Sendable ([AuditEntry]) -> Void
    /// Boxed: a function value kept in a `Mutex` itself is re-wrapped in two reabstraction thunks each time
    /// `withLock` hands it out and takes it back, so every report made the next one longer — quadratic CPU, and after
    /// about a hundred thousand audited writes a call deeper than the thread's stack.
    private final class Box: Sendable {
        let body: Observer
        init(_ body: @escaping Observer) { self.body = body }
    }
    private let observer = Mutex<Box?>(nil)
    private let key = Mutex<[UInt8]?>(nil)
    /// On PostgreSQL, the head this process left each chain at (see `AuditStore.appendAll`). Only a hint: an append
    /// checks it against the stored head in the statement that moves it.
    private let heads = Mutex<[String: AuditStore.Head]>([:])
    /// Appends that continued from a remembered head, and those that found it moved and read the head instead.
    let continued = Atomic<Int>(0)
    let headMoved = Atomic<Int>(0)

    public init() {}

    /// The audit chain key new events are linked with, and verification checks keyed links with.
    public var chainKey: [UInt8]? {
        get { key.withLock { $0 } }
        set { key.withLock { $0 = newValue } }
    }

    /// Sets the one observer (the application's metrics).
    public func observe(_ body: @escaping Observer) {
        observer.withLock { $0 = Box(body) }
    }

    func head(of chain: String) -> AuditStore.Head? { heads.withLock { $0[chain] } }

    func remember(_ head: AuditStore.Head, of chain: String) { heads.withLock { $0[chain] = head } }

    func report(_ entries: [AuditEntry]) {
        guard !entries.isEmpty, let box = observer.withLock({ $0 }) else { return }
        box.body(entries)
    }
}

/// The events a transaction has appended so far, told when it commits.
final class PendingAuditEvents: Sendable {
    private let entries = Mutex<[AuditEntry]>([])

    func add(_ more: [AuditEntry]) {
        entries.withLock { $0.append(contentsOf: more) }
    }

    func take() -> [AuditEntry] {
        entries.withLock { entries in
            defer { entries = [] }
            return entries
        }
    }
}
