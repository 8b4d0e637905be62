import LogStore

/// Concurrent producers appending to one log.
public enum Appenders {
    /// Runs `appenders` concurrent tasks, each appending its own batch `appendsEach` times in a
    /// row (the next append starts when the previous one is acknowledged), and returns when all
    /// are acknowledged.
    public static func run(log: Log, batches: EventBatches, appenders: Int, appendsEach: Int) async throws {
        if appenders == 1 {
            let batch = batches.batches[0]
            for _ in 0..<appendsEach { _ = try await log.append(batch) }
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for appender in 0..<appenders {
                let batch = batches.batches[appender % batches.batches.count]
                group.addTask {
                    for _ in 0..<appendsEach { _ = try await log.append(batch) }
                }
            }
            try await group.waitForAll()
        }
    }
}
