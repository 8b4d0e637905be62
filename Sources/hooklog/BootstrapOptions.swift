import ArgumentParser
import HubClient

#if canImport(Glibc)
import Glibc
#endif

/// Options of the commands that talk to a running hub over the Kafka protocol.
struct BootstrapOptions: ParsableArguments {
    @Option(help: "The hub's Kafka-protocol address HOST:PORT.")
    var bootstrap: String = "127.0.0.1:9092"

    @Option(help: "Seconds to wait for the connection and for each response.")
    var timeout: Int = 30

    func validate() throws {
        _ = try HostPort(bootstrap, option: "--bootstrap")
        guard timeout >= 1 else { throw ValidationError("--timeout must be at least 1 second") }
    }

    /// Connects to the hub.
    func connect() async throws -> HubClient {
        let address = try HostPort(bootstrap, option: "--bootstrap")
        var configuration = HubClient.Configuration(clientId: "hooklog-cli")
        configuration.connectTimeout = .seconds(timeout)
        configuration.requestTimeout = .seconds(timeout)
        return try await HubClient.connect(host: address.host, port: address.port, configuration: configuration)
    }
}

/// Prints `hooklog COMMAND: message` on stderr and returns the exit code for failures.
func commandFailure(_ command: String, _ error: any Error) -> ExitCode {
    let message = (error as? HubClientError)?.message ?? "\(error)"
    writeToStandardError("hooklog \(command): \(message)\n")
    return ExitCode.failure
}

/// Writes all of `text` to file descriptor 2.
func writeToStandardError(_ text: String) {
    writeAll(Array(text.utf8), to: 2)
}

/// Writes all of `bytes` to a file descriptor, unbuffered, retrying short writes.
func writeAll(_ bytes: [UInt8], to descriptor: Int32) {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + done, $0.count - done) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        done += n
    }
}

/// Parses `key=value` options (headers, configs).
func parseKeyValue(_ text: String, option: String) throws -> (key: String, value: String) {
    guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
        throw ValidationError("\(option) needs key=value, got '\(text)'")
    }
    return (String(text[..<equals]), String(text[text.index(after: equals)...]))
}

/// Connects, runs `body`, closes; failures go to stderr with a non-zero exit.
func withClient(
    _ options: BootstrapOptions, command: String, _ body: (HubClient) async throws -> Void
) async throws {
    let client: HubClient
    do {
        client = try await options.connect()
    } catch {
        throw commandFailure(command, error)
    }
    do {
        try await body(client)
        await client.close()
    } catch {
        await client.close()
        throw commandFailure(command, error)
    }
}
