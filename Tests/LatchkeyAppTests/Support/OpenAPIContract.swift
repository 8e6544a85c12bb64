import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import LatchkeyApp

/// The OpenAPI document the server serves (`Public/openapi.json`), and a check of one answer against it: the
/// operation must be documented, the status documented for it, and a JSON body valid against the status's schema
/// (types, formats, enums, required fields, and no field the document does not name). Every `/api/v1` answer the
/// suite receives through `api(…)` and `bearer(…)` is checked, so an answer that drifts from the document fails
/// the test that saw it.
enum OpenAPIContract {
    /// A JSON value as parsed, booleans and numbers kept apart.
    enum JSON: Decodable, Sendable, CustomStringConvertible {
        case null, bool(Bool), int(Int), double(Double), string(String), array([JSON]), object([String: JSON])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let value = try? container.decode(Bool.self) {
                self = .bool(value)
            } else if let value = try? container.decode(Int.self) {
                self = .int(value)
            } else if let value = try? container.decode(Double.self) {
                self = .double(value)
            } else if let value = try? container.decode(String.self) {
                self = .string(value)
            } else if let value = try? container.decode([JSON].self) {
                self = .array(value)
            } else {
                self = .object(try container.decode([String: JSON].self))
            }
        }

        static func parse(_ bytes: some Sequence<UInt8>) -> JSON? {
            try? JSONDecoder().decode(JSON.self, from: Data(bytes))
        }

        subscript(_ key: String) -> JSON? { if case .object(let o) = self { o[key] } else { nil } }
        var object: [String: JSON]? { if case .object(let o) = self { o } else { nil } }
        var array: [JSON]? { if case .array(let a) = self { a } else { nil } }
        var string: String? { if case .string(let s) = self { s } else { nil } }
        var number: Double? {
            switch self {
            case .int(let i): Double(i)
            case .double(let d): d
            default: nil
            }
        }

        var description: String {
            switch self {
            case .null: "null"
            case .bool(let b): "\(b)"
            case .int(let i): "\(i)"
            case .double(let d): "\(d)"
            case .string(let s): "\"\(s)\""
            case .array(let a): "[\(a.count) items]"
            case .object(let o): "{\(o.keys.sorted().joined(separator: ", "))}"
            }
        }
    }

    static let document: JSON = JSON.parse(PackageResources.openapi_json) ?? .null

    static var paths: [String: JSON] { document["paths"]?.object ?? [:] }

    /// The documented path template a concrete path matches (`/api/v1/members/{id}/unlock`), if any.
    static func template(for path: String) -> String? {
        let parts = path.split(separator: "?", maxSplits: 1)[0].split(separator: "/", omittingEmptySubsequences: false)
        return paths.keys.sorted().first { template in
            let expected = template.split(separator: "/", omittingEmptySubsequences: false)
            guard expected.count == parts.count else { return false }
            return zip(expected, parts).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }
    }

    /// What is wrong with an answer to `method path`, by the document (empty: nothing).
    static func problems(method: HTTPRequest.Method, path: String, status: Int, body: ByteBuffer) -> [String] {
        // Outside the document, only "there is nothing here" and "not with this method" are right answers.
        guard let template = template(for: path) else {
            return status == 404 ? [] : ["\(path) is not in the OpenAPI document (answered \(status))"]
        }
        guard let operation = paths[template]?[method.rawValue.lowercased()] else {
            return status == 405 ? [] : ["\(method) \(template) is not in the OpenAPI document (answered \(status))"]
        }
        guard var response = operation["responses"]?[String(status)] ?? operation["responses"]?["default"] else {
            return ["\(method) \(template) answered \(status), which the document does not list"]
        }
        if let ref = response["$ref"]?.string { response = resolve(ref) }
        guard let schema = response["content"]?["application/json"]?["schema"] else { return [] }
        guard let value = JSON.parse(body.readableBytesView) else {
            return ["\(method) \(template) \(status): the body is not JSON"]
        }
        return validate(value, against: schema, at: "\(method) \(template) \(status) $")
    }

    static func resolve(_ ref: String) -> JSON {
        var node = document
        for part in ref.dropFirst(2).split(separator: "/") { node = node[String(part)] ?? .null }
        return node
    }

    static func validate(_ value: JSON, against schema: JSON, at path: String) -> [String] {
        if let ref = schema["$ref"]?.string { return validate(value, against: resolve(ref), at: path) }
        var problems: [String] = []
        if let type = schema["type"]?.string, !matches(value, type: type) {
            return ["\(path): expected \(type), got \(value)"]
        }
        if let values = schema["enum"]?.array, !values.contains(where: { $0.description == value.description }) {
            problems.append("\(path): \(value) is not one of \(values)")
        }
        if let text = value.string {
            switch schema["format"]?.string {
            case "uuid" where UUID(uuidString: text) == nil: problems.append("\(path): \(text) is not a uuid")
            case "date-time" where ISO8601DateFormatter().date(from: text) == nil:
                problems.append("\(path): \(text) is not a date-time")
            default: break
            }
        }
        if let number = value.number {
            if let minimum = schema["minimum"]?.number, number < minimum {
                problems.append("\(path): \(number) < \(minimum)")
            }
            if let maximum = schema["maximum"]?.number, number > maximum {
                problems.append("\(path): \(number) > \(maximum)")
            }
        }
        if let object = value.object {
            let properties = schema["properties"]?.object ?? [:]
            for key in schema["required"]?.array?.compactMap(\.string) ?? [] where object[key] == nil {
                problems.append("\(path).\(key) is required")
            }
            for (key, child) in object {
                if let property = properties[key] {
                    problems += validate(child, against: property, at: "\(path).\(key)")
                } else if case .bool(false) = schema["additionalProperties"] {
                    problems.append("\(path).\(key) is not in the document")
                }
            }
        }
        if let array = value.array, let items = schema["items"] {
            for (index, item) in array.enumerated() {
                problems += validate(item, against: items, at: "\(path)[\(index)]")
            }
        }
        return problems
    }

    static func matches(_ value: JSON, type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("integer", .int),
            ("number", .int), ("number", .double), ("null", .null):
            true
        default: false
        }
    }

    /// Records an issue for every way the answer breaks the document.
    static func check(_ method: HTTPRequest.Method, _ path: String, _ response: TestResponse) {
        guard path.hasPrefix("/api/v1/") else { return }
        if ProcessInfo.processInfo.environment["OPENAPI_COVERAGE"] != nil {
            FileHandle.standardError.write(
                Data("COVERED \(method) \(template(for: path) ?? path) \(response.status.code)\n".utf8))
        }
        for problem in problems(method: method, path: path, status: Int(response.status.code), body: response.body) {
            Issue.record("OpenAPI contract: \(problem)")
        }
    }
}
