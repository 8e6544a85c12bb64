import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// Audit log (page, exports, API), organization settings and the demo mailbox.
struct AdminWebController {
    let services: AppServices

    func register(on group: RouterGroup<OrgMemberContext>) {
        let audit = group.group().add(middleware: RequirePermissions(.auditView))
        audit.on(.get, .audit, use: auditPage)
        audit.on(.get, .auditExportCSV, use: exportCSV)
        audit.on(.get, .auditExportJSONLines, use: exportJSONLines)
        audit.on(.get, .auditEvent, use: auditEvent)
        audit.on(.get, .apiAuditEvents, use: auditAPI)
        let settings = group.group().add(middleware: RequirePermissions(.orgSettings))
        settings.on(.get, .settings, use: settingsPage)
        settings.on(.post, .settings, use: saveSettings)
        group.group().add(middleware: RequirePermissions(.membersView)).on(.get, .mailbox, use: mailbox)
    }

    static let auditKeys = ["action", "actor", "target", "result", "from", "to", "limit", "batch"]

    func auditFilter(_ request: Request) throws -> AuditStore.Filter {
        let q = request.uri.queryParameters
        return try AuditStore.Filter(
            action: q.get("action"), actor: q.get("actor"), target: q.get("target"), result: q.get("result"),
            from: q.get("from") ?? q.get("after"), to: q.get("to") ?? q.get("before"), limit: q.get("limit"),
            batch: q.get("batch"))
    }

    @Sendable func auditPage(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let filter = try auditFilter(request)
        let parameters = request.uri.queryParameters
        let page = try await services.store.audit.page(
            organizationID: context.auth.organizationID, filter: filter, older: parameters.get("cursor"),
            newer: parameters.get("newer"))
        var query: [String: String] = [:]
        for key in Self.auditKeys { query[key] = parameters.get(key) }
        return HTMLResponse.make(
            AdminPages.audit(
                auth: context.auth, events: page.events, next: page.next, previous: page.previous, query: query))
    }

    /// One event in full (of the viewer's organization; any other id is not found).
    @Sendable func auditEvent(_ request: Request, context: OrgMemberContext) async throws -> Response {
        guard let id = context.parameters.get("id", as: UUID.self),
            let event = try await services.store.audit.event(id, organizationID: context.auth.organizationID)
        else { throw LatchkeyError.notFound("No such audit event.") }
        var batchResults = false
        if let batch = event.batchID,
            context.auth.permissions.isSuperset(of: [.membersView, .membersManage, .membersResetMFA])
        {
            batchResults =
                try await services.store.resets.find(batch, organizationID: context.auth.organizationID) != nil
        }
        return HTMLResponse.make(AdminPages.auditEvent(auth: context.auth, event: event, batchResults: batchResults))
    }

    func export(
        _ request: Request, context: OrgMemberContext, header: String, contentType: String, ext: String,
        line: @escaping @Sendable (AuditEvent) -> String
    ) async throws -> Response {
        let filter = try auditFilter(request)
        var text = header
        try await services.store.audit.all(organizationID: context.auth.organizationID, filter: filter) { events in
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
            request, context: context, header: AuditExport.csvHeader, contentType: "text/csv; charset=utf-8",
            ext: "csv", line: AuditExport.csvLine)
    }

    @Sendable func exportJSONLines(_ request: Request, context: OrgMemberContext) async throws -> Response {
        try await export(
            request, context: context, header: "", contentType: "application/x-ndjson", ext: "jsonl",
            line: { [encoder = AuditExport.lineEncoder()] in AuditExport.jsonLine($0, encoder: encoder) })
    }

    struct AuditList: Encodable {
        var events: [AuditExport.EventJSON]
        var nextCursor: String?
    }

    @Sendable func auditAPI(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let (events, next) = try await services.store.audit.page(
            organizationID: context.auth.organizationID, filter: try auditFilter(request),
            cursor: request.uri.queryParameters.get("cursor"))
        return JSONResponse.make(AuditList(events: events.map(AuditExport.EventJSON.init), nextCursor: next))
    }

    // MARK: Settings

    func organization(_ context: OrgMemberContext) async throws -> Organization {
        guard let organization = try await services.store.organizations.find(context.auth.organizationID) else {
            throw LatchkeyError.notFound("Your organization is gone.")
        }
        return organization
    }

    @Sendable func settingsPage(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let notice = Flash.read(request)?.key == "saved" ? "Settings saved." : nil
        return HTMLResponse.make(
            AdminPages.settings(
                auth: context.auth, settings: try await organization(context).settings, notice: notice, error: nil))
    }

    @Sendable func saveSettings(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let form = try await Body.form(from: request, context: context)
        let organization = try await organization(context)
        func number(_ key: String, _ range: ClosedRange<Int>, _ label: String) throws -> Int {
            guard let value = form[key].flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }), range.contains(value)
            else {
                throw LatchkeyError.badRequest(
                    "invalid_setting",
                    "\(label) must be a whole number from \(range.lowerBound) to \(range.upperBound).")
            }
            return value
        }
        let settings: Organization.Settings
        do {
            settings = Organization.Settings(
                requireMFA: form["requireMFA"] == "on",
                stepUpWindowSeconds: try number("stepUpMinutes", 1...60, "Step-up window") * 60,
                sessionLifetimeSeconds: try number("sessionHours", 1...720, "Session lifetime") * 3600,
                idleTimeoutSeconds: try number("idleMinutes", 5...1440, "Idle timeout") * 60,
                notifyOwnersOnReset: form["notifyOwners"] == "on")
        } catch let error as LatchkeyError {
            return HTMLResponse.make(
                AdminPages.settings(
                    auth: context.auth, settings: organization.settings, notice: nil, error: error.message),
                error: error)
        }
        do {
            try await OrganizationService(services: services).updateSettings(
                settings, of: organization, by: context.auth, confirmation: form["code"], meta: context.meta)
        } catch let error as LatchkeyError
            where form["confirming"] == "1" || error == OrganizationService.confirmationRequired
        {
            // A weakening: the confirmation names each effect and asks for a code; a wrong code asks again.
            let effects = OrganizationService.weakenings(from: organization.settings, to: settings)
            guard !effects.isEmpty else { throw error }
            let page = AdminPages.confirmSettings(
                auth: context.auth, proposed: settings, effects: effects,
                error: error == OrganizationService.confirmationRequired && form["confirming"] != "1"
                    ? nil : error.message)
            return error == OrganizationService.confirmationRequired && form["confirming"] != "1"
                ? HTMLResponse.make(page) : HTMLResponse.make(page, error: error)
        }
        return Flash.redirect(to: Route.settings.path, notice: "saved", secure: services.config.secureCookies)
    }

    // MARK: Mailbox

    @Sendable func mailbox(_ request: Request, context: OrgMemberContext) async throws -> Response {
        guard services.config.demoMode else { throw LatchkeyError.notFound("There is nothing here.") }
        let messages = try await services.store.outbox.recent(organizationID: context.auth.organizationID, limit: 200)
        return HTMLResponse.make(AdminPages.mailbox(auth: context.auth, messages: messages))
    }
}
