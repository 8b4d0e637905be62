#!/usr/bin/env bash
# `make bench`: measures this machine's raw disk limits with fio in the benchmarks' own data
# directory, runs the LogStore, protocol and dispatch benchmarks (ordo-one/benchmark, release),
# produces with confluent-kafka against `hooklog serve`, measures loopback TCP with iperf3, then
# prints each result as a ratio to the matching raw limit and to the issue's targets. The
# dispatch benchmarks (HubDispatch) bring their own limit: the same webhook sink loaded directly
# by async-http-client in the same run.
#
#   HOOKLOG_BENCH_QUICK=1      small sizes and short runs (a few minutes), for trying it out
#   HOOKLOG_BENCH_RSS_BYTES=N  log bytes the RSS benchmark appends (default 10 GiB; 1 GiB quick)
#   HOOKLOG_BENCH_DIR=DIR      scratch data (default Benchmarks/.bench-data; same file system as
#                              the work tree); removed afterwards
#   HOOKLOG_BENCH_SKIP_FIO=1   reuse the fio results of the previous run (.bench-results/fio-*.json)
#   HOOKLOG_BENCH_IN_FLIGHT=N  produce requests in flight per connection (default 8)
#   HOOKLOG_BENCH_SKIP_EXTERNAL=1  skip confluent-kafka and iperf3
#   HOOKLOG_BENCH_COMMIT=ID    what machine.txt names as the code measured when the tree is not a
#                              git work tree (e.g. a `git archive` snapshot)
#
# A full run takes about 12 minutes once built (the first build of this package adds several;
# HubDispatch alone takes about 1.5 minutes).
#
# Any arguments are passed to `swift package benchmark` (e.g. --filter 'Append.*', or
# --target HubDispatch for the dispatch benchmarks only).
# Raw output and the summary stay in Benchmarks/.bench-results/ (git-ignored).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

quick="${HOOKLOG_BENCH_QUICK:-0}"
[ "$quick" = "0" ] && quick=""
results="$here/.bench-results"
data_root="${HOOKLOG_BENCH_DIR:-$here/.bench-data}"
run_dir="$data_root/run-$$"

external="${HOOKLOG_BENCH_SKIP_EXTERNAL:-}"
[ "$external" = "0" ] && external=""
tools=(fio python3 swift)
[ -z "$external" ] && tools+=(iperf3)
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "run.sh: '$tool' is missing (make bench installs fio and iperf3: Scripts/install-deps.sh --bench)" >&2
        exit 1
    }
done
repo="$(cd "$here/.." && pwd)"
venv="$repo/.venv"

iperf_server=""
cleanup() {
    [ -n "$iperf_server" ] && kill "$iperf_server" 2>/dev/null
    rm -rf "$run_dir"
    rmdir "$data_root" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$run_dir/fio" "$results"
if [ -z "${HOOKLOG_BENCH_SKIP_FIO:-}" ]; then
    rm -f "$results"/fio-*.json
fi
rm -f "$results/results.jsonl" "$results/benchmark.txt" "$results/summary.md" "$results/iperf3.json" \
    "$results/confluent.txt" "$results/hub-crash.log"

# fio sizes: the buffered write matches the flush=never benchmark's bytes (2 GiB, quick 256 MiB);
# the fdatasync jobs run for as long as one append benchmark (10 s, quick 2 s).
if [ -n "$quick" ]; then
    seq_size=256M; sync_runtime=2; need_gb=3
else
    seq_size=2G; sync_runtime=10; need_gb=12
fi

avail_kb=$(df -Pk "$run_dir" | awk 'NR == 2 { print $4 }')
if [ "$avail_kb" -lt $((need_gb * 1024 * 1024)) ]; then
    echo "run.sh: only $((avail_kb / 1024)) MiB free under $data_root; the benchmarks need about ${need_gb} GiB" >&2
    exit 1
fi

# --- The machine ----------------------------------------------------------------------------
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "cpus: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "file system: $(df -PT "$run_dir" | awk 'NR == 2 { print $2 " on " $1 " (" $7 ")" }')"
    echo "kernel: $(uname -r)"
    echo "swift: $(swift --version 2>/dev/null | head -1)"
    echo "fio: $(fio --version)"
    [ -z "$external" ] && echo "iperf3: $(iperf3 --version | head -1)"
    if commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null); then
        echo "hooklog: commit $commit, $(git -C "$repo" status --porcelain -- Sources Package.swift | wc -l)" \
            "uncommitted change(s) under Sources/ and Package.swift"
    else
        echo "hooklog: not a git work tree (${HOOKLOG_BENCH_COMMIT:-commit unknown})"
    fi
    if [ -n "$quick" ]; then echo "mode: quick (HOOKLOG_BENCH_QUICK=1)"; else echo "mode: full"; fi
    echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$results/machine.txt"

# --- Raw limits with fio, in the same directory the benchmarks use ---------------------------
# Every job appends to a new file (no preallocation), as the log does.
fio_job() { # name, output, fio options...
    local name=$1 output=$2
    shift 2
    rm -f "$run_dir/fio/$name"
    echo "fio: $name"
    fio --name="$name" --directory="$run_dir/fio" --filename="$name" --ioengine=psync --fallocate=none \
        --rw=write --output-format=json --output="$output" "$@" >/dev/null
    rm -f "$run_dir/fio/$name"
}

