import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Where a webhook may be delivered: an `https` URL whose host resolves only to public addresses. Private,
/// loopback, link-local, unique-local, shared (CGNAT), multicast and reserved addresses are refused — literally
/// or after DNS resolution, every address the name resolves to — unless the operator allows them
/// (`allowPrivate`, which also allows `http`, for a receiver on the same network or in tests). The address that
/// was checked is the one connected to, so a name that resolves differently a moment later changes nothing.
public struct WebhookTarget: Sendable, Equatable {
    public var url: URL
    public var host: String
    public var port: Int
    public var secure: Bool
    /// The path and query sent in the request line.
    public var requestTarget: String

    /// Why a URL is refused, in words for the person who typed it.
    public struct Refusal: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Parses and checks the form of a URL (scheme, host, no credentials); addresses are checked by `resolve`.
    public init(_ text: String, allowPrivate: Bool) throws(Refusal) {
        guard text.utf8.count <= 2000, let components = URLComponents(string: text), let url = components.url,
            let scheme = components.scheme?.lowercased(), let host = components.host, !host.isEmpty
        else { throw Refusal(description: "Enter a full URL, such as https://example.com/hooks/latchkey.") }
        guard scheme == "https" || (allowPrivate && scheme == "http") else {
            throw Refusal(description: "A webhook URL must start with https://.")
        }
        guard components.user == nil, components.password == nil else {
            throw Refusal(description: "A webhook URL cannot carry a user name or password.")
        }
        self.url = url
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.secure = scheme == "https"
        self.port = components.port ?? (secure ? 443 : 80)
        guard (1...65535).contains(port) else { throw Refusal(description: "The URL's port is not valid.") }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        self.requestTarget = path + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
    }

    /// The addresses the host names, each checked; the first allowed one is connected to. Throws when none may be
    /// used, or when any is not public and private targets are not allowed (a name that resolves to one private
    /// address among public ones is refused, not quietly narrowed).
    public func resolve(allowPrivate: Bool) async throws(Refusal) -> SocketAddress {
        let host = host
        let port = port
        let addresses: [SocketAddress]
        do {
            addresses = try await NIOThreadPool.singleton.runIfActive { try Self.lookup(host, port: port) }
        } catch {
            throw Refusal(description: "\(host) could not be resolved.")
        }
        guard let first = addresses.first else { throw Refusal(description: "\(host) could not be resolved.") }
        if !allowPrivate, let blocked = addresses.first(where: { !Self.isPublic($0) }) {
            throw Refusal(
                description:
                    "\(host) resolves to \(blocked.ipAddress ?? "a non-public address"), a private, loopback or link-local address: refused."
            )
        }
        return first
    }

    /// Every address getaddrinfo(3) gives for the host (TCP).
    static func lookup(_ host: String, port: Int) throws -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let result else {
            throw Refusal(description: "\(host) could not be resolved.")
        }
        defer { freeaddrinfo(result) }
        var addresses: [SocketAddress] = []
        var next: UnsafeMutablePointer<addrinfo>? = result
        while let info = next {
            if let pointer = info.pointee.ai_addr {
                switch Int32(pointer.pointee.sa_family) {
                case AF_INET:
                    pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                        addresses.append(SocketAddress($0.pointee, host: host))
                    }
                case AF_INET6:
                    pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                        addresses.append(SocketAddress($0.pointee, host: host))
                    }
                default: break
                }
            }
            next = info.pointee.ai_next
        }
        return addresses
    }

    /// True for an address on the public internet.
    public static func isPublic(_ address: SocketAddress) -> Bool {
        switch address {
        case .v4(let v4): return isPublic(v4: UInt32(bigEndian: v4.address.sin_addr.s_addr))
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            return isPublic(v6: bytes)
        default: return false
        }
    }

    static func isPublic(v4 a: UInt32) -> Bool {
        func within(_ base: UInt32, _ bits: UInt32) -> Bool {
            bits == 0 || (a ^ base) >> (32 - bits) == 0
        }
        let blocked: [(UInt32, UInt32)] = [
            (0x0000_0000, 8),  // "this network"
            (0x0A00_0000, 8),  // 10/8 private
            (0x6440_0000, 10),  // 100.64/10 shared (CGNAT)
            (0x7F00_0000, 8),  // loopback
            (0xA9FE_0000, 16),  // 169.254/16 link-local (cloud metadata)
            (0xAC10_0000, 12),  // 172.16/12 private
            (0xC000_0000, 24),  // 192.0.0/24 protocol assignments
            (0xC000_0200, 24),  // 192.0.2/24 documentation
            (0xC0A8_0000, 16),  // 192.168/16 private
            (0xC612_0000, 15),  // 198.18/15 benchmarking
            (0xC633_6400, 24),  // 198.51.100/24 documentation
            (0xCB00_7100, 24),  // 203.0.113/24 documentation
            (0xE000_0000, 4),  // multicast
            (0xF000_0000, 4),  // reserved, broadcast
        ]
        return !blocked.contains { within($0.0, $0.1) }
    }

    static func isPublic(v6 bytes: [UInt8]) -> Bool {
        guard bytes.count == 16 else { return false }
        let prefix12 = bytes[0..<12]
        // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d): the IPv4 address decides.
        let mapped = prefix12.elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF])
        let nat64 = prefix12.elementsEqual([0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0])
        if mapped || nat64 {
            let v4 = bytes[12..<16].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return isPublic(v4: v4)
        }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) { return false }  // :: and ::1
        if bytes[0] & 0xFE == 0xFC { return false }  // fc00::/7 unique local
        if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return false }  // fe80::/10 link-local
        if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0xC0 { return false }  // fec0::/10 site-local (deprecated)
        if bytes[0] == 0xFF { return false }  // multicast
        if bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0D && bytes[3] == 0xB8 { return false }  // docs
        return true
    }
}
