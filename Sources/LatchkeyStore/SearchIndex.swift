import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// Maintains `member_search_prefixes`, the index behind the Manage Members search (see M019). Its role, status
/// and MFA columns follow `members` by trigger; its rows follow the member's name and email from here.
public enum SearchIndex {
    /// What the index holds of a member.
    public struct Entry: Sendable {
        public var id: UUID
        public var organizationID: UUID
        public var name: String
        public var email: String
        public var roleID: UUID
        public var status: AccountStatus
        public var mfaStatus: MFAStatus

        public init(
            id: UUID, organizationID: UUID, name: String, email: String, roleID: UUID, status: AccountStatus,
            mfaStatus: MFAStatus
        ) {
            self.id = id
            self.organizationID = organizationID
            self.name = name
            self.email = email
            self.roleID = roleID
            self.status = status
            self.mfaStatus = mfaStatus
        }
    }

    static let columns = ["organization_id", "prefix", "name", "member_id", "role_id", "status", "mfa_status"]

    /// Adds the prefixes of these members (multi-row inserts).
    public static func add(_ members: [Entry], on db: any Database) async throws {
        var rows: [[any SQLExpression]] = []
        for member in members {
            let fixed: [any SQLExpression] = [
                SQLBind(member.name), SQLBind(member.id), SQLBind(member.roleID), SQLBind(member.status.rawValue),
                SQLBind(member.mfaStatus.rawValue),
            ]
            for prefix in SearchTerms.prefixes(name: member.name, email: member.email) {
                rows.append([SQLBind(member.organizationID), SQLBind(prefix)] + fixed)
            }
        }
        try await BulkInsert.rows(rows, into: "member_search_prefixes", columns: columns, on: db)
    }

    /// Replaces one member's prefixes (after a change of name).
    public static func replace(_ member: Entry, on db: any Database) async throws {
        try await (db as! any SQLDatabase).delete(from: "member_search_prefixes")
            .where("member_id", .equal, SQLBind(member.id)).run()
        try await add([member], on: db)
    }
}
