import Foundation
import LatchkeyCore
import LatchkeyStore

/// How members and roles look as SCIM Users and Groups, and what a request asks a User to become.
struct ScimResources {
    /// The public base of every `location` (`LATCHKEY_PUBLIC_URL`, or the server's own address).
    let base: String

    func userLocation(_ id: UUID) -> String { "\(base)/scim/v2/Users/\(id.lowercasedString)" }
    func groupLocation(_ id: UUID) -> String { "\(base)/scim/v2/Groups/\(id.lowercasedString)" }

    func user(_ row: ScimUserRow) -> [String: Any] {
        let created = Scim.timestamp(row.createdAt)
        var user: [String: Any] = [
            "schemas": [Scim.userSchema],
            "id": row.id.lowercasedString,
            "userName": row.email,
            "displayName": row.name,
            "name": ["formatted": row.name],
            "emails": [["value": row.email, "type": "work", "primary": true]],
            "active": row.status != .suspended,
            "groups": [
                ["value": row.roleID.lowercasedString, "display": row.roleName, "$ref": groupLocation(row.roleID)]
            ],
            "meta": [
                "resourceType": "User", "created": created, "lastModified": created,
                "location": userLocation(row.id),
            ],
        ]
        if let externalID = row.externalID { user["externalId"] = externalID }
        return user
    }

    /// A page of Users as JSON text — the hot path of an identity provider's sync, pages of 100 — written directly
    /// rather than through dictionaries and `JSONSerialization` (a fifth of the cost): the same document as
    /// `user(_:)` with `Scim.project`. Nil when `attributes` or `excludedAttributes` name a sub-attribute (that
    /// rarer request takes the general path).
    func userList(_ rows: [ScimUserRow], total: Int, query: ScimQuery) -> JSONText? {
        guard !(query.attributes + query.excluded).contains(where: { $0.contains(".") }) else { return nil }
        // Which attributes the page shows, decided once rather than for every row.
        let shown = Set(
            ["active", "displayName", "emails", "externalId", "groups", "meta", "name", "userName"].filter { name in
                let lower = name.lowercased()
                return query.attributes.isEmpty ? !query.excluded.contains(lower) : query.attributes.contains(lower)
            })
        func included(_ name: String) -> Bool { shown.contains(name) }
        var json = JSONText(capacity: 700 * rows.count + 200)
        json.object { json in
            json.key("Resources")
            json.array(rows) { json, row in
                json.object { json in
                    if included("active") {
                        json.key("active")
                        json.bool(row.status != .suspended)
                    }
                    if included("displayName") {
                        json.key("displayName")
                        json.string(row.name)
                    }
                    if included("emails") {
                        json.key("emails")
                        json.array([row.email]) { json, email in
                            json.object { json in
                                json.key("primary")
                                json.bool(true)
                                json.key("type")
                                json.string("work")
                                json.key("value")
                                json.string(email)
                            }
                        }
                    }
                    if included("externalId"), let externalID = row.externalID {
                        json.key("externalId")
                        json.string(externalID)
                    }
                    if included("groups") {
                        json.key("groups")
                        json.array([row]) { json, row in
                            json.object { json in
                                json.key("$ref")
                                json.string(groupLocation(row.roleID))
                                json.key("display")
                                json.string(row.roleName)
                                json.key("value")
                                json.string(row.roleID.lowercasedString)
                            }
                        }
                    }
                    json.key("id")
                    json.string(row.id.lowercasedString)
                    if included("meta") {
                        json.key("meta")
                        json.object { json in
                            json.key("created")
                            json.date(row.createdAt)
                            json.key("lastModified")
                            json.date(row.createdAt)
                            json.key("location")
                            json.string(userLocation(row.id))
                            json.key("resourceType")
                            json.string("User")
                        }
                    }
                    if included("name") {
                        json.key("name")
                        json.object { json in
                            json.key("formatted")
                            json.string(row.name)
                        }
                    }
                    json.key("schemas")
                    json.array([Scim.userSchema]) { $0.string($1) }
                    if included("userName") {
                        json.key("userName")
                        json.string(row.email)
                    }
                }
            }
            json.key("itemsPerPage")
            json.int(rows.count)
            json.key("schemas")
            json.array([Scim.listSchema]) { $0.string($1) }
            json.key("startIndex")
            json.int(query.startIndex)
            json.key("totalResults")
            json.int(total)
        }
        return json
    }

    func group(_ role: Role, members: [(id: UUID, name: String)]?) -> [String: Any] {
        var group: [String: Any] = [
            "schemas": [Scim.groupSchema],
            "id": role.id.lowercasedString,
            "displayName": role.name,
            "meta": ["resourceType": "Group", "location": groupLocation(role.id)],
        ]
        if let members {
            group["members"] = members.map {
                [
                    "value": $0.id.lowercasedString, "display": $0.name, "type": "User",
                    "$ref": userLocation($0.id),
                ] as [String: Any]
            }
        }
        return group
    }
}

