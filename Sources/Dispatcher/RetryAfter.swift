/// Reads the `Retry-After` response header (RFC 9110, section 10.2.3) that 429 and 503 answers
/// carry.
public enum RetryAfter {
    /// The delay a `Retry-After` value asks for.
    ///
    /// Accepts delay-seconds (`120`) and all three HTTP-date forms a recipient must accept:
    /// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`)
    /// and asctime (`Sun Nov  6 08:49:37 1994`).
    /// - Parameters:
    ///   - value: the header value.
    ///   - nowUnixSeconds: the current time, to turn a date into a delay.
    /// - Returns: the delay (zero for a date in the past; huge values saturate at about 100 years),
    ///   or `nil` when the value is neither form — the caller then follows its schedule.
    public static func delay(_ value: some StringProtocol, nowUnixSeconds: Int64) -> Duration? {
        let text = value.trimmingASCIISpaces()
        guard !text.isEmpty else { return nil }
        if text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            // More digits than this is longer than anyone means; saturate rather than overflow.
            guard text.utf8.count <= 10, let seconds = Int64(text) else { return .seconds(saturation) }
            return .seconds(min(seconds, saturation))
        }
        guard let date = parseHTTPDate(text) else { return nil }
        return .seconds(min(max(0, date - nowUnixSeconds), saturation))
    }

    private static let saturation: Int64 = 100 * 366 * 86_400

    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let shortDays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    private static let longDays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    /// Unix seconds of an HTTP-date; `nil` when `text` is not one.
    static func parseHTTPDate(_ text: String) -> Int64? {
        let lower = text.lowercased()
        let words = lower.split(separator: " ", omittingEmptySubsequences: true)
        // IMF-fixdate: "sun," "06" "nov" "1994" "08:49:37" "gmt"
        if words.count == 6, words[0].hasSuffix(","), shortDays.contains(String(words[0].dropLast())),
            words[5] == "gmt", words[1].count == 2, let day = Int(words[1]),
            let month = months.firstIndex(of: String(words[2])), words[3].count == 4, let year = Int(words[3])
        {
            return unixSeconds(year: year, month: month + 1, day: day, time: words[4])
        }
        // RFC 850: "sunday," "06-nov-94" "08:49:37" "gmt"
        if words.count == 4, words[0].hasSuffix(","), longDays.contains(String(words[0].dropLast())),
            words[3] == "gmt"
        {
            let parts = words[1].split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0].count == 2, let day = Int(parts[0]),
                let month = months.firstIndex(of: String(parts[1])), parts[2].count == 2, let twoDigits = Int(parts[2])
            else { return nil }
            // RFC 9110: a two-digit year more than 50 years in the future is the most recent past
            // year with those digits. Without a calendar here, 70–99 → 19xx and 00–69 → 20xx is the
            // same rule for any date before 2070.
            let year = twoDigits >= 70 ? 1900 + twoDigits : 2000 + twoDigits
            return unixSeconds(year: year, month: month + 1, day: day, time: words[2])
        }
        // asctime: "sun" "nov" "6" "08:49:37" "1994" (the day is space-padded to two characters)
        if words.count == 5, shortDays.contains(String(words[0])), let month = months.firstIndex(of: String(words[1])),
            (1...2).contains(words[2].count), let day = Int(words[2]), words[4].count == 4, let year = Int(words[4])
        {
            return unixSeconds(year: year, month: month + 1, day: day, time: words[3])
        }
        return nil
    }

    private static func unixSeconds(year: Int, month: Int, day: Int, time: Substring) -> Int64? {
        let parts = time.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ $0.count == 2 }),
            let hour = Int(parts[0]), let minute = Int(parts[1]), let second = Int(parts[2]),
            hour < 24, minute < 60, second <= 60,  // 60: a leap second
            (1...daysInMonth(year: year, month: month)).contains(day)
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        return Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    private static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (the usual era-based conversion).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
