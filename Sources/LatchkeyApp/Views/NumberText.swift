extension Int {
    /// The number with a comma between each group of three digits ("10,001"), as the pages show counts: the same
    /// on every server whatever its locale, and without Foundation's number formatter (about 1 µs a number,
    /// which the Members page paid on every request for its total).
    var grouped: String {
        let digits = String(magnitude)
        var text = self < 0 ? "-" : ""
        text.reserveCapacity(digits.utf8.count * 4 / 3 + 1)
        var left = digits.utf8.count
        for digit in digits {
            text.append(digit)
            left -= 1
            if left > 0, left % 3 == 0 { text.append(",") }
        }
        return text
    }
}
