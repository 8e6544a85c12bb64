import Foundation
import Hummingbird
import LatchkeyCore
import NIOCore

/// The stylesheet and script: files in `Public/`, compiled into the binary as package resources
/// (`embedInCode`), served under a name that carries a hash of their content (`app.3f9a1c0d2b7e.css`), so
/// browsers may cache them for a year and a new release is fetched at once.
struct StaticAssets: Sendable {
    struct Asset: Sendable {
        /// The fingerprinted file name.
        var name: String
        var contentType: String
        var body: ByteBuffer
        var etag: String
    }

    let assets: [String: Asset]
    /// Where pages link to.
    let stylesheetPath: String
    let scriptPath: String

    /// The assets of this build.
    static let shared = StaticAssets()

    private init() {
        var assets: [String: Asset] = [:]
        var paths: [String: String] = [:]
        for (file, ext, type, data) in [
            ("app", "css", "text/css; charset=utf-8", PackageResources.app_css),
            ("app", "js", "text/javascript; charset=utf-8", PackageResources.app_js),
        ] {
            let digest = String(sha256Hex(String(decoding: data, as: UTF8.self)).prefix(12))
            let name = "\(file).\(digest).\(ext)"
            assets[name] = Asset(
                name: name, contentType: type, body: ByteBuffer(bytes: data), etag: "\"\(digest)\"")
            paths[ext] = Route.asset.rawValue.replacingOccurrences(of: ":file", with: name)
        }
        self.assets = assets
        stylesheetPath = paths["css"]!
        scriptPath = paths["js"]!
    }

    /// Serves one asset; an unknown name (an old fingerprint, say) is 404.
    func response(for request: Request, file: String?) throws -> Response {
        guard let file, let asset = assets[file] else { throw LatchkeyError.notFound("There is nothing here.") }
        if request.headers[.ifNoneMatch] == asset.etag {
            return Response(status: .notModified, headers: [.eTag: asset.etag])
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: asset.contentType, .cacheControl: "public, max-age=31536000, immutable",
                .eTag: asset.etag,
            ], body: .init(byteBuffer: asset.body))
    }
}
