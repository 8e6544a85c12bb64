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
}
