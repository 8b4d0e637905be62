/// The delays between a delivery's attempts: after the first attempt fails, wait `delays[0]`,
/// try again; after that fails, wait `delays[1]`; and so on. When the last delay's attempt fails,
/// the delivery is exhausted (it goes to `__deadletters`).
///
/// The text form is comma-separated durations, each a whole number and a unit (`ms`, `s`, `m`,
/// `h`, `d`): `5s,5m,30m,2h,5h,10h,10h` is the default, like Svix's: 8 attempts over about 1.1
/// days. In JSON it decodes from that string or from an array of such strings
/// (`["5s", "5m"]`), and encodes as the array.
///
/// ## Jitter
/// Each delay is drawn uniformly from `[(1 − jitterFraction) · d, d]`: full jitter over the top
/// fifth of the step. Not plain full jitter (uniform in `[0, d]`): it is ideal for clients that
/// contend for one resource and only the cap matters, but here the schedule is a promise to the
/// subscriber — full jitter could retry a 10-hour step after a minute and would halve the time the
/// schedule spans on average. Not decorrelated jitter either (each delay random between a base and
/// three times the previous one): it ignores the configured steps altogether. The top fifth still
/// spreads out a burst of deliveries that failed together (a 5 s step over a second, a 30 min step
/// over 6 min), and a delay is never longer than its step, so the last attempt happens within the
/// documented span (unless the receiver asks for more with Retry-After).
public struct RetrySchedule: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The delays before the second, third, … attempt.
    public let delays: [Duration]

    /// The most delays (retries) a schedule may have.
    public static let maximumRetries = 30
    /// The longest one delay may be.
    public static let maximumDelay = Duration.seconds(7 * 86_400)
    /// The share of each step that jitter may take off: a delay lies in `[0.8 · d, d]`.
    public static let jitterFraction = 0.2
    /// The longest a Retry-After answer can push a retry beyond the schedule's own step.
    ///
    /// Receivers rarely mean more than this, a wrong year in an HTTP-date can ask for decades, and
    /// a waiting delivery holds back its subscription's cursor; a receiver that still is not ready
    /// is probed again after an hour.
    public static let maximumRetryAfter = Duration.seconds(3600)

    /// Svix's schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    public static let `default` = RetrySchedule(
        validated: [
            .seconds(5), .seconds(300), .seconds(1800), .seconds(7200), .seconds(18_000), .seconds(36_000),
            .seconds(36_000),
        ]
    )

    /// A schedule with the given delays.
    /// - Throws: ``DispatcherError`` with code ``DispatcherError/Code/invalidRetrySchedule`` when
    ///   `delays` is empty, longer than ``maximumRetries``, or has a delay that is negative, finer
    ///   than a millisecond or longer than ``maximumDelay``.
    public init(delays: [Duration]) throws {
        try Self.validateCount(delays.count)
        for delay in delays {
            guard delay >= .zero else { throw Self.invalid("a delay is negative (\(delay))") }
            guard delay <= Self.maximumDelay else {
                throw Self.invalid("a delay of \(Self.format(delay)) is longer than the maximum of 7d")
            }
            guard Self.milliseconds(delay) != nil else {
                throw Self.invalid("a delay of \(delay) is not a whole number of milliseconds")
            }
        }
        self.delays = delays
    }

    /// Parses the text form, such as `5s,5m,30m` (spaces around the commas are allowed).
    /// - Throws: ``DispatcherError`` with code ``DispatcherError/Code/invalidRetrySchedule``.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingASCIISpaces()
        guard !trimmed.isEmpty else {
            throw Self.invalid("it is empty; give comma-separated delays such as 5s,5m,30m")
        }
        try self.init(parsingEach: trimmed.split(separator: ",", omittingEmptySubsequences: false).map(String.init))
    }

    private init(parsingEach items: [String]) throws {
        try Self.validateCount(items.count)
        let delays = try items.map { try Self.parseDelay($0) }
        try self.init(delays: delays)
    }

    private init(validated delays: [Duration]) {
        self.delays = delays
    }

    /// The most attempts a delivery gets: the first plus one per delay.
    public var maximumAttempts: Int { delays.count + 1 }

    /// The wait before `attempt` (2 for the first retry), jittered, and lengthened when the
    /// receiver's Retry-After asks for more.
    /// - Parameters:
    ///   - attempt: the number of the attempt about to be scheduled, from 2 to ``maximumAttempts``.
    ///   - retryAfter: the delay the last response's Retry-After asked for (see ``RetryAfter``);
    ///     the result is at least this, up to ``maximumRetryAfter``.
    ///   - generator: the source of jitter (a seeded one in tests).
    /// - Returns: `nil` when the schedule is exhausted (`attempt` > ``maximumAttempts``).
    public func delay(
        beforeAttempt attempt: Int,
        retryAfter: Duration? = nil,
        using generator: inout some RandomNumberGenerator
    ) -> Duration? {
        precondition(attempt >= 2, "the first attempt has no delay; retries start at attempt 2")
        guard attempt - 2 < delays.count else { return nil }
        let step = Self.milliseconds(delays[attempt - 2]) ?? 0
        // 53 random bits as a fraction in [0, 1): a generator word of 0 gives the full step.
        let unit = Double(generator.next() >> 11) * 0x1p-53
        let jitter = Int64((Double(step) * Self.jitterFraction * unit).rounded(.down))
        var delay = Duration.milliseconds(step - jitter)
        if let retryAfter {
            delay = max(delay, min(retryAfter, Self.maximumRetryAfter))
        }
        return delay
    }

    /// ``delay(beforeAttempt:retryAfter:using:)`` with the system's random number generator.
    public func delay(beforeAttempt attempt: Int, retryAfter: Duration? = nil) -> Duration? {
        var generator = SystemRandomNumberGenerator()
        return delay(beforeAttempt: attempt, retryAfter: retryAfter, using: &generator)
    }

    /// The text form: `5s,5m,30m,2h,5h,10h,10h`.
    public var description: String {
        delays.map(Self.format).joined(separator: ",")
    }

    // MARK: - Codable

    /// Decodes `"5s,5m"` or `["5s", "5m"]`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            try self.init(parsing: text)
        } else if let items = try? container.decode([String].self) {
            guard !items.isEmpty else { throw Self.invalid("it is empty; give delays such as [\"5s\", \"5m\"]") }
            try self.init(parsingEach: items)
        } else {
            throw Self.invalid(
                "it must be a string of comma-separated delays (\"5s,5m\") or an array of them ([\"5s\", \"5m\"])"
            )
        }
    }

    /// Encodes `["5s", "5m"]`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(delays.map(Self.format))
    }

    // MARK: - Durations as text

    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// Parses one delay: digits, then `ms`, `s`, `m`, `h` or `d`.
    static func parseDelay(_ item: String) throws -> Duration {
        let text = item.trimmingASCIISpaces()
        guard !text.isEmpty else {
            throw invalid("it has an empty entry; separate delays with single commas, as in 5s,5m")
        }
        if text.hasPrefix("-") { throw invalid("\"\(text)\" is negative; delays are 0 or more") }
        let digits = text.prefix(while: { $0.isASCII && $0.isNumber })
        let suffix = text.dropFirst(digits.count)
        guard !digits.isEmpty else {
            throw invalid("\"\(text)\" does not start with a whole number; write delays like 200ms, 5s, 5m, 2h, 1d")
        }
        guard let unit = units.first(where: { $0.suffix == suffix }) else {
            throw invalid(
                "\"\(text)\" has \(suffix.isEmpty ? "no unit" : "the unknown unit \"\(suffix)\""); "
                    + "use ms, s, m, h or d (as in 200ms, 5s, 5m, 2h, 1d)"
            )
        }
        guard let count = Int64(digits) else {
            throw invalid("\"\(text)\" is too large; the longest delay is 7d")
        }
        let (milliseconds, overflow) = count.multipliedReportingOverflow(by: unit.milliseconds)
        guard !overflow, milliseconds <= maximumDelayMilliseconds else {
            throw invalid("\"\(text)\" is too large; the longest delay is 7d")
        }
        return .milliseconds(milliseconds)
    }

    private static let maximumDelayMilliseconds: Int64 = 7 * 86_400_000

    /// The shortest text for a delay: the largest unit that divides it evenly.
    static func format(_ delay: Duration) -> String {
        guard let milliseconds = milliseconds(delay) else { return "\(delay)" }
        if milliseconds == 0 { return "0s" }
        for unit in units.reversed() where milliseconds % unit.milliseconds == 0 {
            return "\(milliseconds / unit.milliseconds)\(unit.suffix)"
        }
        return "\(milliseconds)ms"
    }

    /// The delay in whole milliseconds; `nil` when it has a finer part or is out of range.
    static func milliseconds(_ delay: Duration) -> Int64? {
        let (seconds, attoseconds) = delay.components
        guard attoseconds % 1_000_000_000_000_000 == 0 else { return nil }
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return nil }
        return scaled + attoseconds / 1_000_000_000_000_000
    }

    private static func validateCount(_ count: Int) throws {
        guard count > 0 else { throw invalid("it is empty; give comma-separated delays such as 5s,5m,30m") }
        guard count <= maximumRetries else {
            throw invalid("it has \(count) delays; the most is \(maximumRetries)")
        }
    }

    private static func invalid(_ problem: String) -> DispatcherError {
        DispatcherError(.invalidRetrySchedule, "invalid retry schedule: \(problem)")
    }
}
