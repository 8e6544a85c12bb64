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
    /// Second factors accepted in one statement (`SecondFactorAcceptance`), and its attempts that found the head
    /// moved (each tried again after the head it found).
    let acceptedAtOnce = Atomic<Int>(0)
    let atOnceHeadMoved = Atomic<Int>(0)
    /// Per chain, whether a one-statement acceptance is under way, and the ones waiting for their turn.
    private let turns = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])
    /// The most that wait for their turn on one chain; one more goes the way of a transaction instead.
    static let mostWaiting = 16

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

    /// Runs `body` when no other call of this process for `chain` is running one, in the order they came; nil at
    /// once, without running it, when `mostWaiting` already wait. One process's one-statement acceptances then never
    /// find their chain's head moved by each other: each starts from the head the one before it left.
    func inTurn<T: Sendable>(on chain: String, _ body: () async throws -> T) async throws -> T? {
        let started = turns.withLock { turns -> Bool? in
            guard let waiting = turns[chain] else {
                turns[chain] = []
                return true
            }
            return waiting.count < Self.mostWaiting ? false : nil
        }
        guard let started else { return nil }
        if !started {
            await withCheckedContinuation { (turn: CheckedContinuation<Void, Never>) in
                // The turn may have passed since: then it is taken at once.
                let now = turns.withLock { turns -> Bool in
                    guard turns[chain] != nil else {
                        turns[chain] = []
                        return true
                    }
                    turns[chain]!.append(turn)
                    return false
                }
                if now { turn.resume() }
            }
        }
        defer { passTurn(on: chain) }
        return try await body()
    }

    /// How many wait for their turn on `chain`; nil when none is under way.
    func waiting(on chain: String) -> Int? { turns.withLock { $0[chain]?.count } }

    /// Ends a turn on `chain`: the next waiting call runs, or the chain is free.
    private func passTurn(on chain: String) {
        let next = turns.withLock { turns -> CheckedContinuation<Void, Never>? in
            guard var waiting = turns[chain], !waiting.isEmpty else {
                turns[chain] = nil
                return nil
            }
            let next = waiting.removeFirst()
            turns[chain] = waiting
            return next
        }
        next?.resume()
    }

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
