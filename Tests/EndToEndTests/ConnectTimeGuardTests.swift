import Dispatcher
import Foundation
import HubServer
import LogStore
import Synchronization
import Testing

/// A resolver whose answers the test changes while the hub runs.
final class SwitchingResolver: HostResolver {
    private let answers = Mutex<[String: [IPAddress]]>([:])

    func set(_ host: String, _ addresses: [IPAddress]) { answers.withLock { $0[host] = addresses } }

    func addresses(of host: String) async throws -> [IPAddress] {
        guard let found = answers.withLock({ $0[host] }) else {
            throw DispatcherError(.hostNotResolved, "\(host) does not resolve")
        }
        return found
    }
}

/// The SSRF guard at connect time: a callback name is resolved and checked before every
/// connection, so a name that starts resolving to a refused address is never called there.
@Suite struct ConnectTimeGuardTests {
    @Test func aNameThatTurnsToARefusedAddressIsNeverCalledThere() async throws {
        // Two receivers on one port: 127.0.0.1 is allowed, 127.0.0.2 (loopback) is refused.
        let allowed = try await TestReceiver.start(host: "127.0.0.1")
        let refused = try await TestReceiver.start(host: "127.0.0.2", port: allowed.port)
        let resolver = SwitchingResolver()
        resolver.set("hooks.test", [IPAddress(127, 0, 0, 1)])
        try await TestHub.with({ configuration in
            configuration.dispatcher.allowed = [try! CIDRBlock("127.0.0.1/32")]
            configuration.dispatcher.resolver = resolver
            configuration.dispatcher.resolutionTTL = .zero
            configuration.dispatcher.retrySchedule = try! RetrySchedule(delays: Array(repeating: .milliseconds(100), count: 25))
            configuration.dispatcher.commitInterval = .milliseconds(100)
        }) { hub in
            try hub.hub.logs.createTopic("orders")
            let log = try hub.hub.logs.log(topic: "orders", partition: 0)
            let now = Date()
            _ = try await hub.hub.subscriptions.create(
                Subscription(
                    id: Subscription.makeID(), topic: "orders", url: "http://hooks.test:\(allowed.port)/hook",
                    startOffsets: [0: 0], secret: Subscription.generateSecret(), createdAt: now, updatedAt: now))
            func produce(_ text: String) async throws {
                var builder = RecordBatchBuilder()
                builder.append(key: nil, value: Array(text.utf8), headers: [], timestamp: wallClockMilliseconds())
                _ = try await log.append(try builder.build())
            }
            try await produce("first")
            try await waitFor { allowed.requests.count == 1 }
            #expect(allowed.requests.first.map { String(decoding: $0.body, as: UTF8.self) } == "first")
            #expect(allowed.requests.first?.headers["host"] == "hooks.test:\(allowed.port)")

            // The name now points at a refused address: attempts fail without connecting.
            resolver.set("hooks.test", [IPAddress(127, 0, 0, 2)])
            try await produce("second")
            try await Task.sleep(for: .milliseconds(400))
            #expect(refused.requests.isEmpty, "a refused address was called")
            #expect(allowed.requests.count == 1)

            // Back to the allowed address: the retried delivery arrives there.
            resolver.set("hooks.test", [IPAddress(127, 0, 0, 1)])
            try await waitFor { allowed.requests.count == 2 }
            #expect(allowed.requests.last.map { String(decoding: $0.body, as: UTF8.self) } == "second")
            #expect(refused.requests.isEmpty)
        }
        await allowed.stop()
        await refused.stop()
    }
}

/// Polls `condition` for up to 10 s.
func waitFor(_ condition: () -> Bool, timeout: Duration = .seconds(10)) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not met within \(timeout)")
            return
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}
