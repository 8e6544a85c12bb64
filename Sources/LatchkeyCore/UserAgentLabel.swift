import Foundation

/// A user agent as people say it — "Chrome on macOS", "Safari on iOS", "curl" — for session lists and the audit
/// log. A small parser of the common browsers and systems, on this machine only (no lookup service); anything it
/// does not know is "Unknown browser" (on what it recognises of the system), never the raw string cut short.
public enum UserAgentLabel {
    public static func describe(_ userAgent: String) -> String {
        let ua = userAgent.trimmingCharacters(in: .whitespaces)
        guard !ua.isEmpty else { return "Unknown device" }
        let lowered = ua.lowercased()
        for (marker, name) in tools where lowered.hasPrefix(marker) { return name }
        let browser = self.browser(ua)
        guard let system = system(ua) else { return browser }
        return "\(browser) on \(system)"
    }

    /// Clients that are not browsers, by how their agent string starts.
    static let tools: [(String, String)] = [
        ("curl/", "curl"), ("wget/", "Wget"), ("python-requests/", "Python requests"), ("python-urllib", "Python"),
        ("go-http-client/", "Go HTTP client"), ("okhttp/", "OkHttp"), ("postmanruntime/", "Postman"),
        ("insomnia/", "Insomnia"), ("node-fetch", "Node.js"), ("axios/", "Node.js"), ("latchkey", "Latchkey"),
    ]

    /// The browser, checked most specific first: Edge, Opera and Samsung Internet also say "Chrome", Chrome also
    /// says "Safari", and browsers on iOS name themselves with their own markers.
    static func browser(_ ua: String) -> String {
        let rules: [(String, String)] = [
            ("Edg/", "Edge"), ("EdgA/", "Edge"), ("EdgiOS/", "Edge"), ("Edge/", "Edge"), ("OPR/", "Opera"),
            ("Opera", "Opera"), ("SamsungBrowser/", "Samsung Internet"), ("Vivaldi/", "Vivaldi"),
            ("YaBrowser/", "Yandex Browser"), ("FxiOS/", "Firefox"), ("Firefox/", "Firefox"), ("CriOS/", "Chrome"),
            ("HeadlessChrome/", "Headless Chrome"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"),
            ("Version/", "Safari"), ("MSIE ", "Internet Explorer"), ("Trident/", "Internet Explorer"),
        ]
        for (marker, name) in rules where ua.contains(marker) {
            // "Version/" alone is Safari only where Safari says so.
            if marker == "Version/" && !ua.contains("Safari/") { continue }
            return name
        }
        return "Unknown browser"
    }

    /// The operating system, or nil when the agent names none.
    static func system(_ ua: String) -> String? {
        let rules: [(String, String)] = [
            ("iPhone", "iOS"), ("iPod", "iOS"), ("iPad", "iPadOS"), ("Android", "Android"), ("CrOS", "ChromeOS"),
            ("Windows Phone", "Windows Phone"), ("Windows", "Windows"), ("Macintosh", "macOS"),
            ("Mac OS X", "macOS"), ("Ubuntu", "Ubuntu"), ("Fedora", "Fedora"), ("Linux", "Linux"),
            ("FreeBSD", "FreeBSD"),
        ]
        for (marker, name) in rules where ua.contains(marker) { return name }
        return nil
    }
}
