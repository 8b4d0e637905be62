#!/usr/bin/env python3
"""Produce throughput of confluent-kafka's Producer (librdkafka) against a `hooklog serve`
process: the load of the HubLoopback produce benchmarks (256-byte values, batches of 100
records, acks=all, topic flush.policy=always) from a real Kafka client.

Starts the hub (release build) on a fresh data directory and a free loopback port, creates a
one-partition topic per run, then runs N producer processes at once (one Producer, hence one
produce connection, each; N = 1, 4, 16 by default), each producing as fast as librdkafka accepts
for DURATION seconds and then flushing. events/s = acknowledged messages / (time from the common
start to the last flush). Appends one JSON line per run to the results file (the format of the
Swift benchmarks' results.jsonl) and prints it.

Usage: confluent_produce.py --hooklog BIN --data-root DIR [--results FILE] [--duration S]
                            [--producers 1,4,16] [--in-flight 8]
Run with the project's venv (Scripts/python-venv.sh .venv installs confluent-kafka 2.16.1).
"""

import argparse
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

VALUE_BYTES = 256
RECORDS_PER_BATCH = 100


def producer_config(bootstrap, in_flight):
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": False,  # the hub has no InitProducerId yet
        "linger.ms": 1,
        # 100 records of 256 bytes per batch, as the Swift benchmarks send (librdkafka closes a
        # batch at whichever limit comes first).
        "batch.num.messages": RECORDS_PER_BATCH,
        "batch.size": RECORDS_PER_BATCH * (VALUE_BYTES + 16),
        "compression.type": "none",
        "max.in.flight.requests.per.connection": in_flight,
        "queue.buffering.max.messages": 20_000,
        "queue.buffering.max.kbytes": 64 * 1024,
        "delivery.report.only.error": True,
        "statistics.interval.ms": 1000,
        "client.id": "bench-confluent",
    }


def produce_worker(bootstrap, topic, in_flight, duration, barrier, results):
    """One producer process: produce for `duration` s after the common start, then flush."""
    errors = []
    stats = {}

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))

    def on_stats(text):
        stats["last"] = text

    config = producer_config(bootstrap, in_flight)
    config["on_delivery"] = on_delivery
    config["stats_cb"] = on_stats
    producer = Producer(config)
    value = os.urandom(VALUE_BYTES)
    # Connect and learn the partition before the clock starts.
    producer.produce(topic, value, partition=0)
    producer.flush(30)
    sent = 0
    barrier.wait()
    start = time.monotonic()
    deadline = start + duration
    produce = producer.produce
    poll = producer.poll
    while True:
        for _ in range(1000):
            try:
                produce(topic, value, partition=0)
                sent += 1
            except BufferError:
                poll(0.0005)
        poll(0)
        if time.monotonic() >= deadline:
            break
    remaining = producer.flush(60)
    end = time.monotonic()
    rtt = {}
    if "last" in stats:
        for broker in json.loads(stats["last"]).get("brokers", {}).values():
            if broker.get("nodeid", -1) >= 0 and broker.get("rtt", {}).get("cnt", 0):
                rtt = {"rtt_p50_us": broker["rtt"]["p50"], "rtt_p99_us": broker["rtt"]["p99"]}
    results.put({"sent": sent, "unflushed": remaining, "errors": len(errors), "first_error": errors[:1],
                 "start": start, "end": end, **rtt})


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def children_cpu_seconds():
    usage = os.times()
    return usage.children_user + usage.children_system


class Hub:
    """A `hooklog serve` child process on a free port; stopped with SIGTERM."""

    def __init__(self, binary, data_dir, crash_log=None):
        os.makedirs(data_dir, exist_ok=True)
        self.crash_log = crash_log
        self.data_dir = data_dir
        self.log_path = data_dir + ".log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--data-dir", data_dir, "--kafka-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--flush", "always",
             "--min-free-bytes", str(2 << 30), "--log-level", "info"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        self.address = None
        while time.monotonic() < deadline and self.address is None:
            with open(self.log_path) as f:
                match = re.search(r" kafka=(\S+):(\d+)", f.read())
            if match:
                self.address = "%s:%s" % (match.group(1), match.group(2))
            elif self.process.poll() is not None:
                raise RuntimeError("hooklog serve exited: " + open(self.log_path).read())
            else:
                time.sleep(0.02)
        if self.address is None:
            self.stop()
            raise RuntimeError("hooklog serve did not report its address")

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        died = self.process.poll() is not None
        if not died:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        if died or self.process.returncode != 0:
            sys.stderr.write("hooklog serve %s with status %s:\n%s\n" % (
                "died" if died else "exited", self.process.returncode, open(self.log_path).read()[-4000:]))
            if self.crash_log:
                shutil.copyfile(self.log_path, self.crash_log)
                sys.stderr.write("(its whole log: %s)\n" % self.crash_log)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        os.remove(self.log_path)


