import Foundation

/// The reverse proxies whose forwarding headers are believed (`LATCHKEY_TRUSTED_PROXIES`, CIDRs). A request from
/// any other peer is taken at its word only for what the connection proves: its address is the peer's, its
/// request id is made here. Behind trusted proxies the client is found by walking `Forwarded` (RFC 7239) or
/// `X-Forwarded-For` from the right, past every trusted hop, to the first address that is not one: addresses
/// further left were written by whoever sent the request and prove nothing.
public struct ProxyTrust: Sendable, Equatable {
    /// One network: its address bytes (4 or 16) and prefix length.
    public struct Network: Sendable, Equatable {
        let bytes: [UInt8]
        let prefix: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var remaining = prefix
            for (a, b) in zip(address, bytes) {
                if remaining <= 0 { return true }
                let mask: UInt8 = remaining >= 8 ? 0xff : ~(0xff >> UInt8(remaining))
                if a & mask != b & mask { return false }
                remaining -= 8
            }
            return true
        }
    }

    public let networks: [Network]

    /// No proxy trusted: the default.
    public static let none = ProxyTrust(networks: [])

    init(networks: [Network]) { self.networks = networks }

    /// Parses a comma-separated list of CIDRs (`10.0.0.0/8, 192.168.1.10, ::1/128`; an address alone is a host);
    /// a failure names the first entry that is not one.
    public static func parse(_ text: String) -> Result<ProxyTrust, ParseError> {
        var networks: [Network] = []
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "/", maxSplits: 1).map(String.init)
            guard let bytes = Self.bytes(parts[0]) else { return .failure(ParseError(entry: entry)) }
            let width = bytes.count * 8
            var prefix = width
            if parts.count == 2 {
                guard let value = Int(parts[1]), (0...width).contains(value) else {
                    return .failure(ParseError(entry: entry))
                }
                prefix = value
            }
            networks.append(Network(bytes: bytes, prefix: prefix))
        }
        return .success(ProxyTrust(networks: networks))
    }

    public struct ParseError: Error, Equatable {
        public let entry: String
    }

    public func trusts(_ address: String) -> Bool {
        guard !networks.isEmpty, let bytes = Self.bytes(address) else { return false }
        return networks.contains { $0.contains(bytes) }
    }

    /// The client's address: `peer`, or — when the peer is trusted — the first untrusted hop from the right of
    /// `forwarded` (the `for=` values of `Forwarded`) or else `xForwardedFor`.
    public func client(peer: String, forwarded: String?, xForwardedFor: String?) -> String {
        guard trusts(peer) else { return peer }
        let hops: [String]
        if let forwarded, !forwarded.isEmpty {
            hops = Self.forwardedFor(forwarded)
        } else if let xForwardedFor, !xForwardedFor.isEmpty {
            hops = xForwardedFor.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        } else {
            return peer
        }
        var client = peer
        for hop in hops.reversed() {
            guard Self.bytes(hop) != nil else { return client }  // garbage or "unknown": stop at what is known
            client = hop
            if !trusts(hop) { return hop }
        }
        return client
    }

    /// The `for=` values of a `Forwarded` header, left to right, without quotes, brackets or ports.
    static func forwardedFor(_ header: String) -> [String] {
        header.split(separator: ",").compactMap { element in
            for pair in element.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, parts[0].lowercased() == "for" else { continue }
                var value = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                if value.hasPrefix("[") {
                    value = String(value.dropFirst().prefix { $0 != "]" })
                } else if value.filter({ $0 == ":" }).count == 1 {
                    value = String(value.prefix { $0 != ":" })
                }
                return value
            }
            return nil
        }
    }

    /// An address's bytes: 4 for IPv4 (and IPv4-mapped IPv6), 16 for IPv6.
    static func bytes(_ text: String) -> [UInt8]? {
        let address = text.trimmingCharacters(in: .whitespaces).lowercased()
        if address.hasPrefix("::ffff:"), address.contains(".") { return ipv4(String(address.dropFirst(7))) }
        if address.contains(":") {
            guard let groups = ClientAddress.expandIPv6(address) else { return nil }
            return groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
        }
        return ipv4(address)
    }

    static func ipv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(\.isASCII), let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        return bytes
    }
}

/// A request id a trusted proxy may pass on (`X-Request-Id`): 1 to 128 letters, digits, `-`, `_`, `.`, `:`, `=`,
/// `+` or `/` (a UUID, an AWS trace id, base64).
public func isAcceptableRequestID(_ text: String) -> Bool {
    (1...128).contains(text.utf8.count)
        && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == 0x2d || byte == 0x5f || byte == 0x2e || byte == 0x3a || byte == 0x3d || byte == 0x2b
                || byte == 0x2f
        }
}
