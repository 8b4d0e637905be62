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
        // The machine's CPU time counters (all CPUs, in ticks) as the benchmark ends; the summary
        // turns consecutive lines into steal time: CPU the hypervisor gave to other guests.
        if let times = machineCPUTicks() {
            object["cpu_steal_ticks"] = times.steal
            object["cpu_total_ticks"] = times.total
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

    /// Steal and total CPU ticks from the first line of /proc/stat (`cpu user nice system idle
    /// iowait irq softirq steal …`); nil where there is no such file.
    static func machineCPUTicks() -> (steal: Double, total: Double)? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let first = text.split(separator: "\n").first, first.hasPrefix("cpu ")
        else { return nil }
        let fields = first.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 8 else { return nil }
        // guest and guest_nice (fields 9 and 10) are already counted in user and nice.
        return (steal: fields[7], total: fields.prefix(8).reduce(0, +))
    }
}
