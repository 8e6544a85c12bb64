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

    @Test("M011 indexes existing members as the search index does")
    func searchTermsBackfill() async throws {
        try await Harness.withApp { h, _ in
            for (email, name) in [
                ("jane.doe@acme.test", "Jane Doe"), ("o'brien+it@acme.test", "Seán O'Brien-Smith"),
                ("li@globex.test", "李 小龍"),
            ] {
                _ = try await h.member(email, name: name, totp: false)
            }
            func terms() async throws -> Set<String> {
                Set(
                    try await h.sql.raw("SELECT member_id, organization_id, term FROM member_search_terms").all().map {
                        "\(try $0.decode(column: "member_id", as: UUID.self)) \(try $0.decode(column: "organization_id", as: UUID.self)) \(try $0.decode(column: "term", as: String.self))"
                    })
            }
            let indexed = try await terms()
            #expect(indexed.count > 10)
            try await h.sql.raw("DELETE FROM member_search_terms").run()
            try await M011CreateMemberSearchTerms.indexExisting(h.sql)
            #expect(try await terms() == indexed)
        }
    }
}
