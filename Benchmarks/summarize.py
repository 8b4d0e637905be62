#!/usr/bin/env python3
"""Summarizes a `make bench` run: fio's and iperf3's raw limits, each benchmark's totals and its
ratio to the matching limit, and the issue's targets. Reads RESULTS_DIR/machine.txt, fio-*.json
(fio's --output-format=json), iperf3.json (iperf3 -J) and results.jsonl (one JSON object per
benchmark, written by the benchmark targets and clients/confluent_produce.py); prints Markdown.

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
TCP_PRODUCE_TARGET = 0.70  # produce over TCP vs in-process flush=always append, same appender count
REPLAY_TARGET_MBPS = 1000.0  # replay from offset 0 over TCP
HALF_LOAD_P99_TARGET_US = 5000.0  # p99 ack latency at half of the peak load


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
    previous = None
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    entry = json.loads(line)
                    # The share of CPU time the hypervisor gave to others since the previous
                    # line (the previous benchmark's end): from the machine's /proc/stat counters.
                    if previous is not None and "cpu_total_ticks" in entry and "cpu_total_ticks" in previous:
                        total = entry["cpu_total_ticks"] - previous["cpu_total_ticks"]
                        if total > 0:
                            entry["steal_percent"] = 100.0 * (entry["cpu_steal_ticks"] - previous["cpu_steal_ticks"]) / total
                    previous = entry
                    results[entry["benchmark"]] = entry
    return results


def load_iperf3(path):
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            data = json.load(f)
        end = data["end"]
        cpu = end.get("cpu_utilization_percent", {})
        return {
            "MBps": end["sum_received"]["bits_per_second"] / 8e6,
            "sent_MBps": end["sum_sent"]["bits_per_second"] / 8e6,
            "seconds": end["sum_received"]["seconds"],
            "sender_cpu": cpu.get("host_total", 0) / 100,
            "receiver_cpu": cpu.get("remote_total", 0) / 100,
        }
    except (KeyError, ValueError):
        return None


def produce_runs(results, prefix):
    """{(connections, in flight): entry} for the closed-loop produce results named `prefix`…"""
    runs = {}
    for name, entry in results.items():
        if name.startswith(prefix) and "in_flight_per_connection" in entry and "connections" in entry:
            runs[(int(entry["connections"]), int(entry["in_flight_per_connection"]))] = entry
    return runs


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
            f"the syncer inside fdatasync {per_sync['fdatasync_busy_fraction']:.0%} of the time"
            + (
                f" and the writer inside pwrite {per_sync['pwrite_busy_fraction']:.0%} "
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

    # --- The Kafka protocol over loopback -----------------------------------------------------
    iperf = load_iperf3(os.path.join(directory, "iperf3.json"))
    hub_runs = produce_runs(results, "Produce TCP")
    confluent_runs = produce_runs(results, "confluent-kafka Produce")
    half = find(results, "Produce TCP acks=-1 flush=always at half")
    quarter = find(results, "Produce TCP acks=-1 flush=always at a quarter")
    replay = find(results, "Replay TCP")
    in_process = {}
    for n in (1, 4, 16):
        entry = results.get("Append flush=always %d appender%s" % (n, "" if n == 1 else "s"))
        if entry:
            in_process[n] = entry

    out.append("## Kafka protocol over loopback")
    out.append("")
    if iperf:
        out.append(
            f"Raw limit: iperf3 over loopback (one TCP stream, {iperf['seconds']:.0f} s): "
            f"**{fmt(iperf['MBps'])} MB/s** received (sender CPU {iperf['sender_cpu']:.0%}, "
            f"receiver {iperf['receiver_cpu']:.0%} of a core)."
        )
    else:
        out.append("Raw limit: iperf3 not measured.")
    out.append("")
    if hub_runs:
        out.append(
            "Produce with HubClient to `hooklog serve` (release, separate process), one partition, "
            "acks=-1, topic flush.policy=always, 100-record batches of 256-byte values built once. "
            "In-process: LogAppend's `Append flush=always N appender(s)` of this run."
        )
        out.append("")
        out.append(
            "| connections × in flight | events/s | value MB/s | ack p50 / p99 / p99.9 (ms) | client / hub CPU cores | "
            "in-process, same appender count (events/s) | TCP / in-process |"
        )
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for (connections, in_flight) in sorted(hub_runs, key=lambda k: (-k[1], k[0])):
            entry = hub_runs[(connections, in_flight)]
            base = in_process.get(connections)
            r = ratio(entry["events_per_s"], base["events_per_s"] if base else None)
            out.append(
                f"| {connections} × {in_flight} | {fmt(entry['events_per_s'])} | {fmt(entry['value_MBps'])} | "
                f"{entry['ack_p50_us'] / 1e3:.2f} / {entry['ack_p99_us'] / 1e3:.2f} / {entry['ack_p999_us'] / 1e3:.2f} | "
                f"{entry['client_cpu_cores_busy']:.2f} / {entry['server_cpu_cores_busy']:.2f} | "
                f"{fmt(base['events_per_s']) if base else '–'} | {f'{r:.0%}' if r is not None else '–'} |"
            )
        out.append("")
        out.append(
            "With one request in flight per connection, TCP has exactly as many appends in progress as the "
            "in-process run has appenders; with several, it has connections × in flight, so its ratio also "
            "includes the gain from deeper group commits."
        )
        out.append("")
    for label, entry in (("half", half), ("a quarter", quarter)):
        if not entry:
            continue
        out.append(
            f"Ack latency at {label} of the peak load: {int(entry['connections'])} connections, open loop at "
            f"{fmt(entry['target_events_per_s'])} events/s ({entry['load_fraction']:.0%} of the peak "
            f"{fmt(entry['peak_events_per_s'])}); achieved {fmt(entry['events_per_s'])} events/s, "
            f"{fmt(entry['value_MBps'])} MB/s. Ack latency p50 **{entry['ack_p50_us'] / 1e3:.2f} ms**, "
            f"p90 {entry['ack_p90_us'] / 1e3:.2f} ms, p99 **{entry['ack_p99_us'] / 1e3:.2f} ms**, "
            f"p99.9 {entry['ack_p999_us'] / 1e3:.2f} ms, max {entry['ack_max_us'] / 1e3:.1f} ms "
            f"({fmt(entry['ack_samples'])} requests). The pacer sent p50 {entry['send_lag_p50_us'] / 1e3:.2f} ms / "
            f"p99 {entry['send_lag_p99_us'] / 1e3:.2f} ms after the scheduled times. CPU: client "
            f"{entry['client_cpu_cores_busy']:.2f}, hub {entry['server_cpu_cores_busy']:.2f} cores."
            + (
                f" The hub's fdatasyncs (its /metrics histogram, warm-up included): {fmt(entry['fsync_count'])}, "
                f"p99 ≤ {entry['fsync_p99_bucket_ms']:g} ms (bucket bound), {entry['fsync_over_2ms_share']:.1%} over "
                f"2 ms, {entry['fsync_over_5ms_share']:.1%} over 5 ms."
                if entry.get("fsync_count")
                else ""
            )
        )
        out.append("")
    if confluent_runs:
        out.append(
            "confluent-kafka's Producer (Python, librdkafka), one producer process per connection, acks=all, "
            "linger.ms=1, batch.num.messages=100, enable.idempotence=false, same value size, against a "
            "`hooklog serve` of the same build:"
        )
        out.append("")
        out.append(
            "| producers (connections) × in flight | events/s | value MB/s | client / hub CPU cores | "
            "librdkafka rtt p50 / p99 (ms) | HubClient, same connections × in flight | confluent / HubClient |"
        )
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for key in sorted(confluent_runs):
            entry = confluent_runs[key]
            swift = hub_runs.get(key)
            r = ratio(entry["events_per_s"], swift["events_per_s"] if swift else None)
            rtt = "–"
            if "rtt_p99_us_max" in entry:
                rtt = f"{entry['rtt_p50_us_max'] / 1e3:.1f} / {entry['rtt_p99_us_max'] / 1e3:.1f}"
            failed = f" ({fmt(entry['failed'])} failed)" if entry.get("failed") else ""
            out.append(
                f"| {key[0]} × {key[1]} | {fmt(entry['events_per_s'])}{failed} | {fmt(entry['value_MBps'])} | "
                f"{entry['client_cpu_cores_busy']:.2f} / {entry['server_cpu_cores_busy']:.2f} | {rtt} | "
                f"{fmt(swift['events_per_s']) if swift else '–'} | {f'{r:.0%}' if r is not None else '–'} |"
            )
        out.append("")
    if replay:
        parts = [
            f"Replay from offset 0 with HubClient (fetch, maxBytes {fmt(replay['fetch_max_bytes'] / 2**20)} MiB, "
            f"one request at a time), {fmt(replay['log_bytes_per_pass'] / 1e6)} MB topic, "
            f"{int(replay['passes'])} passes, page cache warm: **{fmt(replay['MBps'])} MB/s** "
            f"({replay['MBps'] / REPLAY_TARGET_MBPS:.2f} × the 1 GB/s target"
        ]
        if iperf:
            parts.append(f", {replay['MBps'] / iperf['MBps']:.0%} of iperf3's {fmt(iperf['MBps'])} MB/s")
        if read:
            parts.append(f", {replay['MBps'] / read['MBps']:.0%} of LogStore's in-process read {fmt(read['MBps'])} MB/s")
        parts.append(
            f"); {fmt(replay['bytes_per_fetch'] / 1e6, 1)} MB per fetch, CPU: client "
            f"{replay['client_cpu_cores_busy']:.2f}, hub {replay['server_cpu_cores_busy']:.2f} cores."
        )
        out.append("".join(parts))
        out.append("")

    loads = [(name, entry["loadavg_1min_at_end"]) for name, entry in results.items() if "loadavg_1min_at_end" in entry]
    if loads:
        out.append("## Machine load")
        out.append("")
        out.append(
            "1-minute load average as each benchmark ended (its own threads included: about 1–2 from a LogStore "
            "benchmark, up to about 3 from client and hub together; more means other work shared the CPUs or the disk), "
            "and steal: the share of the machine's CPU time the hypervisor gave to other guests from the previous "
            "benchmark's end to this one's (on a shared host, a few percent already means stalls of tens of ms):"
        )
        out.append("")
        out.append("| benchmark | load | steal |")
        out.append("| --- | ---: | ---: |")
        for name, load in loads:
            steal = results[name].get("steal_percent")
            out.append(f"| {name} | {load:.2f} | {'' if steal is None else f'{steal:.1f} %'} |")
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
    pipelined = sorted(k for k in hub_runs if k[1] > 1)
    single = sorted(k for k in hub_runs if k[1] == 1)
    for label, keys in (("pipelined", pipelined), ("one request in flight per connection", single)):
        for key in keys:
            entry = hub_runs[key]
            base = in_process.get(key[0])
            r = ratio(entry["events_per_s"], base["events_per_s"] if base else None)
            measured = "–"
            if r is not None:
                measured = "%.0f%% (%s / %s events/s)" % (100 * r, fmt(entry["events_per_s"]), fmt(base["events_per_s"]))
            out.append(
                "| produce over TCP, %d connection%s × %d in flight (%s) ≥ %.0f%% of in-process flush=always, "
                "%d appender%s | %s | %s |"
                % (key[0], "" if key[0] == 1 else "s", key[1], label, 100 * TCP_PRODUCE_TARGET, key[0],
                   "" if key[0] == 1 else "s", measured, verdict(None if r is None else r >= TCP_PRODUCE_TARGET))
            )
    measured = "–"
    if replay:
        measured = "%s MB/s" % fmt(replay["MBps"])
        if iperf:
            measured += " (%.0f%% of iperf3 %s MB/s)" % (100 * replay["MBps"] / iperf["MBps"], fmt(iperf["MBps"]))
    out.append(
        "| replay from offset 0 over TCP ≥ 1 GB/s | %s | %s |"
        % (measured, verdict(None if not replay else replay["MBps"] >= REPLAY_TARGET_MBPS))
    )
    measured = "–"
    if half:
        measured = "p99 %.2f ms at %s events/s (%d connections)" % (
            half["ack_p99_us"] / 1e3, fmt(half["events_per_s"]), int(half["connections"]))
    out.append(
        "| p99 ack latency at half of the peak load ≤ 5 ms | %s | %s |"
        % (measured, verdict(None if not half else half["ack_p99_us"] <= HALF_LOAD_P99_TARGET_US))
    )
    out.append("")
    out.extend(compaction_section(directory, results, buffered))
    out.extend(dispatch_section(results))
    print("\n".join(out))


COMPACTION_TARGET = 0.30


def load_fio_read(directory, job):
    """Mean read MB/s of `job` before and after the benchmarks (None when never run)."""
    values = []
    for round_name in ("before", "after"):
        path = os.path.join(directory, "fio-%s-%s.json" % (round_name, job))
        if os.path.exists(path):
            with open(path) as f:
                values.append(json.load(f)["jobs"][0]["read"]["bw_bytes"] / 1e6)
    return sum(values) / len(values) if values else None


def compaction_section(directory, results, buffered):
    entry = find(results, "Compaction ")
    if not entry:
        return []
    read_limit = load_fio_read(directory, "seq-read-direct")
    write_limit = buffered["MBps"] if buffered else None
    out = ["## Compaction", ""]
    out.append(
        "%s: %s → %s bytes, %s passes, %.1f s; map %s of %s bytes configured (%s entries used, %s bytes of "
        "them), RSS growth %s bytes."
        % (entry["benchmark"], fmt(entry["log_bytes"]), fmt(entry["bytes_after"]), fmt(entry["passes"]),
           entry["seconds"], fmt(entry["map_bytes_allocated"]), fmt(entry["map_bytes_configured"]),
           fmt(entry["map_entries_peak"]), fmt(entry["map_bytes_used"]), fmt(entry["rss_growth_bytes"])))
    out.append("")
    out.append("| measure | MB/s | raw limit (fio, MB/s) | ratio | target ≥ 30% |")
    out.append("| --- | ---: | ---: | ---: | --- |")
    for label, value, limit, limit_label in [
        ("scanned (read)", entry["scanned_MBps"], read_limit, "sequential direct read"),
        ("written", entry["written_MBps"], write_limit, "buffered sequential write"),
    ]:
        r = value / limit if limit else None
        out.append("| %s | %s | %s (%s) | %s | %s |" % (
            label, fmt(value), fmt(limit) if limit else "–", limit_label,
            "–" if r is None else "%.0f%%" % (100 * r), verdict(None if r is None else r >= COMPACTION_TARGET)))
    out.append("")
    return out


def dispatch_section(results):
    """HubDispatch: the Dispatcher's deliveries/s and latency against the sink's own capacity
    (async-http-client straight to the same sink, as many connections as the hub may have open
    requests), all from the same run."""
    direct = {}
    for name, entry in results.items():
        if name.startswith("Direct POST to sink") and "connections" in entry:
            direct[int(entry["connections"])] = entry
    peaks = [e for n, e in results.items() if n.startswith("Dispatch ") and not n.startswith("Dispatch latency")]
    latencies = [e for n, e in results.items() if n.startswith("Dispatch latency")]
    if not (direct or peaks or latencies):
        return []
    key = lambda e: (e["subscriptions"], e["max_in_flight"])
    out = ["## Dispatch to a local HTTP sink", ""]
    out.append(
        "`hooklog serve` (release, separate process) delivers 256-byte JSON events of a one-partition "
        "flush=always topic to an in-process Hummingbird sink on 127.0.0.1 that answers 204 at once. "
        "Direct: async-http-client posting the same body to the same sink with that many connections "
        "(its capacity on this machine). Ratio = the hub's deliveries/s ÷ direct requests/s at the same "
        "concurrency, same run."
    )
    out.append("")
    if direct:
        out.append("| direct, connections | requests/s | round trip p50 / p99 (ms) | process CPU cores (client + sink) |")
        out.append("| --- | ---: | ---: | ---: |")
        for connections in sorted(direct):
            e = direct[connections]
            out.append(
                f"| {connections} | {fmt(e['requests_per_s'])} | {e['round_trip_p50_us'] / 1e3:.2f} / "
                f"{e['round_trip_p99_us'] / 1e3:.2f} | {e['process_cpu_cores_busy']:.2f} |"
            )
        out.append("")
    if peaks:
        out.append(
            "| subscriptions × maxInFlight (origin limit) | open requests at most | deliveries/s | "
            "hub / sink process CPU cores | direct requests/s, same concurrency | **hooklog / direct** | "
            "hub delivered / failed attempts |"
        )
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for e in sorted(peaks, key=key):
            base = direct.get(int(e["concurrency"]))
            r = ratio(e["deliveries_per_s"], base["requests_per_s"] if base else None)
            out.append(
                f"| {int(e['subscriptions'])} × {int(e['max_in_flight'])} ({int(e['origin_limit'])}) | "
                f"{int(e['concurrency'])} | {fmt(e['deliveries_per_s'])} | {e['hub_cpu_cores_busy']:.2f} / "
                f"{e['sink_process_cpu_cores_busy']:.2f} | {fmt(base['requests_per_s']) if base else '–'} | "
                f"{f'**{r:.0%}**' if r is not None else '–'} | {fmt(e.get('hub_delivered'))} / "
                f"{fmt(e.get('hub_failedAttempts'))} |"
            )
        out.append("")
        topped = [e for e in peaks if e.get("topped_up_events")]
        if topped:
            out.append(
                "Backlog topped up during the run (the producer shared the CPUs then): "
                + ", ".join(f"{int(e['subscriptions'])} × {int(e['max_in_flight'])}: {fmt(e['topped_up_events'])} events"
                            for e in sorted(topped, key=key))
                + "."
            )
            out.append("")
    if latencies:
        out.append(
            "| subscriptions × maxInFlight | load (deliveries/s asked → achieved) | latency p50 / p90 / p99 / p99.9 / max (ms) | "
            "of which produce ack p50 / p99 (ms) | hub / sink process CPU cores |"
        )
        out.append("| --- | ---: | ---: | ---: | ---: |")
        for e in sorted(latencies, key=key):
            out.append(
                f"| {int(e['subscriptions'])} × {int(e['max_in_flight'])} | {fmt(e['target_deliveries_per_s'])} → "
                f"{fmt(e['deliveries_per_s'])} ({e['load_fraction']:.0%} of {fmt(e['peak_deliveries_per_s'])}) | "
                f"{e['latency_p50_us'] / 1e3:.2f} / {e['latency_p90_us'] / 1e3:.2f} / **{e['latency_p99_us'] / 1e3:.2f}** / "
                f"{e['latency_p999_us'] / 1e3:.2f} / {e['latency_max_us'] / 1e3:.1f} | "
                f"{e['ack_p50_us'] / 1e3:.2f} / {e['ack_p99_us'] / 1e3:.2f} | "
                f"{e['hub_cpu_cores_busy']:.2f} / {e['sink_process_cpu_cores_busy']:.2f} |"
            )
        out.append("")
        out.append(
            "Latency: from the producer's send time embedded in each event (CLOCK_MONOTONIC, taken as its batch "
            "is built, just before `produce`) to the sink's arrival time — produce, fdatasync, the Dispatcher's "
            "read, the HTTP request. Open loop, one batch per 1 ms tick."
        )
        out.append("")
    return out


if __name__ == "__main__":
    main()
