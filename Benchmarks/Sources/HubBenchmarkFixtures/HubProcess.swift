import Foundation
import LogBenchmarkFixtures

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `hooklog serve` child process (release build) listening on a free loopback port, with its
/// data directory under ``BenchmarkSettings/dataRoot``.
///
/// The protocol benchmarks run the hub as a separate process rather than in-process: `HubServer`
/// is not a library product of the main package, and a separate process is how the hub runs in
/// production. Its CPU time is read from /proc, apart from the benchmark (client) process's.
public final class HubProcess: @unchecked Sendable {
    // `process` is only started, signalled and waited for; Foundation's Process is thread-safe
    // for that.
    private let process: Process
    public let host: String
    public let port: Int
    /// The HTTP API's port.
    public let httpPort: Int
    public let dataDirectory: String
    /// The hub's stderr (its log), in the data directory's parent.
    public let logPath: String
    public var pid: Int32 { process.processIdentifier }

    private init(process: Process, host: String, port: Int, httpPort: Int, dataDirectory: String, logPath: String) {
        self.process = process
        self.host = host
        self.port = port
        self.httpPort = httpPort
        self.dataDirectory = dataDirectory
        self.logPath = logPath
    }

    /// The hooklog executable: `HOOKLOG_BIN`, or this package's release build
    /// (`swift build -c release --product hooklog` in Benchmarks/, which run.sh does).
    public static var executable: String {
        if let path = ProcessInfo.processInfo.environment["HOOKLOG_BIN"], !path.isEmpty { return path }
        return packageDirectory() + "/.build/release/hooklog"
    }

    /// Starts `hooklog serve` on `dataDirectory` (created when missing; an existing one is served
    /// as it is) with `--flush flush` and `extraArguments`, and waits until it logs its Kafka and
    /// HTTP addresses.
    public static func start(
        dataDirectory: String, flush: String = "always", extraArguments: [String] = [],
        settings: BenchmarkSettings = .current
    ) throws -> HubProcess {
        let binary = executable
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw HubProcessError(
                "no hooklog executable at \(binary): run `swift build -c release --product hooklog` in Benchmarks/ "
                    + "or set HOOKLOG_BIN")
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let logPath = dataDirectory + ".log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = Foundation.FileHandle(forWritingAtPath: logPath) else {
            throw HubProcessError("cannot open \(logPath)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "serve", "--data-dir", dataDirectory, "--kafka-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--flush", flush,
            "--min-free-bytes", String(settings.minFreeBytes), "--log-level", "info",
        ] + extraArguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        // The hub logs `… http=127.0.0.1:PORT kafka=127.0.0.1:PORT …` once it listens.
        func address(_ key: String, in text: String) -> (host: String, port: Int)? {
            guard let range = text.range(of: " \(key)=") else { return nil }
            let value = text[range.upperBound...].prefix { !$0.isWhitespace }
            guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]) else {
                return nil
            }
            return (String(value[..<colon]), port)
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let kafka = address("kafka", in: text), let http = address("http", in: text) {
                return HubProcess(
                    process: process, host: kafka.host, port: kafka.port, httpPort: http.port,
                    dataDirectory: dataDirectory, logPath: logPath)
            }
            if !process.isRunning {
                throw HubProcessError("hooklog serve exited (status \(process.terminationStatus)):\n\(text)")
            }
            usleep(20_000)
        }
        process.terminate()
        throw HubProcessError("hooklog serve did not report its address within 60 s; see \(logPath)")
    }

    /// CPU seconds (user + system, all threads) the hub has used so far, from /proc/PID/stat.
    public func cpuSeconds() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resident memory of the hub, from /proc/PID/statm.
    public func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The hub's group-commit fdatasync latencies so far, from its Prometheus histogram
    /// (`GET /metrics`): cumulative counts by bucket upper bound in seconds, ascending (the last
    /// bound is +Inf). Empty if the scrape fails.
    public func fsyncHistogram() -> [(upperBound: Double, count: Double)] {
        guard let text = Self.httpGet(port: httpPort, path: "/metrics") else { return [] }
        var buckets: [(upperBound: Double, count: Double)] = []
        for line in text.split(separator: "\n") where line.hasPrefix("hooklog_fsync_duration_seconds_bucket{") {
            // hooklog_fsync_duration_seconds_bucket{le="0.001"} 42
            guard let open = line.range(of: "le=\""), let close = line[open.upperBound...].firstIndex(of: "\""),
                let count = line.split(separator: " ").last.flatMap({ Double($0) })
            else { continue }
            let bound = line[open.upperBound..<close]
            buckets.append((bound == "+Inf" ? .infinity : Double(bound) ?? .infinity, count))
        }
        return buckets.sorted { $0.upperBound < $1.upperBound }
    }

    /// A blocking HTTP/1.0 GET on loopback; the response body, or nil.
    static func httpGet(port: Int, path: String) -> String? {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == request.count else { return nil }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            response += chunk[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.") && text.contains(" 200 "), let split = text.range(of: "\r\n\r\n") else { return nil }
        return String(text[split.upperBound...])
    }

    /// SIGTERM (a clean shutdown), waits for the exit, then removes the data directory and the
    /// log unless `keepData`. A hub that exited with an error has its log printed.
    public func stop(keepData: Bool = false) async {
        if process.isRunning { process.terminate() }
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        if process.terminationStatus != 0 {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            FileHandle.standardError.write(
                Data("hooklog serve exited with status \(process.terminationStatus):\n\(text.suffix(4000))\n".utf8))
        }
        if !keepData {
            try? FileManager.default.removeItem(atPath: dataDirectory)
            try? FileManager.default.removeItem(atPath: logPath)
        }
    }

    /// `Benchmarks/` (this package's directory), from this file's path.
    static func packageDirectory(file: String = #filePath) -> String {
        // …/Benchmarks/Sources/HubBenchmarkFixtures/HubProcess.swift → …/Benchmarks
        var parts = file.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }
}

public struct HubProcessError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
