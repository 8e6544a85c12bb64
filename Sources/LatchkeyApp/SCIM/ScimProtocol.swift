import Foundation
import HTTPTypes
import Hummingbird
import LatchkeyCore
import LatchkeyStore
import NIOCore

/// SCIM 2.0's wire rules (RFC 7644): its content type, its error and list envelopes, its filters, paging and
/// attribute selection. Bodies are read as loose JSON (`[String: Any]`): SCIM attribute names are
/// case-insensitive and identity providers send attributes Latchkey does not keep, which it ignores.
enum Scim {
    static let userSchema = "urn:ietf:params:scim:schemas:core:2.0:User"
    static let groupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
    static let listSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    static let errorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"
    static let patchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    static let contentType = "application/scim+json; charset=utf-8"
    /// The most resources one page holds (`ServiceProviderConfig.filter.maxResults`).
    static let maxResults = 200
    static let maxBodyBytes = 1024 * 1024

    /// SCIM's `scimType` values (RFC 7644 §3.12): a `LatchkeyError` whose code is one of these carries it.
    static let errorTypes: Set<String> = [
        "invalidFilter", "tooMany", "uniqueness", "mutability", "invalidSyntax", "invalidPath", "noTarget",
        "invalidValue", "invalidVers", "sensitive",
    ]

    static func error(_ kind: LatchkeyError.Kind, _ type: String, _ detail: String) -> LatchkeyError {
        LatchkeyError(kind, ErrorCode(rawValue: type), detail)
    }

    static func invalidValue(_ detail: String) -> LatchkeyError { error(.badRequest, "invalidValue", detail) }
    static func invalidSyntax(_ detail: String) -> LatchkeyError { error(.badRequest, "invalidSyntax", detail) }
    static func invalidFilter(_ detail: String) -> LatchkeyError { error(.badRequest, "invalidFilter", detail) }
    static func uniqueness(_ detail: String) -> LatchkeyError { error(.conflict, "uniqueness", detail) }

    /// A SCIM error document for any refusal.
    static func errorResponse(_ failure: LatchkeyError) -> Response {
        var body: [String: Any] = [
            "schemas": [errorSchema], "status": String(failure.status), "detail": failure.message,
        ]
        if errorTypes.contains(failure.code.rawValue) { body["scimType"] = failure.code.rawValue }
        var response = make(body, status: HTTPResponse.Status(code: failure.status))
        if failure.status == 401 { response.headers[.wwwAuthenticate] = #"Bearer realm="scim""# }
        return response
    }

    static func make(_ object: [String: Any], status: HTTPResponse.Status = .ok, location: String? = nil)
        -> Response
    {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        var response = Response(
            status: status, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        if let location { response.headers[.location] = location }
        return response
    }

    static func list(_ resources: [[String: Any]], total: Int, startIndex: Int) -> Response {
        make(listDocument(resources, total: total, startIndex: startIndex))
    }

    static func listDocument(_ resources: [[String: Any]], total: Int, startIndex: Int) -> [String: Any] {
        [
            "schemas": [listSchema], "totalResults": total, "startIndex": startIndex,
            "itemsPerPage": resources.count, "Resources": resources,
        ]
    }

    /// The request's JSON object (`application/scim+json` or `application/json`, at most 1 MB).
    static func body(_ request: Request, context: some RequestContext) async throws -> [String: Any] {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/scim+json") || type.hasPrefix("application/json") else {
            throw LatchkeyError(
                .unsupportedMediaType, "unsupported_media_type", "Send the body as application/scim+json.")
        }
        let buffer = try await request.body.collect(upTo: maxBodyBytes)
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any]
        else {
            throw invalidSyntax("The body is not a JSON object.")
        }
        return object
    }

