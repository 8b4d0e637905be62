import Dispatcher
import Foundation
import Testing

/// A generator that always returns the same word: 0 draws the bottom of a range, `.max` the top.
struct ConstantGenerator: RandomNumberGenerator {
    let value: UInt64
    mutating func next() -> UInt64 { value }
}

/// SplitMix64, for reproducible spreads.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct RetryScheduleTests {
    @Test func defaultIsSvixLike() {
        let schedule = RetrySchedule.default
        #expect(schedule.description == "5s,5m,30m,2h,5h,10h,10h")
        #expect(schedule.maximumAttempts == 8)
        let total: Duration = schedule.delays.reduce(.zero, +)
        let expected: Int64 = 5 + 300 + 1800 + 7200 + 18_000 + 36_000 + 36_000  // ≈ 1.1 days
        #expect(total == .seconds(expected))
    }

    @Test func parsesEveryUnit() throws {
        let schedule = try RetrySchedule(parsing: "200ms,5s,5m,2h,1d")
        #expect(schedule.delays == [.milliseconds(200), .seconds(5), .seconds(300), .seconds(7200), .seconds(86_400)])
        #expect(schedule.description == "200ms,5s,5m,2h,1d")
    }

    @Test func allowsSpacesAroundCommasAndNormalizesText() throws {
        let schedule = try RetrySchedule(parsing: " 5s , 90s,\t60s, 1500ms ,0s ")
        #expect(schedule.delays == [.seconds(5), .seconds(90), .seconds(60), .milliseconds(1500), .zero])
        #expect(schedule.description == "5s,90s,1m,1500ms,0s")
        #expect(try RetrySchedule(parsing: "7d").delays == [.seconds(7 * 86_400)])
        #expect(try RetrySchedule(parsing: "168h").description == "7d")
    }

    @Test(arguments: [
        ("", "empty"),
        ("   ", "empty"),
        ("5s,,5m", "empty entry"),
        ("5s,", "empty entry"),
        (",5s", "empty entry"),
        ("-5s", "negative"),
        ("5", "no unit"),
        ("5sec", "unknown unit \"sec\""),
        ("5S", "unknown unit \"S\""),
        ("5 s", "unknown unit \" s\""),
        ("1.5s", "unknown unit \".5s\""),
        ("s", "does not start with a whole number"),
        ("+5s", "does not start with a whole number"),
        ("8d", "too large"),
        ("169h", "too large"),
        ("604800001ms", "too large"),
        ("99999999999999999999d", "too large"),
        ("9223372036854775807d", "too large"),  // overflows when scaled to milliseconds
    ])
    func rejectsBadText(text: String, problem: String) {
        let error = #expect(throws: DispatcherError.self) { try RetrySchedule(parsing: text) }
        #expect(error?.code == .invalidRetrySchedule)
        #expect(error?.message.contains(problem) == true, "\(error?.message ?? "")")
    }

    @Test func limitsTheNumberOfRetries() throws {
        #expect(
            try RetrySchedule(parsing: Array(repeating: "1s", count: 30).joined(separator: ",")).maximumAttempts == 31)
        let error = #expect(throws: DispatcherError.self) {
            try RetrySchedule(parsing: Array(repeating: "1s", count: 31).joined(separator: ","))
        }
        #expect(error?.message.contains("31 delays; the most is 30") == true)
    }

    @Test func validatesDurations() {
        #expect(throws: DispatcherError.self) { try RetrySchedule(delays: []) }
        #expect(throws: DispatcherError.self) { try RetrySchedule(delays: [.seconds(-1)]) }
        #expect(throws: DispatcherError.self) { try RetrySchedule(delays: [.seconds(8 * 86_400)]) }
        #expect(throws: DispatcherError.self) { try RetrySchedule(delays: [.microseconds(1500)]) }
        #expect(throws: Never.self) { try RetrySchedule(delays: [.milliseconds(1), .seconds(7 * 86_400)]) }
    }

    @Test func jitterStaysInTheTopFifthOfEachStep() {
        let schedule = RetrySchedule.default
        var top = ConstantGenerator(value: 0)
        var bottom = ConstantGenerator(value: .max)
        for (index, step) in schedule.delays.enumerated() {
            #expect(schedule.delay(beforeAttempt: index + 2, using: &top) == step)
            let lowest = schedule.delay(beforeAttempt: index + 2, using: &bottom)!
            let milliseconds = step.components.seconds * 1000
            #expect(lowest >= .milliseconds(milliseconds * 4 / 5) && lowest <= .milliseconds(milliseconds * 4 / 5 + 1))
        }
        var seeded = SeededGenerator(state: 42)
        var seen = Set<Duration>()
        for _ in 0..<1000 {
            let delay = schedule.delay(beforeAttempt: 2, using: &seeded)!
            #expect(delay >= .seconds(4) && delay <= .seconds(5))
            seen.insert(delay)
        }
        #expect(seen.count > 500, "the jitter should spread over the range, saw \(seen.count) values")
    }

    @Test func exhaustedAfterTheLastStep() {
        var generator = ConstantGenerator(value: 0)
        let schedule = RetrySchedule.default
        #expect(schedule.delay(beforeAttempt: 8, using: &generator) == .seconds(36_000))
        #expect(schedule.delay(beforeAttempt: 9, using: &generator) == nil)
        #expect(schedule.delay(beforeAttempt: 100, using: &generator) == nil)
        #expect(schedule.delay(beforeAttempt: 2) != nil)
    }

    @Test func retryAfterLengthensAStepUpToTheCap() throws {
        let schedule = try RetrySchedule(parsing: "5s,5m,2h")
        var generator = ConstantGenerator(value: 0)
        // Longer than the step: honoured.
        #expect(schedule.delay(beforeAttempt: 2, retryAfter: .seconds(120), using: &generator) == .seconds(120))
        // Shorter than the step: the step wins.
        #expect(schedule.delay(beforeAttempt: 3, retryAfter: .seconds(10), using: &generator) == .seconds(300))
        // Longer than the cap: capped, but never below the step itself.
        #expect(schedule.delay(beforeAttempt: 2, retryAfter: .seconds(86_400), using: &generator) == .seconds(3600))
        #expect(schedule.delay(beforeAttempt: 4, retryAfter: .seconds(86_400), using: &generator) == .seconds(7200))
        // Never revives an exhausted schedule.
        #expect(schedule.delay(beforeAttempt: 5, retryAfter: .seconds(1), using: &generator) == nil)
    }

    @Test func decodesStringOrArrayAndEncodesArray() throws {
        struct Body: Codable, Equatable { var retrySchedule: RetrySchedule }
        let fromString = try JSONDecoder().decode(Body.self, from: Data(#"{"retrySchedule": "5s, 5m,2h"}"#.utf8))
        let fromArray = try JSONDecoder().decode(Body.self, from: Data(#"{"retrySchedule": ["5s", "5m", "2h"]}"#.utf8))
        #expect(fromString == fromArray)
        #expect(fromString.retrySchedule.delays == [.seconds(5), .seconds(300), .seconds(7200)])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        #expect(
            String(decoding: try encoder.encode(fromArray), as: UTF8.self) == #"{"retrySchedule":["5s","5m","2h"]}"#)

        for bad in [
            #"{"retrySchedule": []}"#, #"{"retrySchedule": ""}"#, #"{"retrySchedule": [5000]}"#,
            #"{"retrySchedule": ["5s,5m"]}"#, #"{"retrySchedule": ["5x"]}"#, #"{"retrySchedule": 5}"#,
        ] {
            let error = #expect(throws: DispatcherError.self, "\(bad)") {
                try JSONDecoder().decode(Body.self, from: Data(bad.utf8))
            }
            #expect(error?.code == .invalidRetrySchedule)
        }
    }
}

@Suite struct RetryAfterTests {
    static let now: Int64 = 784_111_777  // Sun, 06 Nov 1994 08:49:37 GMT

    @Test func delaySeconds() {
        #expect(RetryAfter.delay("120", nowUnixSeconds: Self.now) == .seconds(120))
        #expect(RetryAfter.delay(" 0 ", nowUnixSeconds: Self.now) == .zero)
        #expect(RetryAfter.delay("99999999999999999999999", nowUnixSeconds: Self.now)! > .seconds(86_400 * 365 * 99))
    }

    @Test func allThreeHTTPDateForms() {
        // The RFC 9110 examples, all the same instant.
        for text in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            #expect(RetryAfter.delay(text, nowUnixSeconds: Self.now - 90) == .seconds(90), "\(text)")
        }
        #expect(RetryAfter.delay("Sun, 06 Nov 1994 08:49:37 GMT", nowUnixSeconds: Self.now + 10) == .zero)
        // 2000-03-01 (after a leap day in a year divisible by 400) and 2100-03-01 (no leap day).
        #expect(RetryAfter.delay("Wed, 01 Mar 2000 00:00:00 GMT", nowUnixSeconds: 951_868_800 - 1) == .seconds(1))
        #expect(RetryAfter.delay("Mon, 01 Mar 2100 00:00:00 GMT", nowUnixSeconds: 4_107_542_400 - 1) == .seconds(1))
        #expect(RetryAfter.delay("Thursday, 01-Jan-70 00:00:05 GMT", nowUnixSeconds: 0) == .seconds(5))
    }

    @Test(arguments: [
        "", "-5", "5.5", "soon", "Sun, 06 Nov 1994 08:49:37", "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun Nov 6 08:49 1994",
    ])
    func ignoresValuesThatAreNeitherForm(text: String) {
        #expect(RetryAfter.delay(text, nowUnixSeconds: Self.now) == nil)
    }
}
