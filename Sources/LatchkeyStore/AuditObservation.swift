import Foundation
import LatchkeyCore
import Synchronization

/// Who is told of audit events once they are committed: the metrics count sign-ins, lockouts and resets from
/// them. An event written inside a transaction is told only after that transaction commits (never one that rolled
/// back), and an event is told once however many stores of the transaction wrote it.
public final class AuditObservation: Sendable {
    public typealias Observer = @Sendable ([AuditEntry]) -> Void
    private let observer = Mutex<Observer?>(nil)

    public init() {}

    /// Sets the one observer (the application's metrics).
    public func observe(_ body: @escaping Observer) {
        observer.withLock { $0 = body }
    }

    func report(_ entries: [AuditEntry]) {
        guard !entries.isEmpty, let body = observer.withLock({ $0 }) else { return }
        body(entries)
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
