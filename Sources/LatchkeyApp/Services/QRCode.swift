import CQRencode
import Foundation

/// QR codes from libqrencode, drawn as SVG (no image fetched from anywhere).
enum QRCodeSVG {
    /// An SVG QR code for `text`, or nil if it cannot be encoded.
    static func render(_ text: String, moduleSize: Int = 6, label: String) -> String? {
        guard let code = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1) else { return nil }
        defer { QRcode_free(code) }
        let width = Int(code.pointee.width)
        let quiet = 4
        let size = (width + quiet * 2) * moduleSize
        var path = ""
        for y in 0..<width {
            for x in 0..<width where code.pointee.data[y * width + x] & 1 == 1 {
                path +=
                    "M\((x + quiet) * moduleSize),\((y + quiet) * moduleSize)h\(moduleSize)v\(moduleSize)h-\(moduleSize)z"
            }
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" class="qr" width="\(size)" height="\(size)" viewBox="0 0 \(size) \(size)" \
            role="img" aria-label="\(HTML.escape(label))" shape-rendering="crispEdges">\
            <rect width="100%" height="100%" fill="#ffffff"/><path d="\(path)" fill="#000000"/></svg>
            """
    }
}
