import Foundation

/// A back-off schedule for failed sign-in checks counted in one bucket (see `SignInBucket`): some free
/// failures, then a wait that doubles with every further failure up to a cap, and optionally a hard stop
/// that only an administrator (or a Reset MFA) lifts.
///
/// Failures are counted *before* the password or code is checked (the attempt claims a slot), so a burst
/// of parallel attempts meets exactly the schedule a series of attempts would.
public struct ThrottlePolicy: Sendable, Equatable {
    /// Failures allowed before any wait.
    public var freeFailures: Int
    /// The wait after failure number `freeFailures`, in seconds; it doubles with each further failure.
    public var baseDelay: Int
    /// The longest wait, in seconds.
    public var maxDelay: Int
    /// After this many consecutive failures the bucket stays locked until lifted; nil never.
    public var hardLimit: Int?
    /// A failure this many seconds after the previous one starts the count again at one; nil never.
    public var forgetAfter: Int?

    public init(freeFailures: Int, baseDelay: Int, maxDelay: Int, hardLimit: Int?, forgetAfter: Int?) {
        precondition(freeFailures >= 1 && baseDelay >= 1 && maxDelay >= baseDelay)
        self.freeFailures = freeFailures
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.hardLimit = hardLimit
        self.forgetAfter = forgetAfter
    }

    /// Wrong passwords for one account from one client address (an IPv4 address or an IPv6 /64): five
    /// free, then 30 s doubling to 15 minutes; never permanent, forgotten after a quiet day.
    public static let passwordPerAddress = ThrottlePolicy(
        freeFailures: 5, baseDelay: 30, maxDelay: 15 * 60, hardLimit: nil, forgetAfter: 24 * 3600)

    /// Wrong passwords for one account from every address the member has not signed in from lately (the
    /// ceiling on a distributed attack): 100 free (NIST SP 800-63B's limit), then 60 s doubling to 15
    /// minutes; never permanent, forgotten after a quiet day.
    public static let passwordPerAccount = ThrottlePolicy(
        freeFailures: 100, baseDelay: 60, maxDelay: 15 * 60, hardLimit: nil, forgetAfter: 24 * 3600)

    /// Wrong second factors (TOTP or recovery codes) after a correct password: five free, then 30 s
    /// doubling to 15 minutes, and a hard stop at 50 consecutive failures, well within NIST's 100.
    public static let secondFactor = ThrottlePolicy(
        freeFailures: 5, baseDelay: 30, maxDelay: 15 * 60, hardLimit: 50, forgetAfter: nil)

    /// The wait, in seconds, after the `failures`-th consecutive failure: 0 for none, nil when the hard
    /// stop is reached.
    public func delay(afterFailures failures: Int) -> Int? {
        if let hardLimit, failures >= hardLimit { return nil }
        guard failures >= freeFailures else { return 0 }
        let doublings = failures - freeFailures
        // 2^doublings overflows long before it matters: the cap is reached after a few steps.
        guard doublings < 32 else { return maxDelay }
        return min(maxDelay, baseDelay << doublings)
    }

    /// The failure counts whose wait lies strictly between none and the cap, with that wait: the steps of
    /// the schedule a database statement spells out (every other count waits 0, the cap, or forever).
    public var rampSteps: [(failures: Int, delay: Int)] {
        var steps: [(Int, Int)] = []
        var failures = freeFailures
        while let delay = delay(afterFailures: failures), delay > 0, delay < maxDelay {
            steps.append((failures, delay))
            failures += 1
        }
        return steps
    }
}

/// What one sign-in throttle counts. Password failures are counted per account and client address, and
/// per account from unfamiliar addresses; second-factor failures per member.
public enum SignInBucket: Sendable, Hashable {
    /// Wrong passwords for `email` from one client address (see `ClientAddress.throttleKey`).
    case passwordFromAddress(email: String, address: String)
    /// Wrong passwords for `email` from addresses the member has not signed in from lately.
    case passwordFromUnfamiliar(email: String)
    /// Wrong TOTP or recovery codes of a member.
    case secondFactor(memberID: UUID)

    /// The stored key. Keys sort as `mfa|…` < `pw-acct|…` < `pw-addr|…`; rows are always locked in key
    /// order, so two transactions never wait on each other's buckets in a cycle.
    public var key: String {
        switch self {
        case .passwordFromAddress(let email, let address): "pw-addr|\(email)|\(address)"
        case .passwordFromUnfamiliar(let email): "pw-acct|\(email)"
        case .secondFactor(let memberID): "mfa|\(memberID.lowercasedString)"
        }
    }

    /// The stored kind, for listings.
    public var kind: String {
        switch self {
        case .passwordFromAddress: "password_address"
        case .passwordFromUnfamiliar: "password_account"
        case .secondFactor: "second_factor"
        }
    }

    public var policy: ThrottlePolicy {
        switch self {
        case .passwordFromAddress: .passwordPerAddress
        case .passwordFromUnfamiliar: .passwordPerAccount
        case .secondFactor: .secondFactor
        }
    }
}

/// Client addresses as the throttles see them.
public enum ClientAddress {
    /// The part of an address one client controls: an IPv4 address whole, an IPv6 address by its /64
    /// prefix (one subscriber usually holds a whole /64, so counting single IPv6 addresses would give an
    /// attacker 2^64 fresh buckets). IPv4-mapped IPv6 addresses count as their IPv4 address.
    public static func throttleKey(_ address: String) -> String {
        let trimmed = address.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed.hasPrefix("::ffff:"), trimmed.contains(".") { return String(trimmed.dropFirst(7)) }
        guard trimmed.contains(":"), let groups = expandIPv6(trimmed) else { return trimmed }
        return groups.prefix(4).map { String($0, radix: 16) }.joined(separator: ":") + "::/64"
    }

    /// The eight 16-bit groups of an IPv6 address, or nil when it is not one.
    static func expandIPv6(_ text: String) -> [UInt16]? {
        let address = text.split(separator: "%", maxSplits: 1).first.map(String.init) ?? text
        let halves = address.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            for piece in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(piece.count), let value = UInt16(piece, radix: 16) else { return nil }
                result.append(value)
            }
            return result
        }
        guard let head = groups(halves[0]) else { return nil }
        if halves.count == 1 { return head.count == 8 ? head : nil }
        guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
        return head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
    }
}
