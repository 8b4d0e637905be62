#!/usr/bin/env python3
"""Summarizes a `make bench` run: fio's raw limits, each benchmark's totals and its ratio to the
matching limit, and the issue's targets. Reads RESULTS_DIR/machine.txt, fio-*.json (fio's
--output-format=json) and results.jsonl (one JSON object per benchmark, written by the benchmark
targets); prints Markdown.

MB is 10^6 bytes throughout (fio's bw_bytes / 1e6). "log MB/s" counts the bytes the log writes
(whole record batches, 26,5xx bytes per 100 records); "value MB/s" counts only the 256-byte values
(events x 256), about 4 % less.

Usage: summarize.py RESULTS_DIR
"""

import json
import os
import sys

# The targets.
ALWAYS_TARGET = 0.85  # flush=always, 16 appenders, vs fio append+fdatasync (256 KiB) bandwidth
NEVER_TARGET = 0.70  # flush=never vs fio buffered sequential write bandwidth
READ_TARGET_MBPS = 2000.0  # sequential read from offset 0
RSS_FLAT_MB = 16.0  # "flat": RSS grows less than this after the first 10 % of the appends


def load_fio(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        job = json.load(f)["jobs"][0]
    write = job["write"]
    sync = job.get("sync", {}).get("lat_ns", {})
    return {
        "MBps": write["bw_bytes"] / 1e6,
        "iops": write["iops"],
        "bytes": write["io_bytes"],
        "seconds": job.get("job_runtime", write["runtime"]) / 1e3,
        "sync_mean_us": sync.get("mean", 0) / 1e3,
        "sync_p99_us": sync.get("percentile", {}).get("99.000000", 0) / 1e3,
    }


def load_fio_rounds(directory, job):
    """fio's result for `job` before and after the benchmarks, and their mean (the limit used)."""
    before = load_fio(os.path.join(directory, "fio-before-%s.json" % job))
    after = load_fio(os.path.join(directory, "fio-after-%s.json" % job))
    rounds = [r for r in (before, after) if r]
    if not rounds:
        return None, None, None
    mean = {key: sum(r[key] for r in rounds) / len(rounds) for key in rounds[0]}
    return before, after, mean


def load_results(path):
    results = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    entry = json.loads(line)
                    results[entry["benchmark"]] = entry
    return results


def find(results, prefix):
    for name, entry in results.items():
        if name.startswith(prefix):
            return entry
    return None


def fmt(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def ratio(value, limit):
    if value is None or not limit:
        return None
    return value / limit


def verdict(met):
    if met is None:
        return "not measured"
    return "**met**" if met else "**not met**"


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else ".bench-results"
    machine = ""
    machine_path = os.path.join(directory, "machine.txt")
    if os.path.exists(machine_path):
        with open(machine_path) as f:
            machine = f.read().strip()
    fio = {
        job: load_fio_rounds(directory, job)
        for job in ("buffered-write", "append-fdatasync-256k", "append-fdatasync-4k")
    }
    buffered = fio["buffered-write"][2]
    sync256 = fio["append-fdatasync-256k"][2]
    results = load_results(os.path.join(directory, "results.jsonl"))
    quick = any(entry.get("quick") for entry in results.values())

    out = []
    out.append("# Hooklog benchmark summary")
    out.append("")
    if machine:
        out.append("```")
        out.append(machine)
        out.append("```")
        out.append("")
    if quick:
        out.append("Quick mode (HOOKLOG_BENCH_QUICK=1): reduced sizes and durations; judge the targets on a full run.")
        out.append("")

    out.append("## Raw limits (fio, same file system and directory)")
    out.append("")
    out.append(
        "Measured before and after the benchmarks; the ratios below use the mean of the two."
    )
    out.append("")
    out.append("| fio job | round | MB/s | ops/s | fdatasync mean / p99 (µs) | bytes | seconds |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for label, job in [
        ("(a) buffered sequential write, bs=1M, end_fsync=1", "buffered-write"),
        ("(b) append + fdatasync, bs=256k (fdatasync=1)", "append-fdatasync-256k"),
        ("(c) append + fdatasync, bs=4k (fdatasync=1)", "append-fdatasync-4k"),
    ]:
        before, after, mean = fio[job]
        for round_name, result in (("before", before), ("after", after), ("**mean**", mean)):
            if result is None:
                out.append("| %s | %s | – | – | – | – | – |" % (label, round_name))
                continue
            sync_cell = "–"
            if result["sync_mean_us"]:
                sync_cell = "%s / %s" % (fmt(result["sync_mean_us"]), fmt(result["sync_p99_us"]))
            out.append(
                "| %s | %s | %s | %s | %s | %s | %.1f |"
                % (label, round_name, fmt(result["MBps"]), fmt(result["iops"]), sync_cell, fmt(result["bytes"]),
                   result["seconds"])
            )
    out.append("")

    out.append("## Append throughput (256-byte values, 100-record batches, totals over measured iterations)")
    out.append("")
    out.append("| benchmark | events/s | appends/s | log MB/s | value MB/s | CPU cores busy | vs raw limit |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    append_rows = [
        ("Append flush=always 1 appender", sync256, "(b)"),
        ("Append flush=always 4 appenders", sync256, "(b)"),
        ("Append flush=always 16 appenders", sync256, "(b)"),
        ("Append flush=never 1 appender", buffered, "(a)"),
    ]
    for name, limit, label in append_rows:
        entry = results.get(name)
        if entry is None:
            out.append(f"| {name} | – | – | – | – | – | not measured |")
            continue
        appends_per_s = entry["appends"] / entry["seconds"] if entry.get("seconds") else None
        limit_mbps = limit["MBps"] if limit else None
        mbps = entry["log_MBps"]
        note = ""
        if name.endswith("never 1 appender") and "log_MBps_incl_flush" in entry:
            mbps = entry["log_MBps_incl_flush"]
            note = "incl. flush"
        r = ratio(mbps, limit_mbps)
        cell = f"{r:.2f} × {label}{note}" if r is not None else "–"
        if note and r is not None:
            cell = f"{r:.2f} × {label}, final flush included"
        out.append(
            f"| {name} | {fmt(entry['events_per_s'])} | {fmt(appends_per_s)} | {fmt(entry['log_MBps'])} | "
            f"{fmt(entry['value_MBps'])} | {fmt(entry.get('cpu_cores_busy'), 2)} | {cell} |"
        )
    out.append("")
    never = results.get("Append flush=never 1 appender")
    if never and "final_flush_s" in never:
        out.append(
            f"flush=never wrote {fmt(never['log_bytes'] / 1e6)} MB acknowledged in {never['seconds']:.2f} s; "
            f"the final `flush()` (fdatasync of what the kernel had not yet written back) took "
            f"{never['final_flush_s']:.2f} s, which fio's end_fsync also counts."
        )
        out.append("")

    per_sync = find(results, "Appends per fdatasync")
    if per_sync:
        out.append(
            f"Appends per fdatasync, flush=always, 16 appenders: **{per_sync['appends_per_fdatasync']:.2f}** "
            f"({fmt(per_sync['appends'])} appends, {fmt(per_sync['fdatasyncs'])} fdatasyncs; 16 would be one "
            f"fdatasync per round of all appenders). In that run: {fmt(per_sync['events_per_s'])} events/s, "
            f"{fmt(per_sync['log_MBps'])} log MB/s, {fmt(per_sync['fdatasyncs_per_s'])} fdatasyncs/s of "
            f"{fmt(per_sync['log_bytes_per_fdatasync'] / 1e3)} kB each, fdatasync mean "
            f"{fmt(per_sync['fdatasync_mean_us'])} µs "
            f"(fio (b): {fmt(sync256['sync_mean_us']) if sync256 else '–'} µs), "
            f"the writer inside fdatasync {per_sync['fdatasync_busy_fraction']:.0%} of the time"
            + (
                f" and inside pwrite {per_sync['pwrite_busy_fraction']:.0%} "
                f"({fmt(per_sync['pwrite_mean_us'])} µs per pwrite)."
                if "pwrite_busy_fraction" in per_sync
                else "."
            )
        )
        out.append("")

    out.append("## Reads")
    out.append("")
    read = find(results, "Read from offset 0")
    if read:
        out.append(
            f"Sequential read from offset 0, `read(from:maxBytes: 1 MiB)`, "
            f"{fmt(read['log_bytes_per_pass'] / 1e6)} MB log "
            f"in {int(read['segments'])} segment(s), {int(read['passes'])} passes: **{fmt(read['MBps'])} MB/s** "
            f"({read['MBps'] / READ_TARGET_MBPS:.2f} × the 2 GB/s target; page cache warm)."
        )
        out.append("")
    lookups = sorted(
        ((name, entry) for name, entry in results.items() if name.startswith("Lookup")),
        key=lambda item: item[1]["segments"],
    )
    if lookups:
        out.append(
            "| lookup `read(from: random, maxBytes: 1)` | segments | lookups | p50 µs | p90 µs | p99 µs | max µs |"
        )
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, entry in lookups:
            out.append(
                f"| {fmt(entry['log_bytes'] / 1e6)} MB log | {int(entry['segments'])} | {fmt(entry['lookups'])} | "
                f"{entry['p50_us']:.1f} | {entry['p90_us']:.1f} | {entry['p99_us']:.1f} | {fmt(entry['max_us'])} |"
            )
        out.append("")

    out.append("## Memory")
    out.append("")
    rss = find(results, "RSS appending")
    if rss:
        curve = ", ".join(
            f"{fmt(rss.get(f'rss_at_{p}pct_MB'), 1)}" for p in range(10, 101, 10) if f"rss_at_{p}pct_MB" in rss
        )
        out.append(
            f"Appending {fmt(rss['log_bytes_appended'] / 1e9, 2)} GB with flush=never ({fmt(rss['log_MBps'])} MB/s, "
            f"{int(rss['segments_deleted'])} segments deleted by retention, {fmt(rss['log_size_at_end'] / 1e6)} MB "
            f"left): RSS {fmt(rss['rss_warm_MB'], 1)} MB after 10 %, max {fmt(rss['rss_max_after_10pct_MB'], 1)} MB, "
            f"growth {fmt(rss['rss_growth_after_10pct_MB'], 1)} MB."
        )
        out.append(f"RSS (MB) at each tenth of the run: {curve}.")
        out.append("")

    out.append("## Targets")
    out.append("")
    out.append("| target | measured | verdict |")
    out.append("| --- | --- | --- |")
    always16 = results.get("Append flush=always 16 appenders")
    r = ratio(always16["log_MBps"] if always16 else None, sync256["MBps"] if sync256 else None)
    measured = "–"
    if r is not None:
        measured = "%.0f%% (%s / %s MB/s)" % (100 * r, fmt(always16["log_MBps"]), fmt(sync256["MBps"]))
    out.append(
        "| flush=always, 16 appenders ≥ %.0f%% of fio append+fdatasync (b) | %s | %s |"
        % (100 * ALWAYS_TARGET, measured, verdict(None if r is None else r >= ALWAYS_TARGET))
    )
    never_mbps = None
    if never:
        never_mbps = never.get("log_MBps_incl_flush", never["log_MBps"])
    r = ratio(never_mbps, buffered["MBps"] if buffered else None)
    measured = "–"
    if r is not None:
        measured = "%.0f%% (%s / %s MB/s, final flush included)" % (100 * r, fmt(never_mbps), fmt(buffered["MBps"]))
    out.append(
        "| flush=never ≥ %.0f%% of fio buffered sequential write (a) | %s | %s |"
        % (100 * NEVER_TARGET, measured, verdict(None if r is None else r >= NEVER_TARGET))
    )
    measured = "–" if not read else "%s MB/s" % fmt(read["MBps"])
    out.append(
        "| read from offset 0 ≥ 2 GB/s | %s | %s |"
        % (measured, verdict(None if not read else read["MBps"] >= READ_TARGET_MBPS))
    )
    measured = "–"
    if rss:
        measured = "%s MB growth over %s GB" % (
            fmt(rss["rss_growth_after_10pct_MB"], 1),
            fmt(rss["log_bytes_appended"] / 1e9, 1),
        )
    out.append(
        "| RSS flat while appending (growth after the first 10 %% < %.0f MB) | %s | %s |"
        % (RSS_FLAT_MB, measured, verdict(None if not rss else rss["rss_growth_after_10pct_MB"] < RSS_FLAT_MB))
    )
    out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
