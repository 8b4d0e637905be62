"""Real Kafka clients against a running `hooklog serve`.

Three independent client stacks talk to the hub over the Kafka wire protocol,
unmodified: kcat (the CLI, with its own builtin librdkafka), confluent-kafka
(Python binding of librdkafka 2.x) and kafka-python (a pure-Python
implementation). Every test checks what came back -- partitions, offsets,
keys, values, headers, timestamps, configs, error codes -- not just that no
exception was raised, and records the API versions the client actually sent
(librdkafka `debug=protocol`, kafka-python's DEBUG request log), asserting
they are within what the server advertises in ApiVersions. The versions are
summarised at the end of the run and written to
<pytest basetemp>/negotiated-api-versions.json.

Hooklog does not implement consumer groups, committed offsets, idempotent
producers or SASL yet, so the clients here use assign() with explicit offsets,
never subscribe() or commit, and run with idempotence off. librdkafka clients
may still carry a group.id (it is required by confluent-kafka's Consumer):
librdkafka only sends FindCoordinator to brokers that advertise it, so it waits
in "query-coord" without sending anything, and explicit-offset fetching works.

Every test also fails if the server dropped a client connection while it ran
(the server logs `closing Kafka connection` with the reason); the failure
message carries that reason.
"""

from __future__ import annotations

import json
import logging
import re
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import confluent_kafka
import kafka
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic, ResourceType
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition
from kafka import errors as kerrors
from kafka.admin import ConfigResource as KConfigResource
from kafka.admin import ConfigResourceType as KConfigResourceType
from kafka.admin import NewTopic as KNewTopic

# What `hooklog serve` implements (docs/protocol.md); ApiVersions must say exactly this.
DOCUMENTED_API_VERSIONS = {
    0: (0, 9),  # Produce (v0-2 advertised for older librdkafka's compression check; refused)
    1: (4, 12),  # Fetch
    2: (1, 7),  # ListOffsets
    3: (0, 12),  # Metadata
    18: (0, 3),  # ApiVersions
    19: (2, 7),  # CreateTopics
    20: (1, 6),  # DeleteTopics
    32: (1, 4),  # DescribeConfigs
    10: (0, 4),  # FindCoordinator
    8: (2, 8),  # OffsetCommit
    9: (1, 8),  # OffsetFetch
    22: (0, 5),  # InitProducerId
    21: (0, 2),  # DeleteRecords
    17: (1, 1),  # SaslHandshake
    36: (0, 2),  # SaslAuthenticate
    11: (0, 9),  # JoinGroup
    14: (0, 5),  # SyncGroup
    12: (0, 4),  # Heartbeat
    13: (0, 5),  # LeaveGroup
    16: (0, 5),  # ListGroups
    15: (0, 5),  # DescribeGroups
}

# Protocol names as librdkafka and kafka-python print them (request class name minus "Request").
API_KEYS = {
    "Produce": 0, "Fetch": 1, "ListOffsets": 2, "Offset": 2, "Metadata": 3,
    "OffsetCommit": 8, "OffsetFetch": 9, "FindCoordinator": 10, "GroupCoordinator": 10,
    "JoinGroup": 11, "Heartbeat": 12, "LeaveGroup": 13, "SyncGroup": 14,
    "DescribeGroups": 15, "ListGroups": 16, "SaslHandshake": 17,
    "ApiVersion": 18, "ApiVersions": 18, "CreateTopics": 19, "DeleteTopics": 20,
    "DeleteRecords": 21, "InitProducerId": 22, "OffsetForLeaderEpoch": 23,
    "DescribeConfigs": 32, "AlterConfigs": 33, "SaslAuthenticate": 36,
    "CreatePartitions": 37, "DescribeCluster": 60, "DescribeTopicPartitions": 75,
    "GetTelemetrySubscriptions": 71, "PushTelemetry": 72,
}
_ALIASES = {"Offset", "GroupCoordinator", "ApiVersion"}
API_NAMES = {key: name for name, key in API_KEYS.items() if name not in _ALIASES}

APIVERSIONS_KEY = 18
CODEC_NONE, CODEC_LZ4 = 0, 3
CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
BASE_TS = 1_700_000_000_000  # explicit record timestamps (ms) are BASE_TS + small deltas
# Timestamps given to offsets_for_times and the first offset Kafka answers for each
# (the earliest record whose timestamp is >= the target), for TS_DELTAS below.
TS_DELTAS = [1000, 5000, 2000, 3000, 4000, 6000]
TS_LOOKUPS = {0: 0, 1000: 0, 1500: 1, 2500: 1, 5000: 1, 5500: 5, 6000: 5, 7000: None}

CLIENT_TIMEOUT_S = 10  # upper bound for one client operation (they take milliseconds)
KCAT_TIMEOUT_S = 20


def unique_topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def now_ms() -> int:
    return int(time.time() * 1000)


