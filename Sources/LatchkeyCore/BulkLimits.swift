/// The numbers the Manage Members page and the server share: one source, rendered into the page for its
/// script and checked again by the server.
public enum BulkLimits {
    /// Largest number of members one request may name.
    public static let maximumPerRequest = 10_000
    /// Requests naming more members than this run as a background job.
    public static let synchronousLimit = 200
    /// Members handled per transaction.
    public static let chunkSize = 1_000
    /// Above this many members, the administrator must type the number to confirm.
    public static let typedConfirmationAbove = 25
    /// The longest reason or ticket reference an action may record.
    public static let maximumReasonLength = 500
    /// The page sizes the Members table offers, and its default.
    public static let pageSizes = [10, 25, 50, 100]
    public static let defaultPageSize = 50
    /// Members per page of a batch's results.
    public static let resultsPageSize = 100

    /// The largest invitation request body (10,000 lines of email, name and role).
    public static let invitationBodyBytes = 4 * 1024 * 1024
}
