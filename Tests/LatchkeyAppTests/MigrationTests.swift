import FluentKit
import Foundation
import HTTPTypes
import HummingbirdTesting
import LatchkeyCore
import SQLKit
import Testing

@testable import LatchkeyApp
@testable import LatchkeyStore

@Suite("Data migrations rebuild what the code of their time wrote")
struct MigrationTests {
    @Test("M014 gives stored reset results the codes today's code gives them")
    func resultCodesBackfill() async throws {
        try await Harness.withApp { h, client in
            var admin = try await h.enrolled("ada@acme.test", name: "Ada Admin", role: .admin, client: client)
            let owner = try await h.enrolled("olivia@acme.test", name: "Olivia Owner", role: .owner, client: client)
            let jane = try await h.enrolled("jane@acme.test", client: client)
            let (sam, _) = try await h.member("sam@acme.test", totp: false)
            let ids = [jane.id, sam, owner.id, admin.id, UUID()].map { "\"\($0)\"" }.joined(separator: ",")
            let response = try await client.api(
                .post, "/api/v1/members/mfa/reset", #"{"memberIds":[\#(ids)]}"#, session: &admin.session)
            #expect(response.status == .ok)
            func codes() async throws -> [UUID: String] {
                Dictionary(
                    uniqueKeysWithValues: try await ResetResultModel.query(on: h.db).all().map {
                        ($0.memberID, $0.code)
                    })
            }
            let written = try await codes()
            #expect(Set(written.values) == ["reset", "no_mfa", "not_permitted_role", "self", "not_found"])

            // As a database from before M014 holds them: no code.
            try await h.sql.raw("UPDATE reset_results SET code = ''").run()
            #expect(Set(try await codes().values) == [""])
            try await M014AddResetResultCodes.backfill(h.sql)
            #expect(try await codes() == written)
        }
    }

    @Test("M019 indexes existing members as the search index does")
    func searchPrefixesBackfill() async throws {
        try await Harness.withApp { h, _ in
            for (email, name) in [
                ("jane.doe@acme.test", "Jane Doe"), ("o'brien+it@acme.test", "Seán O'Brien-Smith"),
                ("li@globex.test", "李 小龍"),
            ] {
                _ = try await h.member(email, name: name, totp: false)
            }
            try await h.sql.update("members").set("mfa_status", to: MFAStatus.resetPending.rawValue).run()
            func rows() async throws -> Set<String> {
                Set(
                    try await h.sql.raw(
                        "SELECT organization_id, prefix, name, member_id, role_id, status, mfa_status FROM member_search_prefixes"
                    ).all().map {
                        [
                            try $0.decode(column: "organization_id", as: UUID.self).uuidString,
                            try $0.decode(column: "prefix", as: String.self),
                            try $0.decode(column: "name", as: String.self),
                            try $0.decode(column: "member_id", as: UUID.self).uuidString,
                            try $0.decode(column: "role_id", as: UUID.self).uuidString,
                            try $0.decode(column: "status", as: String.self),
                            try $0.decode(column: "mfa_status", as: String.self),
                        ].joined(separator: " ")
                    })
            }
            let indexed = try await rows()
            #expect(indexed.count > 20)
            #expect(indexed.allSatisfy { $0.hasSuffix(" reset_pending") })
            try await h.sql.raw("DELETE FROM member_search_prefixes").run()
            try await M019CreateMemberSearchPrefixes.indexExisting(h.sql)
            #expect(try await rows() == indexed)
        }
    }
}
