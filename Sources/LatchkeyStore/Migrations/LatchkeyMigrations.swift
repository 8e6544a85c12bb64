import FluentKit
import Foundation
import SQLKit

/// Every migration, in order. Append only: never edit or reorder a migration that has shipped.
public enum LatchkeyMigrations {
    public static let all: [any AsyncMigration] = [
        M001CreateOrganizations(),
        M002CreateRoles(),
        M003CreateMembers(),
        M004CreateTOTPCredentials(),
        M005CreateRecoveryCodes(),
        M006CreateSessions(),
        M007CreateAuditEvents(),
        M008CreateMailOutbox(),
        M009CreateResetBatches(),
        M010CreateRateLimits(),
        M011CreateMemberSearchTerms(),
        M012CreateSignInThrottles(),
        M013CreateAuditChainHeads(),
        M014AddResetResultCodes(),
        M015IndexRecentResetBatches(),
        M016AddBatchActions(),
        M017AddMailDelivery(),
        M018CreateMemberTokens(),
        M019CreateMemberSearchPrefixes(),
        M020CreateDirectoryVersions(),
        M021VersionRoles(),
        M022CreateAPITokens(),
        M023AddSCIM(),
        M024CreateWebhooks(),
        M025CreateInstanceSettings(),
        M026IndexDeliveryLog(),
        M027AddAuditChainVersion(),
        M028AddBatchCancellation(),
        M029IndexAuditBatches(),
        M030IndexSearchPrefixesByMFA(),
        M031CreateAuditHeadMoved(),
        M032AddDirectoryActivity(),
    ]
}

extension Database {
    /// Creates a non-unique index (Fluent's schema builder only makes unique constraints).
    func createIndex(_ name: String, on table: String, columns: [String]) async throws {
        guard let sql = self as? any SQLDatabase else { return }
        var builder = sql.create(index: name).on(table)
        for column in columns { builder = builder.column(column) }
        try await builder.run()
    }

    func dropIndex(_ name: String) async throws {
        guard let sql = self as? any SQLDatabase else { return }
        try await sql.drop(index: name).run()
    }
}
