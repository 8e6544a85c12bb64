import FluentKit
import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// Audit log (page, exports, API), organization settings and the demo mailbox.
struct AdminWebController {
    let services: AppServices

    func register(on group: RouterGroup<OrgMemberContext>) {
        group.get("/audit", use: auditPage)
        group.get("/audit/export.csv", use: exportCSV)
        group.get("/audit/export.jsonl", use: exportJSONLines)
        group.get("/api/v1/audit-events", use: auditAPI)
        group.get("/settings", use: settingsPage)
        group.post("/settings", use: saveSettings)
        group.get("/mailbox", use: mailbox)
    }

    static let auditKeys = ["action", "actor", "target", "result", "from", "to", "limit"]

    func auditFilter(_ request: Request) throws -> AuditQuery.Filter {
        let q = request.uri.queryParameters
        return try AuditQuery.Filter(
            action: q.get("action"), actor: q.get("actor"), target: q.get("target"), result: q.get("result"),
            from: q.get("from") ?? q.get("after"), to: q.get("to") ?? q.get("before"), limit: q.get("limit"))
    }

    @Sendable func auditPage(_ request: Request, context: OrgMemberContext) async throws -> Response {
        try context.require(.auditView)
        let filter = try auditFilter(request)
        let cursor = request.uri.queryParameters.get("cursor")
        let (events, next) = try await AuditQuery(services: services).page(
            organizationID: context.auth.organizationID, filter: filter, cursor: cursor)
        var query: [String: String] = [:]
        for key in Self.auditKeys { query[key] = request.uri.queryParameters.get(key) }
        return HTMLResponse.make(AdminPages.audit(auth: context.auth, events: events, next: next, query: query))
    }

    func export(
        _ request: Request, context: OrgMemberContext, header: String, contentType: String, ext: String,
        line: @escaping @Sendable (AuditEventModel) -> String
    ) async throws -> Response {
        try context.require(.auditView)
        let filter = try auditFilter(request)
        var text = header
        try await AuditQuery(services: services).all(organizationID: context.auth.organizationID, filter: filter) {
            events in
            for event in events { text += line(event) }
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: contentType,
                .contentDisposition: "attachment; filename=\"audit-log.\(ext)\"",
            ], body: .init(byteBuffer: .init(string: text)))
    }

    @Sendable func exportCSV(_ request: Request, context: OrgMemberContext) async throws -> Response {
        try await export(
            request, context: context, header: AuditQuery.csvHeader, contentType: "text/csv; charset=utf-8", ext: "csv",
            line: AuditQuery.csvLine)
    }

    @Sendable func exportJSONLines(_ request: Request, context: OrgMemberContext) async throws -> Response {
        try await export(
            request, context: context, header: "", contentType: "application/x-ndjson", ext: "jsonl",
            line: { [encoder = AuditQuery.lineEncoder()] in AuditQuery.jsonLine($0, encoder: encoder) })
    }

    struct AuditList: Encodable {
        var events: [AuditQuery.EventJSON]
        var nextCursor: String?
    }

    @Sendable func auditAPI(_ request: Request, context: OrgMemberContext) async throws -> Response {
        try context.require(.auditView)
        let (events, next) = try await AuditQuery(services: services).page(
            organizationID: context.auth.organizationID, filter: try auditFilter(request),
            cursor: request.uri.queryParameters.get("cursor"))
        return JSONResponse.make(AuditList(events: events.map(AuditQuery.EventJSON.init), nextCursor: next))
    }

    // MARK: Settings

    @Sendable func settingsPage(_ request: Request, context: OrgMemberContext) async throws -> Response {
        try context.require(.orgSettings)
        let organization = try await OrganizationModel.find(context.auth.organizationID, on: services.db)!
        let notice = request.uri.queryParameters.get("notice") == "saved" ? "Settings saved." : nil
        return HTMLResponse.make(
            AdminPages.settings(auth: context.auth, organization: organization, notice: notice, error: nil))
    }

    @Sendable func saveSettings(_ request: Request, context: OrgMemberContext) async throws -> Response {
        try context.require(.orgSettings)
        let form = try await Body.form(from: request, context: context)
        let organization = try await OrganizationModel.find(context.auth.organizationID, on: services.db)!
        func number(_ key: String, _ range: ClosedRange<Int>, _ label: String) throws -> Int {
            guard let value = form[key].flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }), range.contains(value)
            else {
                throw LatchkeyError.badRequest(
                    "invalid_setting",
                    "\(label) must be a whole number from \(range.lowerBound) to \(range.upperBound).")
            }
            return value
        }
        let requireMFA = form["requireMFA"] == "on"
        let notifyOwners = form["notifyOwners"] == "on"
        let stepUp: Int
        let lifetime: Int
        let idle: Int
        do {
            stepUp = try number("stepUpMinutes", 1...60, "Step-up window") * 60
            lifetime = try number("sessionHours", 1...720, "Session lifetime") * 3600
            idle = try number("idleMinutes", 5...1440, "Idle timeout") * 60
        } catch let error as LatchkeyError {
            return HTMLResponse.make(
                AdminPages.settings(auth: context.auth, organization: organization, notice: nil, error: error.message),
                status: .badRequest)
        }
        var changes: [String] = []
        if organization.requireMFA != requireMFA {
            changes.append("require_mfa: \(organization.requireMFA) → \(requireMFA)")
        }
        if organization.stepUpWindowSeconds != stepUp {
            changes.append("step_up_window_seconds: \(organization.stepUpWindowSeconds) → \(stepUp)")
        }
        if organization.sessionLifetimeSeconds != lifetime {
            changes.append("session_lifetime_seconds: \(organization.sessionLifetimeSeconds) → \(lifetime)")
        }
        if organization.idleTimeoutSeconds != idle {
            changes.append("idle_timeout_seconds: \(organization.idleTimeoutSeconds) → \(idle)")
        }
        if organization.notifyOwnersOnReset != notifyOwners {
            changes.append("notify_owners_on_reset: \(organization.notifyOwnersOnReset) → \(notifyOwners)")
        }
        if !changes.isEmpty {
            organization.requireMFA = requireMFA
            organization.stepUpWindowSeconds = stepUp
            organization.sessionLifetimeSeconds = lifetime
            organization.idleTimeoutSeconds = idle
            organization.notifyOwnersOnReset = notifyOwners
            try await organization.save(on: services.db)
            try await services.audit.append(
                context.auth.actor(
                    action: .settingsChanged, result: .success, reason: changes.joined(separator: "; "),
                    request: request.meta(requestID: context.requestID, ip: context.remoteIP)
                ).withoutTarget,
                at: services.now, on: services.db)
        }
        return .redirect(to: "/settings?notice=saved", type: .normal)
    }

    // MARK: Mailbox

    @Sendable func mailbox(_ request: Request, context: OrgMemberContext) async throws -> Response {
        guard services.config.demoMode else { throw LatchkeyError.notFound("There is nothing here.") }
        try context.require(.membersView)
        let messages = try await OutboxMessageModel.query(on: services.db)
            .filter(\.$organizationID == context.auth.organizationID).sort(\.$createdAt, .descending).limit(200).all()
        return HTMLResponse.make(AdminPages.mailbox(auth: context.auth, messages: messages))
    }
}

extension AuditEntry {
    /// The same event without a target (for organization-wide actions).
    var withoutTarget: AuditEntry {
        var copy = self
        copy.targetID = nil
        copy.targetEmail = ""
        return copy
    }
}