# The disk of a VM is noisy, so the limits are measured before and after the benchmarks and
# the summary compares with their mean.
fio_limits() { # round: before | after
    local round=$1
    echo
    echo "== Raw limits (fio, $round the benchmarks) =="
    # (a) buffered sequential write, 1 MiB writes, one fsync at the end (counted in its time).
    fio_job buffered-write "$results/fio-$round-buffered-write.json" --bs=1M --size="$seq_size" --end_fsync=1
    # (b) append + fdatasync after every 256 KiB write.
    fio_job append-fdatasync-256k "$results/fio-$round-append-fdatasync-256k.json" --bs=256k --size=16G \
        --fdatasync=1 --runtime="$sync_runtime"
    # (d) sequential read, 1 MiB, O_DIRECT (the disk, not the page cache): what compaction reads.
    rm -f "$run_dir/fio/seq-read"
    echo "fio: seq-read-direct"
    fio --name=seq-read-direct --directory="$run_dir/fio" --filename=seq-read --ioengine=psync --rw=read \
        --bs=1M --size="$seq_size" --direct=1 --output-format=json \
        --output="$results/fio-$round-seq-read-direct.json" >/dev/null
    rm -f "$run_dir/fio/seq-read"
    # (c) 4 KiB append + fdatasync: the cost of one durable commit.
    fio_job append-fdatasync-4k "$results/fio-$round-append-fdatasync-4k.json" --bs=4k --size=1G \
        --fdatasync=1 --runtime="$sync_runtime"
}

if [ -z "${HOOKLOG_BENCH_SKIP_FIO:-}" ] || [ ! -f "$results/fio-before-buffered-write.json" ]; then
    fio_limits before
fi

# --- The hub for the protocol benchmarks ---------------------------------------------------------
# `hooklog serve`, release, built from this package (the main package as its dependency), so the
# protocol benchmarks and confluent-kafka run against the same build as the LogStore benchmarks.
echo
echo "== Building hooklog (release) =="
swift build -c release --product hooklog 2>&1 | tail -3
export HOOKLOG_BIN="$here/.build/release/hooklog"

# --- The benchmarks ---------------------------------------------------------------------------
echo
echo "== Benchmarks (swift package benchmark, release) =="
progress=()
[ -t 1 ] || progress=(--no-progress)
set +e
HOOKLOG_BENCH_DIR="$run_dir" HOOKLOG_BENCH_RESULTS="$results/results.jsonl" \
    swift package --disable-sandbox benchmark "${progress[@]}" "$@" 2>&1 | tee "$results/benchmark.txt"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "run.sh: the benchmarks failed (exit $status); see $results/benchmark.txt" >&2
fi

if [ -z "$external" ]; then
    # --- confluent-kafka's Producer against `hooklog serve` ----------------------------------
    echo
    echo "== confluent-kafka Producer (Python, librdkafka) against hooklog serve =="
    "$repo/Scripts/python-venv.sh" "$venv"
    confluent_args=(--hooklog "$HOOKLOG_BIN" --data-root "$run_dir" --results "$results/results.jsonl"
        --in-flight "${HOOKLOG_BENCH_IN_FLIGHT:-8}" --crash-log "$results/hub-crash.log")
    if [ -n "$quick" ]; then confluent_args+=(--duration 2 --quick); else confluent_args+=(--duration 10); fi
    # librdkafka's own log lines (connection notices) go to confluent.txt with the results.
    if ! "$venv/bin/python" "$here/clients/confluent_produce.py" "${confluent_args[@]}" >"$results/confluent.txt" 2>&1; then
        echo "run.sh: the confluent-kafka benchmark failed; see $results/confluent.txt" >&2
        status=1
    fi
    grep '^{' "$results/confluent.txt" | cut -c1-160 || true

    # --- Loopback TCP with iperf3: the network's reference limit -----------------------------
    echo
    echo "== Raw limit: iperf3 over loopback =="
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    iperf3 -s -1 -p "$port" -B 127.0.0.1 >/dev/null 2>&1 &
    iperf_server=$!
    ok=""
    for _ in $(seq 50); do
        if iperf3 -c 127.0.0.1 -p "$port" -t 5 -J >"$results/iperf3.json" 2>/dev/null; then
            ok=1
            break
        fi
        sleep 0.1
    done
    [ -z "$ok" ] && kill "$iperf_server" 2>/dev/null
    wait "$iperf_server" 2>/dev/null || true
    iperf_server=""
    if [ -z "$ok" ]; then
        echo "run.sh: iperf3 failed; see $results/iperf3.json" >&2
        status=1
    else
        python3 -c 'import json, sys; e = json.load(open(sys.argv[1]))["end"]; print("iperf3: %.0f MB/s received" % (e["sum_received"]["bits_per_second"] / 8e6))' "$results/iperf3.json"
    fi
fi

if [ -z "${HOOKLOG_BENCH_SKIP_FIO:-}" ] || [ ! -f "$results/fio-after-buffered-write.json" ]; then
    fio_limits after
fi

# --- Summary ----------------------------------------------------------------------------------
echo
python3 "$here/summarize.py" "$results" | tee "$results/summary.md"
exit "$status"