def run(hub, producers, in_flight, duration):
    topic = "bench-confluent-%d" % producers
    admin = AdminClient({"bootstrap.servers": hub.address})
    for future in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                                config={"flush.policy": "always"})]).values():
        future.result(30)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(producers + 1)
    results = context.Queue()
    workers = [context.Process(target=produce_worker, args=(hub.address, topic, in_flight, duration, barrier, results))
               for _ in range(producers)]
    for worker in workers:
        worker.start()
    barrier.wait(120)
    server_cpu = cpu_seconds(hub.process.pid)
    outcomes = [results.get(timeout=duration + 180) for _ in workers]
    server_cpu = cpu_seconds(hub.process.pid) - server_cpu
    for worker in workers:
        worker.join()
    client_cpu = children_cpu_seconds()  # all workers so far (cumulative over runs; see below)
    sent = sum(o["sent"] for o in outcomes)
    failed = sum(o["errors"] + o["unflushed"] for o in outcomes)
    start = min(o["start"] for o in outcomes)
    end = max(o["end"] for o in outcomes)
    seconds = end - start
    acked = sent - failed
    figures = {
        "benchmark": "confluent-kafka Produce acks=all flush=always %d producer%s" % (
            producers, "" if producers == 1 else "s"),
        "producers": producers,
        "connections": producers,
        "in_flight_per_connection": in_flight,
        "events": acked,
        "failed": failed,
        "seconds": seconds,
        "events_per_s": acked / seconds,
        "value_MBps": acked * VALUE_BYTES / seconds / 1e6,
        "server_cpu_cores_busy": server_cpu / seconds,
        "client_cpu_seconds_cumulative": client_cpu,
    }
    rtts = [o for o in outcomes if "rtt_p99_us" in o]
    if rtts:
        figures["rtt_p50_us_max"] = max(o["rtt_p50_us"] for o in rtts)
        figures["rtt_p99_us_max"] = max(o["rtt_p99_us"] for o in rtts)
    errors = [e for o in outcomes for e in o["first_error"]]
    if errors:
        figures["first_error"] = errors[0]
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hooklog", required=True, help="the hooklog executable (release build)")
    parser.add_argument("--data-root", required=True, help="where the hub's data directory goes (removed after)")
    parser.add_argument("--results", help="JSON-lines file to append the results to")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds each run produces")
    parser.add_argument("--producers", default="1,4,16", help="producer processes (connections) per run")
    parser.add_argument("--in-flight", type=int, default=8, help="max.in.flight.requests.per.connection")
    parser.add_argument("--quick", action="store_true", help="mark the results as quick mode")
    parser.add_argument("--crash-log", help="where to keep the hub's log if it dies")
    args = parser.parse_args()

    import confluent_kafka
    status = 0
    hub = Hub(args.hooklog, os.path.join(args.data_root, "confluent-produce-%d" % os.getpid()), args.crash_log)
    try:
        for producers in [int(p) for p in args.producers.split(",")]:
            if not hub.alive():
                print("confluent_produce: the hub died; %d producers not run" % producers, file=sys.stderr)
                status = 1
                break
            before = children_cpu_seconds()
            try:
                figures = run(hub, producers, args.in_flight, args.duration)
            except (KafkaException, RuntimeError, OSError) as error:
                print("confluent_produce: %d producers failed: %s" % (producers, error), file=sys.stderr)
                status = 1
                continue
            figures["client_cpu_cores_busy"] = (figures.pop("client_cpu_seconds_cumulative") - before) / figures[
                "seconds"]
            figures["librdkafka"] = confluent_kafka.libversion()[0]
            figures["confluent_kafka"] = confluent_kafka.version()[0]
            figures["quick"] = args.quick
            with open("/proc/loadavg") as f:
                figures["loadavg_1min_at_end"] = float(f.read().split()[0])
            if figures["failed"]:
                status = 1
            line = json.dumps(figures, sort_keys=True)
            print(line)
            if args.results:
                with open(args.results, "a") as f:
                    f.write(line + "\n")
    finally:
        hub.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
