import Foundation

/// The JSON-lines file (``BenchmarkSettings/resultsPath``) where each benchmark appends its
/// totals for run.sh's summary. One object a line: `{"benchmark": name, "<figure>": number, …}`.
public enum ResultsFile {
    public static func append(benchmark: String, figures: [String: Double], settings: BenchmarkSettings = .current) {
        guard let path = settings.resultsPath else { return }
        var object: [String: Any] = ["benchmark": benchmark, "quick": settings.quick]
        for (key, value) in figures where value.isFinite { object[key] = value }
        // The machine's 1-minute load average as the benchmark ends (its own threads included):
        // a shared machine's other work shows up here.
        if let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
            let load = Double(text.prefix { $0 != " " })
        {
            object["loadavg_1min_at_end"] = load
        }
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        line.append(0x0A)
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = Foundation.FileHandle(forWritingAtPath: path) else { return }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: line)
    }
}