/// A User as a request wants it: email, name, external id and whether active.
struct ScimUserState: Equatable {
    var email: String
    var name: String
    var externalID: String?
    var active: Bool

    init(email: String, name: String, externalID: String?, active: Bool) {
        self.email = email
        self.name = name
        self.externalID = externalID
        self.active = active
    }

    init(_ row: ScimUserRow) {
        self.init(email: row.email, name: row.name, externalID: row.externalID, active: row.status != .suspended)
    }

    /// Applies the attributes a body (POST, PUT) or a PATCH value names; others are ignored (RFC 7644 §3.3:
    /// identity providers send attributes a service does not keep).
    mutating func apply(_ object: ScimObject) throws {
        if let userName = try object.string("userName") {
            email = userName
        } else if let emails = try object.objects("emails"), !emails.isEmpty {
            let primary = try emails.first { try $0.bool("primary") == true } ?? emails[0]
            if let value = try primary.string("value") { email = value }
        }
        if let displayName = try object.string("displayName") {
            name = displayName
        } else if let parts = try object.object("name") {
            try apply(name: parts)
        }
        if object.has("externalId") { externalID = try object.string("externalId") }
        if let active = try object.bool("active") { self.active = active }
    }

    /// `name.formatted`, else `givenName familyName`.
    mutating func apply(name parts: ScimObject) throws {
        if let formatted = try parts.string("formatted") {
            name = formatted
        } else {
            let joined = [try parts.string("givenName"), try parts.string("familyName")].compactMap { $0 }
                .joined(separator: " ")
            if !joined.isEmpty { name = joined }
        }
    }

    /// One PATCH operation (RFC 7644 §3.5.2) on the attributes Latchkey keeps. `remove` of `externalId` clears
    /// it; removing what every member has (userName, displayName, active) is refused as `mutability`.
    mutating func patch(op: String, path: String?, value: Any?) throws {
        guard let path else {
            // No path: the value is an object of attributes to add or replace (`{"active": false}`), with dotted
            // names allowed (`{"name.givenName": "Jane"}`).
            guard op != "remove" else { throw Scim.error(.badRequest, "noTarget", "A remove needs a path.") }
            guard let values = value as? [String: Any] else {
                throw Scim.invalidValue("An operation without a path needs an object as its value.")
            }
            var plain: [String: Any] = [:]
            for (key, value) in values {
                if key.contains(".") { try patch(op: op, path: key, value: value) } else { plain[key] = value }
            }
            try apply(ScimObject(plain))
            return
        }
        let attribute = Scim.attributeName(path)
        if op == "remove" {
            switch attribute {
            case "externalid": externalID = nil
            case "username", "displayname", "name", "active", "emails":
                throw Scim.error(.badRequest, "mutability", "\(path) cannot be removed: every member has one.")
            default: throw Scim.error(.badRequest, "invalidPath", "\(path) is not an attribute Latchkey keeps.")
            }
            return
        }
        switch attribute {
        case "username", "displayname", "externalid", "active", "emails":
            try apply(ScimObject([attribute: value ?? NSNull()]))
        case "name":
            guard let parts = value as? [String: Any] else { throw Scim.invalidValue("name must be an object.") }
            try apply(name: ScimObject(parts))
        case "name.formatted", "name.givenname", "name.familyname":
            try apply(name: ScimObject([String(attribute.dropFirst(5)): value ?? NSNull()]))
        case let emails where emails.hasPrefix("emails[") || emails == "emails.value":
            // `emails[type eq "work"].value` (Entra ID): the member's one email.
            guard let text = value as? String else { throw Scim.invalidValue("An email must be a string.") }
            email = text
        default:
            throw Scim.error(.badRequest, "invalidPath", "\(path) is not an attribute Latchkey keeps.")
        }
    }
}

/// The operations of a PATCH body, checked: `op` is add, replace or remove (any case).
struct ScimPatch {
    struct Operation {
        var op: String
        var path: String?
        var value: Any?
    }

    var operations: [Operation]

    init(_ body: [String: Any]) throws {
        let object = ScimObject(body)
        guard let list = object.values["operations"] as? [Any], !list.isEmpty else {
            throw Scim.invalidSyntax("A PATCH body needs Operations.")
        }
        operations = try list.map { item in
            guard let raw = item as? [String: Any] else { throw Scim.invalidSyntax("Each operation is an object.") }
            let operation = ScimObject(raw)
            guard let op = try operation.string("op")?.lowercased(), ["add", "replace", "remove"].contains(op) else {
                throw Scim.invalidSyntax("op is add, replace or remove.")
            }
            let path = try operation.string("path")
            return Operation(op: op, path: path?.isEmpty == true ? nil : path, value: operation.values["value"])
        }
    }
}
