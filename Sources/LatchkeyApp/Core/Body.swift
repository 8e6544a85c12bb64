import Foundation
import HTTPTypes
import Hummingbird
import LatchkeyCore
import NIOCore

/// A JSON request body that names the fields it accepts; anything else is refused.
protocol StrictJSONBody: Decodable {
    static var allowedFields: Set<String> { get }
    /// Further checks on the parsed object (nested objects' fields, say); throws a 400.
    static func validate(_ object: [String: Any]) throws
}

/// A body with no fields: none, `{}`, or a refusal of anything else.
struct EmptyJSONBody: StrictJSONBody {
    static let allowedFields: Set<String> = []
}

extension StrictJSONBody {
    static func validate(_ object: [String: Any]) throws {}

    /// Refuses fields other than `allowed` in the objects of the array at `key`.
    static func refuseUnknownFields(in object: [String: Any], array key: String, allowed: Set<String>) throws {
        guard let items = object[key] as? [Any] else { return }
        for (index, item) in items.enumerated() {
            guard let fields = item as? [String: Any] else {
                throw LatchkeyError.badRequest("invalid_field", "Field \"\(key).\(index)\" must be an object.")
            }
            if let unknown = Set(fields.keys).subtracting(allowed).sorted().first {
                throw LatchkeyError.badRequest(
                    "unknown_field", "Unknown field \"\(key).\(index).\(unknown.prefix(64))\".")
            }
        }
    }
}

enum Body {
    /// Reads and decodes a JSON object body: `application/json` only, at most the context's upload size,
    /// valid UTF-8, no unknown fields, right types. An absent body counts as `{}` when `allowEmpty`.
    static func json<T: StrictJSONBody>(
        _ type: T.Type, from request: Request, context: some RequestContext, allowEmpty: Bool = false,
        maxSize: Int? = nil
    ) async throws -> T {
        let buffer = try await request.body.collect(upTo: maxSize ?? context.maxUploadSize)
        var data = Data(buffer.readableBytesView)
        if data.isEmpty, allowEmpty { data = Data("{}".utf8) }
        guard isJSON(request) || (data == Data("{}".utf8) && allowEmpty) else {
            throw LatchkeyError(.unsupportedMediaType, "unsupported_media_type", "Send the body as application/json.")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw LatchkeyError.badRequest("invalid_json", "The body is not valid JSON.")
        }
        guard let fields = object as? [String: Any] else {
            throw LatchkeyError.badRequest("invalid_json", "The body must be a JSON object.")
        }
        if let unknown = fields.keys.filter({ !T.allowedFields.contains($0) }).min() {
            throw LatchkeyError.badRequest("unknown_field", "Unknown field \"\(unknown.prefix(64))\".")
        }
        // A null can only be the token `null`: a body without those four bytes has none to look for (the walk
        // through the parsed object was a third of reading a sign-in's code).
        if data.range(of: Data("null".utf8)) != nil, let path = nullField(in: fields, at: "") {
            throw LatchkeyError.badRequest(
                "invalid_field", "Field \"\(path.prefix(64))\" is null: leave an optional field out instead.")
        }
        try T.validate(fields)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw LatchkeyError.badRequest("invalid_field", "Field \"\(fieldName(context))\" has the wrong type.")
        } catch let DecodingError.keyNotFound(key, _) {
            throw LatchkeyError.badRequest("missing_field", "Field \"\(key.stringValue)\" is required.")
        } catch {
            throw LatchkeyError.badRequest("invalid_json", "The body could not be read.")
        }
    }

    /// The first field holding `null`, at any depth ("invitations.2.roleId"); no field of a request body may: an
    /// optional field is left out, as the API's document says.
    static func nullField(in value: Any, at path: String) -> String? {
        let join = { (key: String) in path.isEmpty ? key : "\(path).\(key)" }
        switch value {
        case is NSNull: return path
        case let object as [String: Any]:
            for key in object.keys.sorted() {
                if let found = nullField(in: object[key]!, at: join(key)) { return found }
            }
        case let array as [Any]:
            for (index, item) in array.enumerated() {
                if let found = nullField(in: item, at: join(String(index))) { return found }
            }
        default: break
        }
        return nil
    }

    static func isJSON(_ request: Request) -> Bool {
        guard let type = request.headers[.contentType]?.lowercased() else { return false }
        return type == "application/json" || type.hasPrefix("application/json;")
    }

    static func isForm(_ request: Request) -> Bool {
        guard let type = request.headers[.contentType]?.lowercased() else { return false }
        return type.hasPrefix("application/x-www-form-urlencoded")
    }

    private static func fieldName(_ context: DecodingError.Context) -> String {
        context.codingPath.map(\.stringValue).joined(separator: ".")
    }

    /// Reads an HTML form body (`application/x-www-form-urlencoded`).
    static func form(from request: Request, context: some RequestContext, maxSize: Int? = nil) async throws
        -> FormFields
    {
        guard isForm(request) else {
            throw LatchkeyError(
                .unsupportedMediaType, "unsupported_media_type", "Send the form as application/x-www-form-urlencoded.")
        }
        let buffer = try await request.body.collect(upTo: maxSize ?? context.maxUploadSize)
        return try FormFields.parse(String(buffer: buffer))
    }
}

/// Decoded form fields; percent-decoding that yields invalid UTF-8 is refused.
struct FormFields: Sendable {
    var values: [String: String]
    /// Every value of repeated keys (e.g. one `memberId` per selected row), in order.
    var all: [String: [String]] = [:]

    static func parse(_ text: String) throws -> FormFields {
        var values: [String: String] = [:]
        var all: [String: [String]] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = decode(parts[0]), let value = decode(parts.count > 1 ? parts[1] : "") else {
                throw LatchkeyError.badRequest("invalid_form", "The form could not be read.")
            }
            values[key] = value
            all[key, default: []].append(value)
        }
        return FormFields(values: values, all: all)
    }

    private static func decode(_ part: Substring) -> String? {
        part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    subscript(_ key: String) -> String? { values[key] }

    /// A required text field, trimmed, at most `maxLength` bytes.
    func required(_ key: String, label: String, maxLength: Int = 1024) throws -> String {
        guard let value = values[key]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
            throw LatchkeyError.badRequest("missing_field", "\(label) is required.")
        }
        guard value.utf8.count <= maxLength else {
            throw LatchkeyError.badRequest("field_too_long", "\(label) is too long.")
        }
        return value
    }
}
