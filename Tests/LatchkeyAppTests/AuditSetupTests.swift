import Foundation
import LatchkeyCore
import Synchronization
import Testing

@testable import LatchkeyStore

/// The metrics hear of every audited write through `AuditSetup`'s observer. Kept in a `Mutex` as a bare function
/// value, the observer gained two reabstraction thunks each time it was handed out, so every report walked all the
/// earlier ones: 16,000 reports took 4.4 s in a release build, and a long-running server would at last overflow a
/// thread's stack. Here 200,000 reports each reach the observer once, well inside the time limit (the old observer
/// had not finished them after the minute).
@Suite struct AuditSetupTests {
    final class Count: Sendable {
        let value = Mutex(0)
    }

    final class Order: Sendable {
        let value = Mutex<[Int]>([])
    }

    @Test(.timeLimit(.minutes(1))) func reportsDoNotGrowTheObserver() async throws {
        let setup = AuditSetup()
        let heard = Count()
        setup.observe { entries in heard.value.withLock { $0 += entries.count } }
        let entry = AuditEntry(organizationID: nil, action: .settingsChanged, result: .success)
        for index in 0..<200_000 {
            if index % 1_000 == 0 { try Task.checkCancellation() }  // The time limit cancels the test.
            setup.report([entry])
        }
        #expect(heard.value.withLock { $0 } == 200_000)
    }

    /// One-statement acceptances (`SecondFactorAcceptance`) take their chain in turn: never two at once on one chain,
    /// each in the order it came, other chains not held up; more than `mostWaiting` waiting and the next is not run.
    @Test(.timeLimit(.minutes(1))) func turnsOnAChain() async throws {
        let setup = AuditSetup()
        let running = Count()
        let most = Count()
        let order = Order()
        // The first holds the chain until every other caller has come and been queued or refused.
        let release = AsyncStream<Void>.makeStream()
        let first = Task {
            try await setup.inTurn(on: "a") { () async throws -> Int in
                for await _ in release.stream { break }
                return 0
            }
        }
        while setup.waiting(on: "a") == nil { await Task.yield() }
        // Another chain is not held up by "a".
        #expect(try await setup.inTurn(on: "b") { 1 } == 1)
        var callers: [Task<Int?, any Error>] = []
        for index in 1...AuditSetup.mostWaiting {
            callers.append(
                Task {
                    try await setup.inTurn(on: "a") { () async throws -> Int in
                        running.value.withLock { $0 += 1 }
                        let now = running.value.withLock { $0 }
                        most.value.withLock { $0 = max($0, now) }
                        order.value.withLock { $0.append(index) }
                        try await Task.sleep(for: .milliseconds(1))
                        running.value.withLock { $0 -= 1 }
                        return index
                    }
                })
            while setup.waiting(on: "a") != index { await Task.yield() }
        }
        // One more than may wait: refused at once, its body never run.
        #expect(try await setup.inTurn(on: "a") { -1 } == nil)
        release.continuation.yield()
        #expect(try await first.value == 0)
        for (index, caller) in callers.enumerated() { #expect(try await caller.value == index + 1) }
        #expect(order.value.withLock { $0 } == Array(1...AuditSetup.mostWaiting))
        #expect(most.value.withLock { $0 } == 1)
        #expect(setup.waiting(on: "a") == nil, "the chain is free again")
    }
}
