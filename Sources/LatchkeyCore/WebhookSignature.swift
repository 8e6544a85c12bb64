import Crypto
import Foundation

/// The signature of a webhook delivery: `Latchkey-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`
/// under the endpoint's secret. A receiver recomputes it over the exact bytes received, compares in constant
/// time, and refuses a `t` too far from its clock (a replayed delivery).
public enum WebhookSignature {
    public static let header = "Latchkey-Signature"

    public static func value(body: String, secret: String, at time: Date) -> String {
        let t = Int64(time.timeIntervalSince1970.rounded(.down))
        return "t=\(t),v1=\(hex(body: body, secret: secret, t: t))"
    }

    public static func hex(body: String, secret: String, t: Int64) -> String {
        let mac = HMAC<SHA256>.authenticationCode(
            for: Data("\(t).\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return mac.map { String(format: "%02x", $0) }.joined()
    }
}