    /// JSON's true and false as `JSONSerialization` reads them (an `NSNumber` of type char), not 1 and 0.
    static func isBool(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

    /// `2026-11-30T17:30:00Z`.
    static func timestamp(_ date: Date) -> String {
        var bytes: [UInt8] = []
        JSONText.appendISO8601(date, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

// MARK: Reading loose JSON

/// A JSON object read with SCIM's case-insensitive attribute names; a value of the wrong type is refused
/// (`invalidValue`), naming the attribute.
struct ScimObject {
    let values: [String: Any]

    init(_ object: [String: Any]) {
        var values: [String: Any] = [:]
        for (key, value) in object { values[Scim.attributeName(key)] = value }
        self.values = values
    }

    func has(_ name: String) -> Bool { values[name.lowercased()] != nil }

    /// A string, or nil when absent or JSON null.
    func string(_ name: String) throws -> String? {
        switch values[name.lowercased()] {
        case nil, is NSNull: return nil
        case let text as String: return text
        default: throw Scim.invalidValue("\(name) must be a string.")
        }
    }

    /// A boolean; identity providers also send "True" and "False" as strings.
    func bool(_ name: String) throws -> Bool? {
        switch values[name.lowercased()] {
        case nil, is NSNull: return nil
        case let text as String where ["true", "false"].contains(text.lowercased()): return text.lowercased() == "true"
        case let number as NSNumber where Scim.isBool(number): return number.boolValue
        default: throw Scim.invalidValue("\(name) must be true or false.")
        }
    }

    func object(_ name: String) throws -> ScimObject? {
        switch values[name.lowercased()] {
        case nil, is NSNull: return nil
        case let object as [String: Any]: return ScimObject(object)
        default: throw Scim.invalidValue("\(name) must be an object.")
        }
    }

    func objects(_ name: String) throws -> [ScimObject]? {
        switch values[name.lowercased()] {
        case nil, is NSNull: return nil
        case let list as [Any]:
            return try list.map {
                guard let object = $0 as? [String: Any] else { throw Scim.invalidValue("\(name) must be objects.") }
                return ScimObject(object)
            }
        case let object as [String: Any]: return [ScimObject(object)]
        default: throw Scim.invalidValue("\(name) must be a list.")
        }
    }
}

extension Scim {
    /// An attribute name as compared: lower-cased, without a schema URN in front
    /// (`urn:ietf:params:scim:schemas:core:2.0:User:userName` → `username`).
    static func attributeName(_ raw: String) -> String {
        var name = raw.trimmingCharacters(in: .whitespaces)
        for schema in [userSchema, groupSchema] where name.lowercased().hasPrefix(schema.lowercased() + ":") {
            name = String(name.dropFirst(schema.count + 1))
        }
        return name.lowercased()
    }
}

// MARK: Query parameters

/// `filter`, `startIndex`, `count`, `attributes` and `excludedAttributes`, from the URL or a `/.search` body.
struct ScimQuery {
    /// `attribute eq value` (the only operator served), attribute as `Scim.attributeName`.
    var filter: (attribute: String, value: Any)?
    /// 1-based.
    var startIndex = 1
    var count = 100
    var attributes: [String] = []
    var excluded: [String] = []

    init(_ request: Request) throws {
        let query = request.uri.queryParameters
        try self.init(
            filter: query.get("filter"), startIndex: query.get("startIndex"), count: query.get("count"),
            attributes: query.get("attributes"), excluded: query.get("excludedAttributes"))
    }

    /// From a `SearchRequest` body.
    init(search body: [String: Any]) throws {
        let object = ScimObject(body)
        func list(_ name: String) throws -> String? {
            switch object.values[name.lowercased()] {
            case nil, is NSNull: return nil
            case let names as [String]: return names.joined(separator: ",")
            case let text as String: return text
            default: throw Scim.invalidValue("\(name) must be a list of attribute names.")
            }
        }
        func number(_ name: String) throws -> String? {
            switch object.values[name.lowercased()] {
            case nil, is NSNull: return nil
            case let number as NSNumber where !Scim.isBool(number): return number.stringValue
            default: throw Scim.invalidValue("\(name) must be a number.")
            }
        }
        try self.init(
            filter: try object.string("filter"), startIndex: try number("startIndex"), count: try number("count"),
            attributes: try list("attributes"), excluded: try list("excludedAttributes"))
    }

    init(filter: String?, startIndex: String?, count: String?, attributes: String?, excluded: String?) throws {
        if let startIndex {
            guard let value = Int(startIndex) else { throw Scim.invalidValue("startIndex must be a whole number.") }
            self.startIndex = max(1, value)
        }
        if let count {
            guard let value = Int(count) else { throw Scim.invalidValue("count must be a whole number.") }
            self.count = min(max(0, value), Scim.maxResults)
        }
        self.attributes = Self.names(attributes)
        self.excluded = Self.names(excluded)
        if let filter, !filter.trimmingCharacters(in: .whitespaces).isEmpty {
            self.filter = try Self.parse(filter: filter)
        }
    }

    static func names(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { Scim.attributeName(String($0)) }.filter { !$0.isEmpty }
    }

    /// `attribute eq "value"` (or `true`, `false`, a number); anything else is `invalidFilter`.
    static func parse(filter: String) throws -> (attribute: String, value: Any) {
        let text = filter.trimmingCharacters(in: .whitespaces)
        let unsupported = Scim.invalidFilter(
            "Filter with one comparison, attribute eq value (userName, externalId, emails.value, active, id or displayName)."
        )
        guard let first = text.firstIndex(of: " ") else { throw unsupported }
        let attribute = String(text[..<first])
        let rest = text[first...].drop { $0 == " " }
        guard rest.lowercased().hasPrefix("eq ") else { throw unsupported }
        let literal = String(rest.dropFirst(3)).trimmingCharacters(in: .whitespaces)
        guard
            let parsed = try? JSONSerialization.jsonObject(with: Data(literal.utf8), options: [.fragmentsAllowed]),
            parsed is String || parsed is NSNumber
        else { throw unsupported }
        return (Scim.attributeName(attribute), parsed)
    }

    /// The page's offset (0-based).
    var offset: Int { startIndex - 1 }
}

// MARK: Attribute selection

extension Scim {
    /// Keeps what `attributes` asks for (with `id` and `schemas`, always returned) or drops what
    /// `excludedAttributes` names; `name.formatted` keeps that sub-attribute of `name`.
    static func project(_ resource: [String: Any], _ query: ScimQuery) -> [String: Any] {
        if !query.attributes.isEmpty {
            var kept: [String: Any] = [:]
            for (key, value) in resource where ["id", "schemas"].contains(key) { kept[key] = value }
            for name in query.attributes {
                let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
                guard let key = resource.keys.first(where: { $0.lowercased() == parts[0] }) else { continue }
                if parts.count == 2, let complex = resource[key] as? [String: Any] {
                    var part = kept[key] as? [String: Any] ?? [:]
                    for (sub, value) in complex where sub.lowercased() == parts[1] { part[sub] = value }
                    kept[key] = part
                } else if parts.count == 2, let list = resource[key] as? [[String: Any]] {
                    kept[key] = list.map { item in item.filter { $0.key.lowercased() == parts[1] } }
                } else {
                    kept[key] = resource[key]
                }
            }
            return kept
        }
        var kept = resource
        for name in query.excluded where !name.contains(".") {
            for key in resource.keys where key.lowercased() == name && !["id", "schemas"].contains(key) {
                kept[key] = nil
            }
        }
        return kept
    }
}
