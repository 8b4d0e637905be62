import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Options of the commands that talk to a running hub's HTTP API.
struct HTTPOptions: ParsableArguments {
    @Option(help: "The hub's HTTP API base URL (default: $HOOKLOG_URL or http://127.0.0.1:8080).")
    var url: String?

    @Option(help: "API key as ID:SECRET (default: $HOOKLOG_API_KEY).")
    var apiKey: String?

    @Flag(help: "Print the API's JSON instead of a table.")
    var json = false

    @Option(help: "Seconds to wait for each response.")
    var timeout: Int = 30

    var baseURL: String {
        let text = url ?? ProcessInfo.processInfo.environment["HOOKLOG_URL"] ?? "http://127.0.0.1:8080"
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    func validate() throws {
        guard let components = URLComponents(string: baseURL), components.scheme == "http" || components.scheme == "https",
            components.host != nil
        else { throw ValidationError("--url needs an http(s) URL such as http://127.0.0.1:8080, got '\(baseURL)'") }
        guard timeout >= 1 else { throw ValidationError("--timeout must be at least 1 second") }
    }

    /// Sends one request; returns the status and body.
    /// - Throws: ``HTTPAPIFailure`` for an error answer (with the API's code and message) or
    ///   a connection failure.
    func send(
        _ method: HTTPMethod, _ path: String, json body: (any Encodable)? = nil, rawBody: [UInt8]? = nil,
        headers: [(String, String)] = []
    ) async throws -> (status: Int, body: [UInt8]) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let key = apiKey ?? ProcessInfo.processInfo.environment["HOOKLOG_API_KEY"], !key.isEmpty {
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try encoder.encode(body)))
        } else if let rawBody {
            request.body = .bytes(ByteBuffer(bytes: rawBody))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(Int64(timeout)))
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw HTTPAPIFailure(message: "cannot reach \(baseURL): \(error)")
        }
        let data = Array(bytes.readableBytesView)
        guard (200..<300).contains(response.status.code) else {
            struct Envelope: Decodable {
                struct Detail: Decodable {
                    var code: String
                    var message: String
                }
                var error: Detail
            }
            if let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(data)) {
                throw HTTPAPIFailure(message: "\(envelope.error.message) (\(response.status.code) \(envelope.error.code))")
            }
            throw HTTPAPIFailure(message: "HTTP \(response.status.code) from \(method) \(path)")
        }
        return (Int(response.status.code), data)
    }

    /// Prints a JSON body as it came (pretty-printed), for `--json`.
    func printJSON(_ body: [UInt8]) {
        if let object = try? JSONSerialization.jsonObject(with: Data(body)),
            let pretty = try? JSONSerialization.data(
                withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        {
            writeToStandardOutput(String(decoding: pretty, as: UTF8.self) + "\n")
        } else {
            writeToStandardOutput(String(decoding: body, as: UTF8.self) + "\n")
        }
    }
}

/// An HTTP API call that failed: the API's message, or why the hub could not be reached.
struct HTTPAPIFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Runs an HTTP command body; failures go to stderr with a non-zero exit.
func withHTTP(command: String, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch {
        throw commandFailure(command, error)
    }
}

/// Left-aligned columns with a header row.
func formatTable(_ header: [String], _ rows: [[String]]) -> String {
    var widths = header.map(\.count)
    for row in rows {
        for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, cell in
            i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n") + "\n"
}
