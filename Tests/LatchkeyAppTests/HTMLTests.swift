import Testing

@testable import LatchkeyApp

@Suite("HTML escaping")
struct HTMLTests {
    @Test("the five special characters are escaped wherever they stand, every other character is kept")
    func escapes() {
        #expect(HTML.escape("") == "")
        #expect(HTML.escape("Seán 李小龍 👩🏽‍💻") == "Seán 李小龍 👩🏽‍💻")
        #expect(HTML.escape("<script>") == "&lt;script&gt;")
        #expect(HTML.escape("é&ü\"李'<>") == "é&amp;ü&quot;李&#39;&lt;&gt;")
        #expect(HTML.escape("a&&b") == "a&amp;&amp;b")
        let name = "O'Brien <o@x> & \"Co\""
        let html: HTML = "<p title=\"\(name)\">\(name)</p>"
        #expect(
            html.raw
                == "<p title=\"O&#39;Brien &lt;o@x&gt; &amp; &quot;Co&quot;\">O&#39;Brien &lt;o@x&gt; &amp; &quot;Co&quot;</p>"
        )
    }
}