def compressible_value(i: int, size: int = 600) -> bytes:
    """A value LZ4 shrinks a lot (clients skip compression when it does not pay)."""
    unit = f"record {i:04d} of the hooklog compatibility suite; ".encode()
    return (unit * (size // len(unit) + 1))[:size]


# --------------------------------------------------------------------------
# The server, per test
# --------------------------------------------------------------------------


class Hub:
    """The module's server plus the log position at the start of one test."""

    def __init__(self, server):
        self.server = server
        self.bootstrap = server.bootstrap
        self.data_dir: Path = server.data_dir
        self.mark = server.mark()

    def log(self) -> str:
        return "\n".join(self.server.log_since(self.mark))

    def diagnostics(self) -> str:
        return f"\n--- hooklog serve log during this test ---\n{self.log() or '(nothing)'}"

    def assert_no_dropped_connections(self):
        assert self.server.running, "hooklog serve died during the test" + self.diagnostics()
        closes = self.server.connection_closes_since(self.mark)
        assert not closes, "the server dropped client connections:\n" + "\n".join(closes)


@pytest.fixture
def hub(kafka_server) -> Hub:
    assert kafka_server.running, "hooklog serve is not running (an earlier test killed it?)"
    return Hub(kafka_server)


# --------------------------------------------------------------------------
# Negotiated API versions
# --------------------------------------------------------------------------

LIBRDKAFKA_SENT = re.compile(r"Sent (\w+?)Request \(v(\d+)\b")
LIBRDKAFKA_ADVERTISED = re.compile(r"ApiKey (\w+) \((\d+)\) Versions (\d+)\.\.(\d+)")
KAFKA_PYTHON_SENT = re.compile(r"Request \d+: (\w+?)Request\(version=(\d+)")


@dataclass
class Trace:
    """What one client library sent, and the ApiVersions table it says it received."""

    client: str
    used: dict = field(default_factory=dict)  # api key -> set of versions sent
    advertised_seen: dict = field(default_factory=dict)  # api key -> (min, max)
    unknown_names: set = field(default_factory=set)

    def sent(self, name: str, version: int):
        key = API_KEYS.get(name)
        if key is None:
            self.unknown_names.add(name)
            return
        self.used.setdefault(key, set()).add(version)

    def add_librdkafka_lines(self, lines):
        for line in lines:
            match = LIBRDKAFKA_SENT.search(line)
            if match:
                self.sent(match.group(1), int(match.group(2)))
                continue
            match = LIBRDKAFKA_ADVERTISED.search(line)
            if match:
                self.advertised_seen[int(match.group(2))] = (int(match.group(3)), int(match.group(4)))

    def add_kafka_python_lines(self, lines):
        for line in lines:
            match = KAFKA_PYTHON_SENT.search(line)
            if match:
                self.sent(match.group(1), int(match.group(2)))

    def summary(self) -> str:
        return ", ".join(
            f"{API_NAMES.get(k, k)} v{'/'.join(map(str, sorted(v)))}" for k, v in sorted(self.used.items())
        )


def check_negotiation(trace: Trace, advertised: dict, registry: dict):
    """Every API version the client sent lies within the advertised range (ApiVersions
    itself may be probed above it: KIP-511 answers that with the table, then the client
    retries in range); prints the versions and adds them to the session summary."""
    print(f"\n[{trace.client}] API versions sent: {trace.summary()}")
    if trace.advertised_seen:
        print(f"[{trace.client}] ApiVersions as the client read it: {sorted(trace.advertised_seen.items())}")
    assert trace.used, f"{trace.client}: no request was traced (is protocol debug logging on?)"
    assert not trace.unknown_names, f"{trace.client} sent requests this suite cannot name: {trace.unknown_names}"
    problems = []
    for key, versions in sorted(trace.used.items()):
        name = API_NAMES.get(key, str(key))
        if key not in advertised:
            problems.append(f"{name} (key {key}) v{sorted(versions)}: not advertised by the server")
            continue
        low, high = advertised[key]
        outside = sorted(v for v in versions if not low <= v <= high)
        inside = [v for v in versions if low <= v <= high]
        if key == APIVERSIONS_KEY and inside and all(v > high for v in outside):
            continue
        if outside:
            problems.append(f"{name} v{outside} outside the advertised {low}..{high}")
    assert not problems, f"{trace.client}: " + "; ".join(problems)
    if trace.advertised_seen:
        assert trace.advertised_seen == advertised, (
            f"{trace.client} read an ApiVersions table different from the server's: "
            f"{trace.advertised_seen} != {advertised}"
        )
    entry = registry.setdefault(trace.client, {"used": {}, "advertised_seen": {}})
    for key, versions in trace.used.items():
        name = API_NAMES.get(key, str(key))
        entry["used"][name] = sorted(set(entry["used"].get(name, [])) | versions)
    for key, (low, high) in trace.advertised_seen.items():
        entry["advertised_seen"][API_NAMES.get(key, str(key))] = [low, high]


class LineSink:
    """A `logger` for confluent-kafka: it only needs a log(level, msg, *args) method.

    Not a logging.Logger on purpose: pytest attaches its capture handlers to
    non-propagating loggers, which would put every debug line into failure reports.
    """

    def __init__(self):
        self.lines = []

    def log(self, level, msg, *args):
        try:
            self.lines.append(msg % args if args else str(msg))
        except Exception:  # a bad line must not break the client's thread
            self.lines.append(repr((msg, args)))


class KafkaPythonTrace:
    """Collects kafka-python's DEBUG request log ('Request N: XRequest(version=V, ...)').

    A filter on the `kafka.net.connection` logger keeps each DEBUG record and stops it
    there, so the (verbose) request log never reaches pytest's log capture.
    """

    def __init__(self):
        self.lines = []
        self.logger = logging.getLogger("kafka.net.connection")

    def filter(self, record):
        if record.levelno > logging.DEBUG:
            return True
        try:
            self.lines.append(record.getMessage())
        except Exception:
            pass
        return False

    def __enter__(self):
        self.saved_level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addFilter(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeFilter(self)
        self.logger.setLevel(self.saved_level)
        return False

    def trace(self) -> Trace:
        trace = Trace(KAFKA_PYTHON_LABEL)
        trace.add_kafka_python_lines(self.lines)
        return trace


KAFKA_PYTHON_LABEL = f"kafka-python {kafka.__version__}"
CONFLUENT_LABEL = f"confluent-kafka {confluent_kafka.version()} (librdkafka {confluent_kafka.libversion()[0]})"


# --------------------------------------------------------------------------
# Stored batches (to see which codec reached the disk)
# --------------------------------------------------------------------------


@dataclass
class StoredBatch:
    base_offset: int
    last_offset: int
    codec: int


def stored_batches(data_dir: Path, topic: str, partition: int) -> list:
    """The batch headers of a partition's segment files (RecordBatch v2 layout)."""
    batches = []
    for log in sorted((data_dir / f"{topic}-{partition}").glob("*.log")):
        data = log.read_bytes()
        position = 0
        while position + 61 <= len(data):
            base_offset, length = struct.unpack_from(">qi", data, position)
            if length < 49:  # zero fill or a torn tail: no further batches
                break
            magic = data[position + 16]
            attributes, last_delta = struct.unpack_from(">hi", data, position + 21)
            assert magic == 2, f"{log}@{position}: magic {magic}"
            batches.append(StoredBatch(base_offset, base_offset + last_delta, attributes & 0x7))
            position += 12 + length
    return batches


# --------------------------------------------------------------------------
# kcat
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kcat_label(kcat_bin) -> str:
    out = subprocess.run([kcat_bin, "-V"], capture_output=True, text=True, timeout=10).stdout
    version = re.search(r"Version (\S+)", out)
    librdkafka = re.search(r"librdkafka (\S+)", out)
    return f"kcat {version.group(1) if version else '?'} (librdkafka {librdkafka.group(1) if librdkafka else '?'})"


class Kcat:
    """Runs kcat with protocol debugging on; its debug lines feed one Trace."""

    def __init__(self, binary: str, hub: Hub, label: str):
        self.binary = binary
        self.hub = hub
        self.trace = Trace(label)
        self.stderr_log = []

    def run(self, *args, stdin: Optional[bytes] = None, debug="protocol,feature", check=True):
        command = [self.binary, "-b", self.hub.bootstrap, "-d", debug, "-X", "socket.timeout.ms=5000", *args]
        proc = subprocess.run(command, input=stdin, capture_output=True, timeout=KCAT_TIMEOUT_S)
        stderr = proc.stderr.decode("utf-8", "replace")
        self.stderr_log.append(stderr)
        self.trace.add_librdkafka_lines(stderr.splitlines())
        if check:
            not_debug = "\n".join(l for l in stderr.splitlines() if not l.startswith("%7|"))
            assert proc.returncode == 0, (
                f"`{' '.join(command)}` exited {proc.returncode}\nstderr (without debug lines):\n"
                f"{not_debug}" + self.hub.diagnostics()
            )
        return proc

    def produce(self, topic: str, lines: list, *extra, partition: int = 0):
        stdin = b"".join(line + b"\n" for line in lines)
        return self.run("-P", "-t", topic, "-p", str(partition), *extra, stdin=stdin)

    def consume_json(self, topic: str, *extra) -> list:
        """Messages as kcat -J prints them, until the end of every partition."""
        proc = self.run("-C", "-J", "-e", "-t", topic, *extra)
        return [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]


@pytest.fixture
def kcat(kcat_bin, hub, kcat_label, advertised, negotiated_versions):
    runner = Kcat(kcat_bin, hub, kcat_label)
    yield runner
    check_negotiation(runner.trace, advertised, negotiated_versions)


KCAT_HEADER_ARGS = ["-H", "trace=abc-123", "-H", "empty=", "-H", "nullh", "-H", "dup=1", "-H", "dup=2"]
# (stdin line, expected key, expected value) with -K: (the first ':' splits key from value;
# no ':' means no key).
KCAT_LINES = [
    (b"k1:v1", b"k1", b"v1"),
    (b"nokey", None, b"nokey"),
    (b":empty key", b"", b"empty key"),
    (b"k4:", b"k4", b""),
    (b"k5:a:b:c", b"k5", b"a:b:c"),
    (b"k6:" + b"x" * 3000, b"k6", b"x" * 3000),
]


@pytest.mark.parametrize("codec", ["none", "lz4"])
def test_kcat_produce_and_consume_keys_values_headers(hub, kcat, codec):
    topic = unique_topic(f"kcat-{codec}")
    before = now_ms()
    kcat.produce(topic, [line for line, _, _ in KCAT_LINES], "-K:", "-z", codec, *KCAT_HEADER_ARGS)
    after = now_ms()

    # -f with every field, all partitions from the beginning, exit at the end.
    fmt = "%t|%p|%o|%K|%k|%S|%s|%T|%h\\n"
    out = kcat.run("-C", "-e", "-o", "beginning", "-t", topic, "-f", fmt).stdout.decode()
    rows = [line.split("|", 8) for line in out.splitlines() if line]
    assert len(rows) == len(KCAT_LINES), f"kcat -C printed {len(rows)} records:\n{out}" + hub.diagnostics()
    for offset, (row, (_, key, value)) in enumerate(zip(rows, KCAT_LINES)):
        t, p, o, klen, k, vlen, v, ts, headers = row
        assert (t, p, o) == (topic, "0", str(offset)), row
        assert int(klen) == (-1 if key is None else len(key)), f"offset {offset}: key length {klen}"
        assert k.encode() == (key or b""), f"offset {offset}: key {k!r}"
        assert int(vlen) == len(value) and v.encode() == value, f"offset {offset}: value {v[:40]!r}"
        assert before - 1000 <= int(ts) <= after + 1000, f"offset {offset}: timestamp {ts} not in [{before}, {after}]"
        assert headers == "trace=abc-123,empty=,nullh=NULL,dup=1,dup=2", f"offset {offset}: headers {headers!r}"

    # -J gives exact nulls for keys and header values.
    messages = kcat.consume_json(topic, "-o", "beginning", "-p", "0")
    assert [m["offset"] for m in messages] == list(range(len(KCAT_LINES)))
    for m, (_, key, value) in zip(messages, KCAT_LINES):
        assert m["topic"] == topic and m["partition"] == 0 and m["broker"] == 0
        assert m["key"] == (None if key is None else key.decode())
        assert m["payload"] == value.decode()
        assert m["tstype"] == "create"
        assert m["headers"] == ["trace", "abc-123", "empty", "", "nullh", None, "dup", "1", "dup", "2"]

    # Only partition 0 has data: the auto-created topic has --num-partitions 3.
    assert [b.base_offset for b in stored_batches(hub.data_dir, topic, 0)][:1] == [0]
    for partition in (1, 2):
        assert stored_batches(hub.data_dir, topic, partition) == []
    hub.assert_no_dropped_connections()


def test_kcat_lz4_batches_are_stored_compressed(hub, kcat):
    """`kcat -z lz4` must send LZ4 batches, as it does to Kafka.

    kcat 1.7.1 carries librdkafka 2.0.2, which compresses with LZ4 only when both hold:
    - its "LZ4" feature is on, which it derives from FindCoordinator v0 being in
      ApiVersions (rdkafka_feature.c: LZ4 depends on FindCoordinator 0..0);
    - Produce v0 is in the advertised range: librdkafka <= 2.11.0 asks
      "is Produce supported somewhere in 0..0?" before using gzip, snappy or lz4.
      Kafka 4.x still advertises Produce from v0 for exactly this reason (KAFKA-18659)
      while refusing v0-v2 requests.
    Otherwise it logs "Broker does not support compression type lz4: not compressing
    batch" and sends the batch uncompressed.
    """
    topic = unique_topic("kcat-lz4-codec")
    lines = [b"key-%d:" % i + compressible_value(i) for i in range(20)]
    kcat.produce(topic, lines, "-K:", "-z", "lz4")
    kcat.run("-P", "-t", topic, "-p", "0", "-z", "lz4", stdin=b"\n".join(lines[:3]) + b"\n", debug="msg,feature")
    batches = stored_batches(hub.data_dir, topic, 0)
    assert batches and batches[-1].last_offset == 22, batches
    codecs = sorted({CODEC_NAMES[b.codec] for b in batches})
    reasons = sorted({
        line.split("]: ", 1)[-1]
        for err in kcat.stderr_log for line in err.splitlines()
        if "compression" in line.lower() or "Feature LZ4" in line or "feature LZ4" in line
    })
    assert codecs == ["lz4"], (
        f"kcat -z lz4 stored {codecs} batches, not lz4; librdkafka said:\n  " + "\n  ".join(reasons)
    )
    hub.assert_no_dropped_connections()


def test_kcat_replay_from_offset_and_timestamp(hub, kcat):
    topic = unique_topic("kcat-replay")
    kcat.produce(topic, [b"first-%d" % i for i in range(6)])
    time.sleep(0.05)  # the second run's records get a later CreateTime
    kcat.produce(topic, [b"second-%d" % i for i in range(4)])
    everything = kcat.consume_json(topic, "-p", "0", "-o", "beginning")
    assert [m["payload"] for m in everything] == [f"first-{i}" for i in range(6)] + [f"second-{i}" for i in range(4)]

    # An absolute offset in the middle of the first batch.
    middle = kcat.consume_json(topic, "-p", "0", "-o", "3")
    assert [(m["offset"], m["payload"]) for m in middle] == [(o, everything[o]["payload"]) for o in range(3, 10)]
    # Relative to the end (ListOffsets latest).
    tail = kcat.consume_json(topic, "-p", "0", "-o", "-2")
    assert [m["offset"] for m in tail] == [8, 9]
    # From a timestamp (ListOffsets by time): the first record of the second run.
    second_ts = everything[6]["ts"]
    assert second_ts > everything[5]["ts"], "the two kcat runs got the same timestamp"
    from_ts = kcat.consume_json(topic, "-p", "0", "-o", f"s@{second_ts}")
    assert [m["offset"] for m in from_ts] == [6, 7, 8, 9]
    # kcat -Q: offsets for a timestamp, per partition.
    query = kcat.run("-Q", "-t", f"{topic}:0:{second_ts}").stdout.decode()
    assert re.search(rf"{re.escape(topic)} \[0\]\s+offset 6\b", query), query
    # Past the end: nothing, and no error.
    assert kcat.consume_json(topic, "-p", "0", "-o", "10") == []
    hub.assert_no_dropped_connections()


def test_kcat_metadata_listing(hub, kcat):
    topic = unique_topic("kcat-meta")
    kcat.produce(topic, [b"x"])
    text = kcat.run("-L", "-t", topic).stdout.decode()
    assert re.search(rf"1 brokers:\s+broker 0 at {re.escape(hub.bootstrap)}", text), text
    assert f'topic "{topic}" with 3 partitions:' in text, text
    for partition in range(3):
        assert re.search(rf"partition {partition}, leader 0, replicas: 0, isrs: 0", text), text

    listing = json.loads(kcat.run("-L", "-J").stdout.decode())
    assert listing["brokers"] == [{"id": 0, "name": hub.bootstrap}]
    assert listing["controllerid"] == 0
    topics = {t["topic"]: t for t in listing["topics"]}
    assert topic in topics, sorted(topics)
    assert topics[topic]["partitions"] == [
        {"partition": p, "leader": 0, "replicas": [{"id": 0}], "isrs": [{"id": 0}]} for p in range(3)
    ]
    assert all(not t.startswith("__") for t in topics), "internal topics listed without being asked for"
    hub.assert_no_dropped_connections()


# --------------------------------------------------------------------------
# confluent-kafka (librdkafka)
# --------------------------------------------------------------------------


class Librdkafka:
    """confluent-kafka clients of one test, all logging `debug=protocol` into one Trace."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.sink = LineSink()
        self.clients = []

    def config(self, debug="protocol,feature", **extra) -> dict:
        conf = {
            "bootstrap.servers": self.hub.bootstrap,
            "socket.timeout.ms": 5000,
            "debug": debug,
            "logger": self.sink,
        }
        conf.update({k.replace("_", "."): v for k, v in extra.items()})
        return conf

    def producer(self, **extra) -> Producer:
        extra.setdefault("enable_idempotence", False)
        extra.setdefault("message_timeout_ms", 8000)
        producer = Producer(self.config(**extra))
        self.clients.append(producer)
        return producer

    def consumer(self, **extra) -> Consumer:
        extra.setdefault("group_id", "hooklog-compat")  # confluent-kafka requires one
        extra.setdefault("enable_auto_commit", False)
        extra.setdefault("enable_partition_eof", True)
        consumer = Consumer(self.config(**extra))
        self.clients.append(consumer)
        return consumer

    def admin(self, **extra) -> AdminClient:
        admin = AdminClient(self.config(**extra))
        self.clients.append(admin)
        return admin

    def lines(self) -> list:
        return list(self.sink.lines)

    def trace(self) -> Trace:
        for client in self.clients:  # serve queued log lines
            if isinstance(client, Consumer):
                continue
            client.poll(0)
        trace = Trace(CONFLUENT_LABEL)
        trace.add_librdkafka_lines(self.lines())
        return trace


@pytest.fixture
def rdk(hub, advertised, negotiated_versions):
    clients = Librdkafka(hub)
    yield clients
    for client in clients.clients:
        if isinstance(client, Consumer):
            client.poll(0)  # serves the consumer's queued log lines
            client.close()
    if clients.clients:
        check_negotiation(clients.trace(), advertised, negotiated_versions)


def deliver(producer: Producer, messages: list, flush_each=False) -> list:
    """Produces (kwargs) messages; returns [(err, msg)] delivery reports in produce order."""
    reports = [None] * len(messages)

    def on_delivery(index):
        return lambda err, msg: reports.__setitem__(index, (err, msg))

    for index, kwargs in enumerate(messages):
        producer.produce(on_delivery=on_delivery(index), **kwargs)
        if flush_each:
            assert producer.flush(CLIENT_TIMEOUT_S) == 0
    remaining = producer.flush(CLIENT_TIMEOUT_S)
    assert remaining == 0, f"{remaining} messages not delivered within {CLIENT_TIMEOUT_S} s"
    assert all(r is not None for r in reports)
    return reports


def consume_until_eof(consumer: Consumer, partitions: int, limit_s: float = CLIENT_TIMEOUT_S) -> list:
    """Messages until every assigned partition reported end-of-partition; errors raise."""
    messages, eof = [], set()
    deadline = time.monotonic() + limit_s
    while len(eof) < partitions:
        assert time.monotonic() < deadline, f"no end of partition after {limit_s} s; got {len(messages)}"
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                eof.add(msg.partition())
                continue
            raise AssertionError(f"consumer error: {msg.error()}")
        messages.append(msg)
    return messages


def test_confluent_producer_delivery_reports_and_read_back(hub, rdk):
    topic = unique_topic("ck-produce")
    producer = rdk.producer(compression_type="lz4", acks="all", linger_ms=5)
    sent = []
    for i in range(30):
        message = {
            "topic": topic,
            "key": f"key-{i % 5}".encode(),
            "value": compressible_value(i, 200),
            "headers": [("idx", str(i).encode()), ("kind", b"confluent"), ("nul", None)],
        }
        if i % 3 == 0:
            message["timestamp"] = BASE_TS + i
        if i >= 25:
            message["partition"] = 2
        sent.append(message)
    before = now_ms()
    reports = deliver(producer, sent)
    after = now_ms()

    per_partition = {}
    for i, ((err, msg), message) in enumerate(zip(reports, sent)):
        assert err is None, f"message {i}: {err}" + hub.diagnostics()
        assert msg.topic() == topic and msg.key() == message["key"] and msg.value() == message["value"]
        if "partition" in message:
            assert msg.partition() == message["partition"]
        per_partition.setdefault(msg.partition(), []).append((msg.offset(), i))
    # acks=all reports: offsets are consecutive from 0 in produce order, in each partition.
    for partition, offsets in per_partition.items():
        assert [o for o, _ in offsets] == list(range(len(offsets))), f"partition {partition}: {offsets}"
    # The default partitioner keeps a key on one partition.
    key_partitions = {}
    for (err, msg), message in zip(reports[:25], sent[:25]):
        key_partitions.setdefault(message["key"], set()).add(msg.partition())
    assert all(len(p) == 1 for p in key_partitions.values()), key_partitions

    consumer = rdk.consumer(auto_offset_reset="error")
    consumer.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(3)])
    received = {(m.partition(), m.offset()): m for m in consume_until_eof(consumer, 3)}
    assert len(received) == len(sent), f"read {len(received)} of {len(sent)}" + hub.diagnostics()
    for (err, report), message in zip(reports, sent):
        got = received[(report.partition(), report.offset())]
        assert got.key() == message["key"] and got.value() == message["value"]
        assert got.headers() == message["headers"], got.headers()
        ts_type, ts = got.timestamp()
        assert ts_type == confluent_kafka.TIMESTAMP_CREATE_TIME
        if "timestamp" in message:
            assert ts == message["timestamp"]
        else:
            assert before - 1000 <= ts <= after + 1000
    hub.assert_no_dropped_connections()


def test_confluent_lz4_batches_are_stored_compressed(hub, rdk):
    """compression.type=lz4 must reach the disk as LZ4 batches, as it does with Kafka.

    librdkafka (2.16 too) enables its "LZ4" feature only for brokers that advertise
    FindCoordinator (rdkafka_feature.c: LZ4 depends on FindCoordinator, a proxy for
    "broker >= 0.8.2"); without it the producer logs "Broker does not support
    compression type lz4: not compressing batch" and sends the batch uncompressed.
    """
    topic = unique_topic("ck-lz4-codec")
    producer = rdk.producer(compression_type="lz4", acks="all", linger_ms=20, debug="protocol,feature,msg")
    reports = deliver(producer, [{"topic": topic, "partition": 0, "value": compressible_value(i)} for i in range(20)])
    assert all(err is None for err, _ in reports), reports
    batches = stored_batches(hub.data_dir, topic, 0)
    assert batches and batches[-1].last_offset == 19, batches
    codecs = sorted({CODEC_NAMES[b.codec] for b in batches})
    producer.poll(0)
    reasons = sorted({
        line.split("]: ", 1)[-1] for line in rdk.lines()
        if "compression" in line.lower() or "feature LZ4" in line or "Feature LZ4" in line
    })
    assert codecs == ["lz4"], (
        f"compression.type=lz4 stored {codecs} batches; librdkafka said:\n  " + "\n  ".join(reasons)
    )
    hub.assert_no_dropped_connections()


def test_confluent_assign_and_seek_replay(hub, rdk):
    topic = unique_topic("ck-seek")
    producer = rdk.producer(acks="all")
    values = [b"value-%02d" % i for i in range(12)]
    deliver(producer, [
        {"topic": topic, "partition": 0, "key": b"k%d" % i, "value": v, "headers": [("n", b"%d" % i)]}
        for i, v in enumerate(values)
    ])

    # group.id is set (confluent-kafka requires it) but nothing needs the coordinator:
    # explicit offsets, no subscribe, no commits.
    consumer = rdk.consumer(group_id="ck-seek-group", auto_offset_reset="error")
    consumer.assign([TopicPartition(topic, 0, 0)])
    first = consume_until_eof(consumer, 1)
    assert [(m.offset(), m.key(), m.value(), m.headers()) for m in first] == [
        (i, b"k%d" % i, v, [("n", b"%d" % i)]) for i, v in enumerate(values)
    ]
    position = consumer.position([TopicPartition(topic, 0)])[0]
    assert position.offset == 12

    consumer.seek(TopicPartition(topic, 0, 5))
    replay = consume_until_eof(consumer, 1)
    assert [m.offset() for m in replay] == list(range(5, 12))
    assert [m.value() for m in replay] == values[5:]

    # Re-assigning with an offset replays from there too.
    consumer.unassign()
    consumer.assign([TopicPartition(topic, 0, 10)])
    assert [m.offset() for m in consume_until_eof(consumer, 1)] == [10, 11]

    hub.assert_no_dropped_connections()


def test_confluent_watermarks_and_offsets_for_times(hub, rdk):
    topic = unique_topic("ck-times")
    producer = rdk.producer(acks="all")
    # One batch per record, timestamps out of order.
    deliver(producer, [
        {"topic": topic, "partition": 0, "value": b"t%d" % d, "timestamp": BASE_TS + d} for d in TS_DELTAS
    ], flush_each=True)
    consumer = rdk.consumer()
    assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=CLIENT_TIMEOUT_S, cached=False) == (0, 6)
    assert consumer.get_watermark_offsets(TopicPartition(topic, 1), timeout=CLIENT_TIMEOUT_S, cached=False) == (0, 0)

    # One partition per request: Kafka refuses duplicate partitions in one ListOffsets.
    for target, expected in TS_LOOKUPS.items():
        [answer] = consumer.offsets_for_times([TopicPartition(topic, 0, BASE_TS + target)], timeout=CLIENT_TIMEOUT_S)
        assert answer.error is None, answer
        want = confluent_kafka.OFFSET_END if expected is None else expected
        assert answer.offset == want, f"offsets_for_times(+{target}) = {answer.offset}, Kafka answers {want}"
    hub.assert_no_dropped_connections()


def test_confluent_admin_create_describe_delete(hub, rdk):
    topic = unique_topic("ck-admin")
    admin = rdk.admin()
    configs = {"cleanup.policy": "compact", "retention.ms": "3600000", "segment.bytes": "1048576"}
    futures = admin.create_topics([NewTopic(topic, num_partitions=4, config=configs)], request_timeout=CLIENT_TIMEOUT_S)
    assert futures[topic].result(CLIENT_TIMEOUT_S) is None

    again = admin.create_topics([NewTopic(topic, num_partitions=1)], request_timeout=CLIENT_TIMEOUT_S)
    with pytest.raises(confluent_kafka.KafkaException) as exists:
        again[topic].result(CLIENT_TIMEOUT_S)
    assert exists.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    dry = unique_topic("ck-admin-dry")
    futures = admin.create_topics([NewTopic(dry, num_partitions=2)], validate_only=True, request_timeout=CLIENT_TIMEOUT_S)
    assert futures[dry].result(CLIENT_TIMEOUT_S) is None

    metadata = admin.list_topics(timeout=CLIENT_TIMEOUT_S)
    assert dry not in metadata.topics, "validate_only created the topic"
    assert {b.id: (b.host, b.port) for b in metadata.brokers.values()} == {0: (hub.server.host, hub.server.port)}
    assert metadata.controller_id == 0
    described = metadata.topics[topic]
    assert described.error is None
    assert sorted(described.partitions) == [0, 1, 2, 3]
    for partition in described.partitions.values():
        assert (partition.leader, partition.replicas, partition.isrs) == (0, [0], [0])

    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource], request_timeout=CLIENT_TIMEOUT_S)[resource].result(CLIENT_TIMEOUT_S)
    for name, value in configs.items():
        assert entries[name].value == value, (name, entries[name])
        assert entries[name].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, (name, entries[name].source)
        assert not entries[name].is_default
    default = entries["max.message.bytes"]
    assert (default.value, default.source, default.is_default) == ("1048588", ConfigSource.DEFAULT_CONFIG.value, True)
    assert entries["retention.bytes"].value == "-1"

    broker = ConfigResource(ResourceType.BROKER, "0")
    broker_entries = admin.describe_configs([broker], request_timeout=CLIENT_TIMEOUT_S)[broker].result(CLIENT_TIMEOUT_S)
    assert broker_entries["num.partitions"].value == "3"  # --num-partitions 3

    futures = admin.delete_topics([topic], request_timeout=CLIENT_TIMEOUT_S)
    assert futures[topic].result(CLIENT_TIMEOUT_S) is None
    assert topic not in admin.list_topics(timeout=CLIENT_TIMEOUT_S).topics
    gone = admin.describe_configs([resource], request_timeout=CLIENT_TIMEOUT_S)[resource]
    with pytest.raises(confluent_kafka.KafkaException) as unknown:
        gone.result(CLIENT_TIMEOUT_S)
    assert unknown.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    missing = admin.delete_topics([topic], request_timeout=CLIENT_TIMEOUT_S)[topic]
    with pytest.raises(confluent_kafka.KafkaException) as unknown:
        missing.result(CLIENT_TIMEOUT_S)
    assert unknown.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert not (hub.data_dir / f"{topic}-0").exists(), "deleted topic's partition directory is still there"
    hub.assert_no_dropped_connections()


def test_confluent_message_too_large(hub, rdk):
    topic = unique_topic("ck-too-large")
    admin = rdk.admin()
    admin.create_topics(
        [NewTopic(topic, num_partitions=1, config={"max.message.bytes": "1024"})], request_timeout=CLIENT_TIMEOUT_S
    )[topic].result(CLIENT_TIMEOUT_S)
    producer = rdk.producer(acks="all", retries=0)
    [(err, msg)] = deliver(producer, [{"topic": topic, "partition": 0, "value": b"x" * 4000}])
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, f"got {err}" + hub.diagnostics()
    [(err, msg)] = deliver(producer, [{"topic": topic, "partition": 0, "value": b"small"}])
    assert err is None and msg.offset() == 0, f"{err} at {msg.offset()}: the refused batch must not take an offset"
    hub.assert_no_dropped_connections()


def test_confluent_fetch_offset_out_of_range(hub, rdk):
    topic = unique_topic("ck-range")
    producer = rdk.producer(acks="all")
    deliver(producer, [{"topic": topic, "partition": 0, "value": b"r%d" % i} for i in range(5)])

    # auto.offset.reset=earliest: OFFSET_OUT_OF_RANGE makes the consumer restart at 0.
    resetting = rdk.consumer(auto_offset_reset="earliest")
    resetting.assign([TopicPartition(topic, 0, 100)])
    assert [m.offset() for m in consume_until_eof(resetting, 1)] == [0, 1, 2, 3, 4]

    # auto.offset.reset=error: the broker's OFFSET_OUT_OF_RANGE surfaces to the application.
    strict = rdk.consumer(auto_offset_reset="error")
    strict.assign([TopicPartition(topic, 0, 100)])
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    error = None
    while error is None and time.monotonic() < deadline:
        msg = strict.poll(0.2)
        if msg is not None:
            assert msg.error(), f"fetched offset {msg.offset()} from beyond the end"
            error = msg.error()
    assert error is not None, "no error for a fetch past the end" + hub.diagnostics()
    assert error.code() == KafkaError._AUTO_OFFSET_RESET, error
    assert "Offset out of range" in error.str(), error
    hub.assert_no_dropped_connections()


def test_confluent_invalid_topic_names(hub, rdk):
    producer = rdk.producer(acks="all", message_timeout_ms=5000)
    [(err, _)] = deliver(producer, [{"topic": "bad topic!", "value": b"x"}])
    assert err is not None and err.code() == KafkaError.TOPIC_EXCEPTION, err

    admin = rdk.admin()
    bad = ["bad name!", ".", "..", "a" * 250, "caf\u00e9"]
    futures = admin.create_topics([NewTopic(name, num_partitions=1) for name in bad], request_timeout=CLIENT_TIMEOUT_S)
    for name in bad:
        with pytest.raises(confluent_kafka.KafkaException) as refused:
            futures[name].result(CLIENT_TIMEOUT_S)
        assert refused.value.args[0].code() == KafkaError.TOPIC_EXCEPTION, (name[:20], refused.value)
    listed = admin.list_topics(timeout=CLIENT_TIMEOUT_S).topics
    assert not set(bad) & set(listed)
    hub.assert_no_dropped_connections()


@pytest.mark.parametrize("length", [246, 249])
def test_topic_names_up_to_249_characters_are_valid(hub, rdk, length):
    """Kafka accepts topic names of up to 249 characters (Topic.MAX_NAME_LENGTH)."""
    name = f"{length}-" + "n" * (length - len(f"{length}-"))
    assert len(name) == length
    admin = rdk.admin()
    future = admin.create_topics([NewTopic(name, num_partitions=2)], request_timeout=CLIENT_TIMEOUT_S)[name]
    try:
        future.result(CLIENT_TIMEOUT_S)
    except confluent_kafka.KafkaException as error:
        pytest.fail(f"CreateTopics for a valid {length}-character name failed: {error.args[0]}" + hub.diagnostics())
    metadata = admin.list_topics(timeout=CLIENT_TIMEOUT_S).topics
    assert name in metadata and len(metadata[name].partitions) == 2
    producer = rdk.producer(acks="all")
    [(err, msg)] = deliver(producer, [{"topic": name, "partition": 1, "value": b"long name"}])
    assert err is None and msg.offset() == 0, err
    hub.assert_no_dropped_connections()


def test_confluent_keyless_record_on_compacted_topic_is_invalid(hub, rdk):
    topic = unique_topic("ck-compact")
    admin = rdk.admin()
    admin.create_topics(
        [NewTopic(topic, num_partitions=1, config={"cleanup.policy": "compact"})], request_timeout=CLIENT_TIMEOUT_S
    )[topic].result(CLIENT_TIMEOUT_S)
    producer = rdk.producer(acks="all", retries=0)
    [(err, _)] = deliver(producer, [{"topic": topic, "partition": 0, "value": b"no key"}])
    assert err is not None and err.code() == KafkaError.INVALID_RECORD, err
    [(err, msg)] = deliver(producer, [{"topic": topic, "partition": 0, "key": b"k", "value": b"keyed"}])
    assert err is None and msg.offset() == 0, err
    hub.assert_no_dropped_connections()


# --------------------------------------------------------------------------
# kafka-python
# --------------------------------------------------------------------------


@pytest.fixture
def kp(hub, advertised, negotiated_versions):
    """Captures kafka-python's request log for the test; closes the clients it made."""
    made = []
    with KafkaPythonTrace() as tracer:

        class Factory:
            def producer(self, **extra):
                config = dict(bootstrap_servers=hub.bootstrap, acks="all", enable_idempotence=False,
                              request_timeout_ms=5000, max_block_ms=5000, bootstrap_timeout_ms=5000)
                config.update(extra)
                made.append(KafkaProducer(**config))
                return made[-1]

            def consumer(self, **extra):
                config = dict(bootstrap_servers=hub.bootstrap, group_id=None, enable_auto_commit=False,
                              request_timeout_ms=5000, fetch_max_wait_ms=100)
                config.update(extra)
                made.append(KafkaConsumer(**config))
                return made[-1]

            def admin(self, **extra):
                config = dict(bootstrap_servers=hub.bootstrap, request_timeout_ms=5000)
                config.update(extra)
                made.append(KafkaAdminClient(**config))
                return made[-1]

        yield Factory()
        views = {str(v) for v in map(kafka_python_broker_view, made) if v}
        for client in made:
            client.close(timeout=2) if isinstance(client, KafkaProducer) else client.close()
    if made:
        trace = tracer.trace()
        for view in sorted(views):
            print(f"\n[{trace.client}] client's view of the broker: {view}")
        check_negotiation(trace, advertised, negotiated_versions)


def kafka_python_broker_view(client):
    """kafka-python's BrokerVersionData: the version it inferred and the ApiVersions table."""
    manager = getattr(client, "_manager", None)
    if manager is None:  # KafkaProducer keeps it on its sender's client
        manager = getattr(getattr(getattr(client, "_sender", None), "_client", None), "_manager", None)
    data = getattr(manager, "broker_version_data", None)
    if data is None:
        return None
    return f"broker_version={data.broker_version} api_versions={dict(sorted(data.api_versions.items()))}"


def kp_poll(consumer: KafkaConsumer, count: int, limit_s: float = CLIENT_TIMEOUT_S) -> list:
    """Exactly `count` records (sorted by partition, offset), polling until they are in."""
    records = []
    deadline = time.monotonic() + limit_s
    while len(records) < count:
        assert time.monotonic() < deadline, f"only {len(records)} of {count} records after {limit_s} s"
        for batch in consumer.poll(timeout_ms=200).values():
            records.extend(batch)
    assert len(records) == count, f"wanted {count} records, got {len(records)}"
    return sorted(records, key=lambda r: (r.partition, r.offset))


@pytest.mark.parametrize("codec", ["none", "lz4"])
def test_kafka_python_producer_record_metadata(hub, kp, codec):
    topic = unique_topic(f"kp-produce-{codec}")
    producer = kp.producer(compression_type=None if codec == "none" else codec, linger_ms=20)
    sent = []
    before = now_ms()
    for i in range(24):
        message = dict(
            key=b"key-%d" % i,
            value=compressible_value(i, 300),
            headers=[("idx", b"%d" % i), ("codec", codec.encode())],
            partition=i % 3,
        )
        if i % 4 == 0:
            message["timestamp_ms"] = BASE_TS + i
        sent.append((message, producer.send(topic, **message)))
    producer.flush(CLIENT_TIMEOUT_S)
    after = now_ms()
    for i, (message, future) in enumerate(sent):
        metadata = future.get(CLIENT_TIMEOUT_S)
        assert (metadata.topic, metadata.partition) == (topic, i % 3)
        assert metadata.offset == i // 3, f"record {i}: offset {metadata.offset}"
        if "timestamp_ms" in message:
            assert metadata.timestamp == message["timestamp_ms"]
        else:
            assert before - 1000 <= metadata.timestamp <= after + 1000
        assert metadata.serialized_key_size == len(message["key"])
        assert metadata.serialized_value_size == len(message["value"])

    expected_codec = CODEC_LZ4 if codec == "lz4" else CODEC_NONE
    for partition in range(3):
        batches = stored_batches(hub.data_dir, topic, partition)
        assert batches and batches[-1].last_offset == 7, (partition, batches)
        assert {b.codec for b in batches} == {expected_codec}, (partition, batches)

    consumer = kp.consumer(auto_offset_reset="none")
    partitions = [KTopicPartition(topic, p) for p in range(3)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    records = kp_poll(consumer, len(sent))
    by_position = {(r.partition, r.offset): r for r in records}
    for i, (message, future) in enumerate(sent):
        record = by_position[(i % 3, i // 3)]
        assert record.key == message["key"] and record.value == message["value"]
        assert record.headers == message["headers"]
        if "timestamp_ms" in message:
            assert record.timestamp == message["timestamp_ms"]
    hub.assert_no_dropped_connections()


def test_kafka_python_consumer_positions_and_replay(hub, kp):
    topic = unique_topic("kp-seek")
    producer = kp.producer(linger_ms=0)
    for d in TS_DELTAS:  # one batch per record, timestamps out of order
        producer.send(topic, key=b"k%d" % d, value=b"t%d" % d, partition=0, timestamp_ms=BASE_TS + d).get(CLIENT_TIMEOUT_S)
    consumer = kp.consumer(auto_offset_reset="none")
    tp = KTopicPartition(topic, 0)
    assert consumer.beginning_offsets([tp]) == {tp: 0}
    assert consumer.end_offsets([tp]) == {tp: len(TS_DELTAS)}
    assert consumer.end_offsets([KTopicPartition(topic, 1)]) == {KTopicPartition(topic, 1): 0}
    for target, expected in TS_LOOKUPS.items():
        found = consumer.offsets_for_times({tp: BASE_TS + target})[tp]
        if expected is None:
            assert found is None, f"offsets_for_times(+{target}) = {found}, Kafka answers none"
        else:
            assert found is not None and found.offset == expected, f"offsets_for_times(+{target}) = {found}"
            assert found.timestamp == BASE_TS + TS_DELTAS[expected]

    consumer.assign([tp])
    consumer.seek(tp, 3)
    replay = kp_poll(consumer, 3)
    assert [(r.offset, r.key, r.value, r.timestamp) for r in replay] == [
        (o, b"k%d" % TS_DELTAS[o], b"t%d" % TS_DELTAS[o], BASE_TS + TS_DELTAS[o]) for o in range(3, 6)
    ]
    assert consumer.position(tp) == 6

    consumer.seek_to_beginning(tp)
    assert [r.offset for r in kp_poll(consumer, 6)] == list(range(6))
    consumer.seek_to_end(tp)
    assert consumer.position(tp) == 6
    producer.send(topic, value=b"late", partition=0).get(CLIENT_TIMEOUT_S)
    assert [(r.offset, r.value) for r in kp_poll(consumer, 1)] == [(6, b"late")]
    hub.assert_no_dropped_connections()


def test_kafka_python_admin_create_describe_delete(hub, kp):
    topic = unique_topic("kp-admin")
    admin = kp.admin()
    created = admin.create_topics([
        KNewTopic(topic, 2, 1, topic_configs={"cleanup.policy": "compact", "retention.ms": "7200000"})
    ])
    [result] = created["topics"]
    assert (result["name"], result["error_code"], result["num_partitions"]) == (topic, 0, 2), result
    assert result["configs"]["retention.ms"]["value"] == "7200000"

    with pytest.raises(kerrors.TopicAlreadyExistsError):
        admin.create_topics([KNewTopic(topic, 1, 1)])
    with pytest.raises(kerrors.InvalidTopicError):
        admin.create_topics([KNewTopic("bad name!", 1, 1)])
    with pytest.raises(kerrors.InvalidReplicationFactorError):
        admin.create_topics([KNewTopic(unique_topic("kp-rf3"), 1, 3)])

    described = admin.describe_configs([KConfigResource(KConfigResourceType.TOPIC, topic)], config_filter="all")
    entries = described["topic"][topic]
    assert entries["cleanup.policy"]["value"] == "compact"
    assert entries["cleanup.policy"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    assert entries["retention.ms"]["value"] == "7200000"
    assert entries["max.message.bytes"]["value"] == "1048588"
    assert entries["max.message.bytes"]["config_source"] == "DEFAULT_CONFIG"
    only = admin.describe_configs(
        [KConfigResource(KConfigResourceType.TOPIC, topic, configs={"retention.ms": None})], config_filter="all"
    )["topic"][topic]
    assert sorted(only) == ["retention.ms"], sorted(only)

    assert topic in admin.list_topics()
    deleted = admin.delete_topics([topic])
    assert [(t["name"], t["error_code"]) for t in deleted["topics"]] == [(topic, 0)]
    assert topic not in admin.list_topics()
    with pytest.raises(kerrors.UnknownTopicOrPartitionError):
        admin.delete_topics([topic])
    hub.assert_no_dropped_connections()


def test_kafka_python_error_behaviour(hub, kp):
    small = unique_topic("kp-too-large")
    admin = kp.admin()
    admin.create_topics([KNewTopic(small, 1, 1, topic_configs={"max.message.bytes": "1024"})])
    producer = kp.producer(retries=0)
    with pytest.raises(kerrors.MessageSizeTooLargeError):
        producer.send(small, value=b"x" * 4000, partition=0).get(CLIENT_TIMEOUT_S)
    assert producer.send(small, value=b"fits", partition=0).get(CLIENT_TIMEOUT_S).offset == 0

    topic = unique_topic("kp-range")
    for i in range(4):
        producer.send(topic, value=b"r%d" % i, partition=0)
    producer.flush(CLIENT_TIMEOUT_S)
    tp = KTopicPartition(topic, 0)
    resetting = kp.consumer(auto_offset_reset="earliest")
    resetting.assign([tp])
    resetting.seek(tp, 100)
    assert [r.offset for r in kp_poll(resetting, 4)] == [0, 1, 2, 3]

    strict = kp.consumer(auto_offset_reset="none")
    strict.assign([tp])
    strict.seek(tp, 100)
    with pytest.raises(kerrors.OffsetOutOfRangeError):
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while time.monotonic() < deadline:
            strict.poll(timeout_ms=200)
    hub.assert_no_dropped_connections()


# --------------------------------------------------------------------------
# Across clients
# --------------------------------------------------------------------------


@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka"])
def test_pipelined_produce_requests_keep_their_order(hub, kp, rdk, client):
    """One producer connection, several Produce requests in flight (5, the Java and
    kafka-python default), one record per batch, no retries: Kafka handles a connection's
    requests one at a time, so the records land in send order and every acks=all
    report carries offset == send index."""
    topic = unique_topic(f"order-{client}")
    count = 600
    if client == "kafka-python":
        producer = kp.producer(linger_ms=0, batch_size=1, retries=0, max_in_flight_requests_per_connection=5)
        futures = [producer.send(topic, value=b"%d" % i, partition=0) for i in range(count)]
        producer.flush(CLIENT_TIMEOUT_S)
        offsets = [f.get(CLIENT_TIMEOUT_S).offset for f in futures]
    else:
        producer = rdk.producer(acks="all", linger_ms=0, batch_num_messages=1, retries=0,
                                max_in_flight_requests_per_connection=5)
        reports = deliver(producer, [{"topic": topic, "partition": 0, "value": b"%d" % i} for i in range(count)])
        assert all(err is None for err, _ in reports)
        offsets = [msg.offset() for _, msg in reports]
    assert sorted(offsets) == list(range(count))
    moved = [(i, o) for i, o in enumerate(offsets) if o != i]
    assert not moved, (
        f"{len(moved)} of {count} records were appended out of send order "
        f"(send index, offset): {moved[:8]}"
    )
    hub.assert_no_dropped_connections()


def test_lz4_batches_from_kafka_python_read_by_librdkafka_and_kcat(hub, kp, rdk, kcat):
    """LZ4 batches (written by kafka-python, which does compress) served to both
    librdkafka builds, from an offset in the middle of a compressed batch."""
    topic = unique_topic("cross-lz4")
    producer = kp.producer(compression_type="lz4", linger_ms=50, batch_size=1 << 20)
    values = [compressible_value(i, 400) for i in range(12)]
    futures = [producer.send(topic, key=b"c%d" % i, value=v, partition=0, headers=[("i", b"%d" % i)])
               for i, v in enumerate(values)]
    producer.flush(CLIENT_TIMEOUT_S)
    assert [f.get(CLIENT_TIMEOUT_S).offset for f in futures] == list(range(12))
    batches = stored_batches(hub.data_dir, topic, 0)
    assert {b.codec for b in batches} == {CODEC_LZ4}, batches
    assert any(b.base_offset < 5 <= b.last_offset for b in batches), f"offset 5 does not start a batch: {batches}"

    consumer = rdk.consumer(auto_offset_reset="error")
    consumer.assign([TopicPartition(topic, 0, 5)])
    got = consume_until_eof(consumer, 1)
    assert [(m.offset(), m.key(), m.value(), m.headers()) for m in got] == [
        (i, b"c%d" % i, values[i], [("i", b"%d" % i)]) for i in range(5, 12)
    ]

    messages = kcat.consume_json(topic, "-p", "0", "-o", "5")
    assert [(m["offset"], m["key"], m["payload"], m["headers"]) for m in messages] == [
        (i, f"c{i}", values[i].decode(), ["i", str(i)]) for i in range(5, 12)
    ]
    hub.assert_no_dropped_connections()


# --------------------------------------------------------------------------
# The server's own side
# --------------------------------------------------------------------------


def test_server_advertises_the_documented_api_versions(advertised, hub):
    assert advertised == DOCUMENTED_API_VERSIONS
    hub.assert_no_dropped_connections()


def test_auto_created_topics_get_num_partitions(hub, rdk):
    topic = unique_topic("ck-auto")
    admin = rdk.admin()
    metadata = admin.list_topics(topic=topic, timeout=CLIENT_TIMEOUT_S)  # Metadata for one unknown topic
    assert metadata.topics[topic].error is None, metadata.topics[topic].error
    assert sorted(metadata.topics[topic].partitions) == [0, 1, 2]
    assert (hub.data_dir / "topics" / f"{topic}.json").is_file()
    hub.assert_no_dropped_connections()
