import Foundation

/// How times read in pages and mails.
enum DateText {
    /// UTC time, e.g. "2026-11-29 10:04 UTC".
    ///
    /// Worked out from the Unix time (the proleptic Gregorian calendar, days to civil date as in Howard Hinnant's
    /// `civil_from_days`): a bulk reset writes one into each of thousands of notices, and a `Calendar` and
    /// `String(format:)` per call were a twentieth of its time. A test holds it to Foundation's calendar.
    static func short(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        var text = ""
        text.reserveCapacity(20)
        append(year, width: 4, to: &text)
        text += "-"
        append(month, width: 2, to: &text)
        text += "-"
        append(day, width: 2, to: &text)
        text += " "
        append(secondOfDay / 3_600, width: 2, to: &text)
        text += ":"
        append(secondOfDay % 3_600 / 60, width: 2, to: &text)
        text += " UTC"
        return text
    }

    /// Year, month (1–12) and day (1–31) of the day `days` after 1970-01-01 (also `JSONText`'s dates).
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// `value` in decimal, zero-padded to `width` digits (as `%0Nd` does for the non-negative numbers here).
    private static func append(_ value: Int, width: Int, to text: inout String) {
        let digits = String(value)
        if digits.count < width { text += String(repeating: "0", count: width - digits.count) }
        text += digits
    }
}
