import ArgumentParser
import Dispatch
import LogStore
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `hooklog serve`: opens the data directory and runs until SIGINT or SIGTERM.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the hub on a data directory until SIGINT or SIGTERM.",
        discussion: "Network listeners arrive with the protocol work; today serve opens, recovers and retains the log."
    )

    @OptionGroup var storage: StorageOptions

    @Option(name: .customLong("retention-check-interval"), help: "Seconds between retention passes.")
    var retentionCheckInterval: Int = 300

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        var logger = Logger(label: "hooklog")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let manager = try storage.openManager(logger: logger)
        logger.info(
            "hooklog serving",
            metadata: [
                "dataDir": "\(storage.dataDir)", "topics": "\(manager.topicList.count)",
                "cleanShutdownBefore": "\(manager.openedAfterCleanShutdown)",
            ])
        let retention = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(retentionCheckInterval))
                if Task.isCancelled { break }
                await manager.enforceRetention()
            }
        }
        let signal = await SignalWaiter.waitForTermination()
        logger.info("shutting down", metadata: ["signal": "\(signal)"])
        retention.cancel()
        await manager.close()
        logger.info("stopped cleanly")
    }
}

/// Waits for SIGINT or SIGTERM without killing the process.
enum SignalWaiter {
    static func waitForTermination() async -> Int32 {
        await withCheckedContinuation { continuation in
            let queue = DispatchQueue(label: "hooklog.signals")
            let box = SignalSources()
            for number in [SIGINT, SIGTERM] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler {
                    guard box.fire() else { return }
                    continuation.resume(returning: number)
                }
                source.resume()
                box.sources.append(source)
            }
        }
    }

    /// Keeps the signal sources alive and lets only the first signal resume.
    final class SignalSources: @unchecked Sendable {
        // Touched only on the signals queue, or before any source is resumed.
        var sources: [any DispatchSourceSignal] = []
        private var fired = false
        func fire() -> Bool {
            defer { fired = true }
            return !fired
        }
    }
}
