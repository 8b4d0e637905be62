"""Real Kafka clients against `hooklog serve`, part 2: the features of the second protocol step.

1. Idempotent producers (InitProducerId, per-partition sequence checks, producer state
   snapshotted and rebuilt on restart). A librdkafka producer with enable.idempotence keeps
   producing a numbered stream while the hub is stopped (SIGTERM in one run, SIGKILL in the
   other) and a new `hooklog serve` starts on the same data directory and port; every
   acknowledged record must be in the log exactly once, in order, and the producer must never
   hit a fatal error. kafka-python's producer (idempotent by default in 3.0) across a SIGKILL.
   The state a restarted hub rebuilds is also checked exactly on the wire (retries answered
   with their original offsets, sequence gaps, epoch bumps).
2. SASL/PLAIN with API keys (`hooklog apikeys create`): the right key works; a wrong secret, an
   unknown key and no authentication are refused; roles limit produce, consume, committed
   offsets and topic management; a non-loopback listener without keys refuses to start.
3. Committed offsets (FindCoordinator, OffsetCommit, OffsetFetch, stored in `__cursors`):
   commits with assign() (no group membership), SIGKILL, restart, read back; commits past the
   high watermark are stored clamped to it.
4. Produce to the internal topic `__cursors` is refused; DeleteRecords moves the low watermark
   (also across a SIGKILL) and fetching below it resets per auto.offset.reset.

Helpers (client factories, negotiated-version tracing, delivery and consume loops) come from
test_kafka_clients.py; every client's API versions are checked against what the server
advertises and added to the session summary. Counts and observed client behaviour are printed
in the "Hooklog compatibility results" section at the end of the run. Wire-level checks use
kafka-python's own protocol classes (its encoder/decoder) on a plain socket.

Client behaviour worth knowing when reading these tests:
- confluent-kafka 2.16 raises a fatal error as KafkaException from produce()/poll()/flush()
  (error_cb does not receive it); inside a delivery callback it surfaces as the cause of a
  SystemError.
- kafka-python 3.0 drops bytes that arrive in the same read as the connection's EOF
  (transport._read_from_sock aborts before data_received), so after a refused SASL login it
  often reports KafkaConnectionError('socket disconnected') rather than
  SaslAuthenticationFailedError; its bootstrap only ever raises KafkaTimeoutError.
- kafka-python leaves internal topics out of the topics its producer partitions for, so it
  refuses to send to `__cursors` itself.
"""

from __future__ import annotations

import gc
import json
import logging
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import confluent_kafka
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition
from kafka import errors as kerrors
from kafka.admin import NewTopic as KNewTopic
from kafka.protocol.metadata import ApiVersionsRequest, MetadataRequest
from kafka.protocol.parser import KafkaProtocol
from kafka.protocol.producer.produce import ProduceRequest
from kafka.protocol.producer.transaction import InitProducerIdRequest
from kafka.protocol.sasl import SaslAuthenticateRequest, SaslHandshakeRequest
from kafka.record.memory_records import MemoryRecordsBuilder
from kafka.structs import OffsetAndMetadata

from conftest import HooklogServer, free_port, kafka_api_versions
from test_kafka_clients import (
    BASE_TS,
    CLIENT_TIMEOUT_S,
    KafkaPythonTrace,
    Librdkafka,
    check_negotiation,
    consume_until_eof,
    deliver,
    kp_poll,
    unique_topic,
)

INTERNAL_TOPIC = "__cursors"
ERR_SASL_AUTHENTICATION_FAILED = 58
ERR_TOPIC_AUTHORIZATION_FAILED = 29
ERR_OUT_OF_ORDER_SEQUENCE = 45
ERR_INVALID_PRODUCER_EPOCH = 47


# --------------------------------------------------------------------------
# Servers a test starts (and restarts) itself
# --------------------------------------------------------------------------


class Servers:
    """`hooklog serve` processes of one test, each with its own log file.

    `restart()` stops a server with a signal and starts a new one on the same data directory
    and port at once. Every server still running at the end is stopped with SIGTERM and must
    exit 0 with 'stopped cleanly'.
    """

    def __init__(self, hooklog_bin: Path, root: Path):
        self.bin = hooklog_bin
        self.root = root
        self.all: list = []
        self.specs: dict = {}  # id(server) -> (args, listen)

    def start(self, args=(), listen="127.0.0.1:0", data_dir: Path | None = None, name="hub") -> HooklogServer:
        number = len(self.all) + 1
        data_dir = data_dir or self.root / f"{name}-{number}-data"
        log_path = self.root / f"{name}-{number}.log"
        server = HooklogServer(self.bin, data_dir, log_path, list(args), listen=listen)
        self.all.append(server)
        self.specs[id(server)] = (list(args), listen)
        return server

    def restart(self, server: HooklogServer, signum: int) -> tuple:
        """Stops `server` with `signum`, then starts a new one on its data directory and port.
        Returns (new server, exit status of the old one, seconds the port had no listener)."""
        args, _ = self.specs[id(server)]
        stopped_at = time.monotonic()
        status = server.kill(signum)
        if signum == signal.SIGTERM:
            tail = "\n".join(server.log_lines()[-20:])
            assert status == 0, f"hooklog serve exited {status} after SIGTERM; log tail:\n{tail}"
            assert "stopped cleanly" in server.log_text(), f"no 'stopped cleanly' after SIGTERM:\n{tail}"
        else:
            assert status == -signum, f"hooklog serve exited {status}, expected death by signal {signum}"
        replacement = self.start(args, listen=f"{server.host}:{server.port}", data_dir=server.data_dir)
        assert replacement.port == server.port
        return replacement, status, time.monotonic() - stopped_at

    def stop_all(self):
        problems = []
        for server in self.all:
            if server.returncode is None:
                try:
                    server.assert_stops_cleanly()
                except AssertionError as error:
                    problems.append(str(error))
        assert not problems, "\n\n".join(problems)


@pytest.fixture
def servers(hooklog_bin, tmp_path):
    started = Servers(hooklog_bin, tmp_path)
    yield started
    started.stop_all()


def ready_line(server: HooklogServer) -> str:
    return next(line for line in server.log_lines() if "hooklog serving" in line)


# --------------------------------------------------------------------------
# Clients: librdkafka with SASL and an error callback, kafka-python, all traced
# --------------------------------------------------------------------------


class Rdk(Librdkafka):
    """Librdkafka (test_kafka_clients.py) for one server, with optional SASL/PLAIN
    credentials and an error_cb that keeps every error the client reported."""

    def __init__(self, server: HooklogServer, sasl: tuple | None = None, protocol="SASL_PLAINTEXT"):
        super().__init__(SimpleNamespace(bootstrap=server.bootstrap))
        self.errors: list = []
        self.sasl = sasl
        self.protocol = protocol

    def config(self, debug="protocol,feature", **extra) -> dict:
        conf = super().config(debug=debug, **extra)
        if self.sasl is not None:
            conf.update({
                "security.protocol": self.protocol, "sasl.mechanism": "PLAIN",
                "sasl.username": self.sasl[0], "sasl.password": self.sasl[1],
            })
        conf["error_cb"] = self._on_error
        return conf

    def _on_error(self, error):
        self.errors.append(error)

    def fatal_errors(self) -> list:
        return [e for e in self.errors if e.fatal()]

    def error_summary(self) -> str:
        counts = Counter(e.name() for e in self.errors)
        return ", ".join(f"{name} x{n}" for name, n in sorted(counts.items())) or "none"


class Clients:
    """The clients of one test. At the end: closes them and checks that every API version
    each library sent lies within what the server advertised (test_kafka_clients.check_negotiation)."""

    def __init__(self, registry: dict, tracer: KafkaPythonTrace):
        self.registry = registry
        self.tracer = tracer
        self.rdks: list = []
        self.kps: list = []
        self.advertised = None

    def _learn(self, server: HooklogServer):
        if self.advertised is None:
            self.advertised = kafka_api_versions(server.host, server.port)

    def rdk(self, server: HooklogServer, sasl: tuple | None = None, **kw) -> Rdk:
        self._learn(server)
        clients = Rdk(server, sasl, **kw)
        self.rdks.append(clients)
        return clients

    def kp_config(self, server: HooklogServer, sasl: tuple | None = None, **extra) -> dict:
        self._learn(server)
        config = dict(bootstrap_servers=server.bootstrap, request_timeout_ms=5000, bootstrap_timeout_ms=5000)
        if sasl is not None:
            config.update(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                          sasl_plain_username=sasl[0], sasl_plain_password=sasl[1])
        config.update(extra)
        return config

    def kp_producer(self, server, sasl=None, **extra) -> KafkaProducer:
        extra.setdefault("acks", "all")
        extra.setdefault("max_block_ms", 5000)
        producer = KafkaProducer(**self.kp_config(server, sasl, **extra))
        self.kps.append(producer)
        return producer

    def kp_consumer(self, server, sasl=None, **extra) -> KafkaConsumer:
        extra.setdefault("group_id", None)
        extra.setdefault("enable_auto_commit", False)
        extra.setdefault("fetch_max_wait_ms", 100)
        consumer = KafkaConsumer(**self.kp_config(server, sasl, **extra))
        self.kps.append(consumer)
        return consumer

    def kp_admin(self, server, sasl=None, **extra) -> KafkaAdminClient:
        admin = KafkaAdminClient(**self.kp_config(server, sasl, **extra))
        self.kps.append(admin)
        return admin

    def close(self):
        for clients in self.rdks:
            for client in clients.clients:
                if isinstance(client, Consumer):
                    client.poll(0)
                    client.close()
        for client in self.kps:
            client.close(timeout=2) if isinstance(client, KafkaProducer) else client.close()

    def check(self):
        try:
            self._check()
        finally:
            # Destroy the librdkafka handles now: a client left alive keeps reconnecting (and
            # failing to authenticate) during later tests.
            self.rdks.clear()
            gc.collect()

    def _check(self):
        if self.advertised is None:
            return
        merged = None
        for clients in self.rdks:
            if not clients.clients:
                continue
            trace = clients.trace()
            if merged is None:
                merged = trace
            else:
                for key, versions in trace.used.items():
                    merged.used.setdefault(key, set()).update(versions)
                merged.advertised_seen.update(trace.advertised_seen)
                merged.unknown_names |= trace.unknown_names
        if merged is not None:
            check_negotiation(merged, self.advertised, self.registry)
        kp_trace = self.tracer.trace()
        if kp_trace.used:
            check_negotiation(kp_trace, self.advertised, self.registry)


@pytest.fixture
def clients(negotiated_versions):
    with KafkaPythonTrace() as tracer:
        made = Clients(negotiated_versions, tracer)
        try:
            yield made
        finally:
            made.close()
    made.check()


class KafkaPythonErrors(logging.Handler):
    """Exceptions kafka-python logged at ERROR (its transport logs 'Abort (<exception>)' with the
    exception object when it drops a connection; its bootstrap loop does not re-raise it)."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.exceptions: list = []
        self.messages: list = []
        self.logger = logging.getLogger("kafka")

    def emit(self, record):
        message = record.getMessage()
        self.messages.append(message)
        if "Abort (" not in message:
            return
        for arg in record.args if isinstance(record.args, tuple) else ():
            if isinstance(arg, BaseException):
                self.exceptions.append(arg)

    def __enter__(self):
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        return False


class KafkaPythonWire:
    """One plain TCP connection speaking requests built with kafka-python's protocol classes
    (its encoder and decoder, without its network layer): one request at a time."""

    def __init__(self, server: HooklogServer):
        self.parser = KafkaProtocol(client_id="hooklog-compat")
        self.sock = socket.create_connection((server.host, server.port), timeout=CLIENT_TIMEOUT_S)

    def call(self, request):
        """The decoded response, or None when the server closed the connection instead."""
        self.parser.send_request(request)
        self.sock.sendall(self.parser.send_bytes())
        while True:
            data = self.sock.recv(65536)
            if not data:
                return None
            responses = self.parser.receive_bytes(data)
            if responses:
                return responses[0][1]

    def closed_by_server(self, wait_s: float = 2) -> bool:
        self.sock.settimeout(wait_s)
        try:
            return self.sock.recv(1) == b""
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


# --------------------------------------------------------------------------
# Reading the log back
# --------------------------------------------------------------------------


def dump_partition(hooklog_bin: Path, data_dir: Path, topic: str, partition: int) -> list:
    """`hooklog dump --json` of every segment of a partition: one dict per batch."""
    batches = []
    for segment in sorted((data_dir / f"{topic}-{partition}").glob("*.log")):
        out = subprocess.run(
            [str(hooklog_bin), "dump", str(segment), "--json"], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, f"hooklog dump {segment} exited {out.returncode}: {out.stderr}"
        batches.extend(json.loads(line) for line in out.stdout.splitlines() if line.strip())
    return batches


def check_exactly_once(reports: dict, log: dict, partition_of) -> dict:
    """reports: {record number: (err, partition, offset)} from delivery reports;
    log: {partition: [(offset, record number)]} as read back.

    Checks: each partition's records are in send order with no duplicates; every record
    whose delivery succeeded is in the log exactly once, in its partition, at the offset its
    report gave. Returns the counts."""
    problems = []
    seen = Counter()
    where = {}
    for partition, entries in sorted(log.items()):
        numbers = [n for _, n in entries]
        out_of_order = [(a, b) for a, b in zip(numbers, numbers[1:]) if b <= a]
        if out_of_order:
            problems.append(f"partition {partition}: out of order or repeated (prev, next): {out_of_order[:5]}")
        for offset, number in entries:
            seen[number] += 1
            where[number] = (partition, offset)
            if partition_of(number) != partition:
                problems.append(f"record {number} in partition {partition}, sent to {partition_of(number)}")
    duplicates = sorted(n for n, c in seen.items() if c > 1)
    if duplicates:
        problems.append(f"{len(duplicates)} records appear more than once: {duplicates[:10]}")
    delivered = {n: r for n, r in reports.items() if r[0] is None}
    failed = {n: r for n, r in reports.items() if r[0] is not None}
    missing = sorted(n for n in delivered if seen[n] == 0)
    if missing:
        problems.append(f"{len(missing)} acknowledged records are not in the log: {missing[:10]}")
    moved = [(n, delivered[n][1:], where[n]) for n in sorted(delivered) if n in where and delivered[n][1:] != where[n]]
    if moved:
        problems.append(f"{len(moved)} records are not where their report put them (n, report, log): {moved[:5]}")
    assert not problems, "\n".join(problems)
    return {
        "delivered": len(delivered),
        "failed": len(failed),
        "in_log": sum(seen.values()),
        "failed_but_in_log": sum(1 for n in failed if seen[n]),
        "failure_codes": dict(Counter(str(r[0]) for r in failed.values())),
    }


# --------------------------------------------------------------------------
# 1. Idempotent producers across hub restarts
# --------------------------------------------------------------------------

IDEMPOTENT_COUNT = 3000
IDEMPOTENT_RESTART_AT = 1000  # after this many records are produced and
IDEMPOTENT_RESTART_AFTER = 300  # this many acknowledged, the hub is restarted


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_confluent_idempotent_producer_across_hub_restart(servers, clients, hooklog_bin, compat_report, signum):
    first = servers.start(["--num-partitions", "3"], listen=f"127.0.0.1:{free_port()}")
    topic = unique_topic(f"idem-{signal.Signals(signum).name.lower()}")
    rdk = clients.rdk(first)
    producer = rdk.producer(
        debug="protocol,eos", enable_idempotence=True, acks="all", linger_ms=2, batch_num_messages=40,
        max_in_flight_requests_per_connection=5, message_timeout_ms=60000, retry_backoff_ms=50,
        retry_backoff_max_ms=250, reconnect_backoff_ms=20, reconnect_backoff_max_ms=200,
    )
    reports: dict = {}

    def on_delivery(err, msg):
        reports[int(msg.value())] = (err, msg.partition(), msg.offset())

    restart = {}

    def restart_hub():
        try:
            restart["server"], restart["status"], restart["gap_s"] = servers.restart(first, signum)
        except BaseException as error:  # reported by the main thread
            restart["error"] = error

    restarter = threading.Thread(target=restart_hub, name="hub-restart")
    started = time.monotonic()
    try:
        for number in range(IDEMPOTENT_COUNT):
            if number == IDEMPOTENT_RESTART_AT:
                # Mid-stream: some records acknowledged, some in flight, the rest produced (into
                # the producer's queue) while the hub is away and after it is back.
                deadline = time.monotonic() + CLIENT_TIMEOUT_S
                while len(reports) < IDEMPOTENT_RESTART_AFTER and time.monotonic() < deadline:
                    producer.poll(0.005)
                restart["sent_before"], restart["acked_before"] = number, len(reports)
                restarter.start()
            while True:
                try:
                    producer.produce(topic, value=b"%d" % number, partition=number % 3, on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.05)
            if number % 20 == 19:
                producer.poll(0.01)  # paced: records before, during and after the restart
        restarter.join(60)
        remaining = producer.flush(60)
    except (KafkaException, SystemError) as error:
        # confluent-kafka 2.16 raises a fatal error from produce()/poll()/flush() (error_cb does
        # not see it); while a delivery callback runs it comes as the cause of a SystemError.
        cause = error if isinstance(error, KafkaException) else error.__cause__
        fatal = cause.args[0].fatal() if isinstance(cause, KafkaException) else "?"
        pytest.fail(f"the idempotent producer raised {cause!r} (fatal: {fatal}); client errors: {rdk.error_summary()}")
    assert not restarter.is_alive(), "the hub restart did not finish"
    if "error" in restart:
        raise restart["error"]
    assert restart["acked_before"] >= IDEMPOTENT_RESTART_AFTER, f"only {restart['acked_before']} acknowledged"
    elapsed = time.monotonic() - started
    second = restart["server"]
    assert remaining == 0, (
        f"{remaining} records still undelivered 60 s after the stream; client errors: {rdk.error_summary()}\n"
        + "\n".join(second.log_lines()[-20:])
    )
    fatal = rdk.fatal_errors()
    assert not fatal, f"the idempotent producer reported fatal errors: {[str(e) for e in fatal]}"
    assert len(reports) == IDEMPOTENT_COUNT

    clean = "cleanShutdownBefore=true" in ready_line(second)
    assert clean == (signum == signal.SIGTERM), f"ready line after the restart: {ready_line(second)}"

    consumer = rdk.consumer(auto_offset_reset="error", debug="protocol")
    consumer.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(3)])
    log = {p: [] for p in range(3)}
    for msg in consume_until_eof(consumer, 3, limit_s=30):
        log[msg.partition()].append((msg.offset(), int(msg.value())))
    counts = check_exactly_once(reports, log, lambda n: n % 3)
    failures = {n: str(r[0]) for n, r in list(reports.items()) if r[0] is not None}
    assert not failures, f"{len(failures)} records failed delivery: {list(failures.items())[:5]}"

    # The stored batches: idempotent (producer id, epoch, sequence), and per (id, epoch) the
    # sequences continue exactly where the previous batch ended.
    second.assert_stops_cleanly()
    producers = set()
    for partition in range(3):
        expected_next = {}
        for batch in dump_partition(hooklog_bin, second.data_dir, topic, partition):
            pid, epoch, sequence = batch["producerId"], batch["producerEpoch"], batch["baseSequence"]
            assert pid >= 0 and sequence >= 0, f"partition {partition}: non-idempotent batch {batch}"
            producers.add((pid, epoch))
            key = (pid, epoch)
            if key in expected_next:
                assert sequence == expected_next[key], (
                    f"partition {partition} offset {batch['baseOffset']}: sequence {sequence}, "
                    f"expected {expected_next[key]} (producer {pid} epoch {epoch})"
                )
            expected_next[key] = sequence + batch["recordCount"]
    line = (
        f"idempotent confluent-kafka, hub {signal.Signals(signum).name} mid-stream: {IDEMPOTENT_COUNT} sent, "
        f"{counts['delivered']} acknowledged, {counts['failed']} failed, {counts['in_log']} in the log "
        f"(0 duplicates, in order); restart after {restart['sent_before']} sent / {restart['acked_before']} acknowledged, "
        f"port without listener {restart['gap_s']:.2f} s, stream {elapsed:.1f} s; "
        f"producer (id, epoch) in batches: {sorted(producers)}; client errors: {rdk.error_summary()}"
    )
    print("\n" + line)
    compat_report.append(line)


def test_kafka_python_idempotent_producer(servers, clients, hooklog_bin, compat_report):
    """kafka-python 3.0 is idempotent by default: InitProducerId, then sequenced batches with
    several requests in flight; the hub is SIGKILLed mid-stream and restarted on the same port
    while the application keeps sending."""
    first = servers.start(["--num-partitions", "3"], listen=f"127.0.0.1:{free_port()}")
    topic = unique_topic("kp-idem")
    producer = clients.kp_producer(first, linger_ms=2, batch_size=2048, max_in_flight_requests_per_connection=5,
                                   retry_backoff_ms=50, reconnect_backoff_ms=20, reconnect_backoff_max_ms=200,
                                   delivery_timeout_ms=60000, request_timeout_ms=5000, max_block_ms=30000)
    assert producer.config["enable_idempotence"] is True
    count, restart_at = 1500, 500
    futures = []
    restart = {}

    def restart_hub():
        try:
            restart["server"], _, restart["gap_s"] = servers.restart(first, signal.SIGKILL)
        except BaseException as error:  # reported by the main thread
            restart["error"] = error

    restarter = threading.Thread(target=restart_hub, name="hub-restart")
    for number in range(count):
        if number == restart_at:
            deadline = time.monotonic() + CLIENT_TIMEOUT_S
            while sum(f.is_done for f in futures) < restart_at // 3 and time.monotonic() < deadline:
                time.sleep(0.005)
            restart["acked_before"] = sum(f.is_done for f in futures)
            restarter.start()
        futures.append(producer.send(topic, value=b"%d" % number + b"." * 50, partition=number % 3))
        if number % 10 == 9:
            time.sleep(0.002)
    restarter.join(60)
    if "error" in restart:
        raise restart["error"]
    producer.flush(60)
    second = restart["server"]
    reports, failed = {}, {}
    for number, future in enumerate(futures):
        try:
            metadata = future.get(0)
            reports[number] = (None, metadata.partition, metadata.offset)
        except kerrors.KafkaError as error:
            failed[number] = error
    assert not failed, f"{len(failed)} kafka-python sends failed: {list(failed.items())[:5]}"
    assert restart["acked_before"] > 0

    consumer = clients.kp_consumer(second, auto_offset_reset="none")
    partitions = [KTopicPartition(topic, p) for p in range(3)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    log = {p: [] for p in range(3)}
    for record in kp_poll(consumer, count, limit_s=30):
        log[record.partition].append((record.offset, int(record.value.split(b".")[0])))
    counts = check_exactly_once(reports, log, lambda n: n % 3)

    second.assert_stops_cleanly()
    pids = set()
    for partition in range(3):
        for batch in dump_partition(hooklog_bin, second.data_dir, topic, partition):
            assert batch["producerId"] >= 0 and batch["baseSequence"] >= 0, batch
            pids.add((batch["producerId"], batch["producerEpoch"]))
    line = (
        f"idempotent kafka-python, hub SIGKILL mid-stream: {count} sent, {counts['delivered']} acknowledged, "
        f"{counts['in_log']} in the log (0 duplicates, in order); restart after {restart_at} sent / "
        f"{restart['acked_before']} acknowledged, port without listener {restart['gap_s']:.2f} s; "
        f"producer (id, epoch) in batches: {sorted(pids)}"
    )
    print("\n" + line)
    compat_report.append(line)
    sent_init = 22 in clients.tracer.trace().used
    assert sent_init, "kafka-python did not send InitProducerId"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_idempotent_sequence_state_survives_restart_on_the_wire(servers, hooklog_bin, signum):
    """The producer state a restarted hub rebuilds (from its snapshot after SIGTERM, from the
    log tail after SIGKILL), checked exactly with requests encoded by kafka-python's protocol
    classes: an exact retry of one of the last batches gets its original offsets and is not
    written again; the next sequence is accepted; a gap is OUT_OF_ORDER_SEQUENCE_NUMBER (45);
    after an epoch bump (KIP-360 InitProducerId with the current id and epoch) the new epoch
    must start at sequence 0, and once it has, the old epoch is INVALID_PRODUCER_EPOCH (47)."""
    first = servers.start(["--num-partitions", "1"], listen=f"127.0.0.1:{free_port()}")
    topic = unique_topic("wire-idem")
    wire = KafkaPythonWire(first)
    created = wire.call(MetadataRequest(version=12, topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
                                        allow_auto_topic_creation=True))
    assert created.topics[0].error_code == 0, created
    init = wire.call(InitProducerIdRequest(version=4, transactional_id=None, transaction_timeout_ms=-1,
                                           producer_id=-1, producer_epoch=-1))
    assert init.error_code == 0 and init.producer_id >= 0 and init.producer_epoch == 0, init

    def batch(sequence: int, epoch: int = init.producer_epoch, count: int = 5) -> bytes:
        builder = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20, producer_id=init.producer_id,
                                       producer_epoch=epoch, base_sequence=sequence)
        for i in range(count):
            builder.append(timestamp=BASE_TS + sequence + i, key=None, value=b"e%d-s%d" % (epoch, sequence + i))
        builder.close()
        return bytes(builder.buffer())

    Topic = ProduceRequest.TopicProduceData

    def produce(connection: KafkaPythonWire, records: bytes) -> tuple:
        response = connection.call(ProduceRequest(
            version=9, transactional_id=None, acks=-1, timeout_ms=5000,
            topic_data=[Topic(name=topic, partition_data=[Topic.PartitionProduceData(index=0, records=records)])]))
        answer = response.responses[0].partition_responses[0]
        return answer.error_code, answer.base_offset

    first_batch, second_batch = batch(0), batch(5)
    assert produce(wire, first_batch) == (0, 0)
    assert produce(wire, second_batch) == (0, 5)
    wire.close()

    second, _, _ = servers.restart(first, signum)
    wire = KafkaPythonWire(second)
    assert produce(wire, second_batch) == (0, 5), "the retried last batch was not answered with its offset"
    assert produce(wire, first_batch) == (0, 0), "the retried earlier batch was not answered with its offset"
    assert produce(wire, batch(10)) == (0, 10)
    assert produce(wire, batch(20)) == (ERR_OUT_OF_ORDER_SEQUENCE, -1)
    bumped = wire.call(InitProducerIdRequest(version=4, transactional_id=None, transaction_timeout_ms=-1,
                                             producer_id=init.producer_id, producer_epoch=init.producer_epoch))
    assert (bumped.error_code, bumped.producer_id, bumped.producer_epoch) == (0, init.producer_id, 1), bumped
    # Until a batch of the new epoch reaches the partition, it still follows epoch 0 (as Kafka).
    assert produce(wire, batch(15)) == (0, 15)
    assert produce(wire, batch(3, epoch=1)) == (ERR_OUT_OF_ORDER_SEQUENCE, -1)
    assert produce(wire, batch(0, epoch=1)) == (0, 20)
    assert produce(wire, batch(20)) == (ERR_INVALID_PRODUCER_EPOCH, -1)
    wire.close()

    second.assert_stops_cleanly()
    stored = [(r["offset"], r["value"]) for b in dump_partition(hooklog_bin, second.data_dir, topic, 0) for r in b["records"]]
    want = [(o, f"e0-s{o}") for o in range(20)] + [(20 + i, f"e1-s{i}") for i in range(5)]
    assert stored == want, f"the log holds {stored}"


# --------------------------------------------------------------------------
# 2. SASL/PLAIN and roles
# --------------------------------------------------------------------------

KEY_ROLES = {"admin": "admin", "app": "produce,consume", "writer": "produce", "reader": "consume"}


@pytest.fixture(scope="module")
def sasl_hub(hooklog_bin, tmp_path_factory):
    """A hub with API keys (auth on); SimpleNamespace(server, keys={id: (id, secret)})."""
    root = tmp_path_factory.mktemp("hooklog-sasl")
    data_dir = root / "data"
    keys = {}
    for key_id, roles in KEY_ROLES.items():
        out = subprocess.run(
            [str(hooklog_bin), "apikeys", "create", key_id, "--roles", roles, "--data-dir", str(data_dir)],
            capture_output=True, text=True, timeout=30,
        )
        assert out.returncode == 0, f"apikeys create {key_id} exited {out.returncode}: {out.stderr}{out.stdout}"
        secret = re.search(r"^secret: (hlk_\S+)$", out.stdout, re.M)
        assert secret, f"no 'secret: hlk_...' line in:\n{out.stdout}"
        keys[key_id] = (key_id, secret.group(1))
    stored = (data_dir / "api-keys.json").read_text()
    assert all(secret not in stored for _, secret in keys.values()), "a secret is stored in clear"
    server = HooklogServer(hooklog_bin, data_dir, root / "serve.log", ["--num-partitions", "1"])
    try:
        yield SimpleNamespace(server=server, keys=keys)
    finally:
        if server.returncode is None:
            server.assert_stops_cleanly()


def sasl_topic(sasl_hub, clients, prefix: str, records: int = 0) -> str:
    """A topic created with the admin key, holding `records` records (produced by the admin)."""
    topic = unique_topic(prefix)
    admin = clients.rdk(sasl_hub.server, sasl_hub.keys["admin"]).admin()
    admin.create_topics([NewTopic(topic, num_partitions=1)], request_timeout=CLIENT_TIMEOUT_S)[topic].result(CLIENT_TIMEOUT_S)
    if records:
        producer = clients.rdk(sasl_hub.server, sasl_hub.keys["admin"]).producer(acks="all")
        reports = deliver(producer, [{"topic": topic, "partition": 0, "value": b"r%d" % i} for i in range(records)])
        assert all(err is None for err, _ in reports), reports
    return topic


def first_consumer_error(consumer: Consumer) -> KafkaError:
    """The first error a consumer's poll() delivers (records or end-of-partition fail the test)."""
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None:
            assert msg.error() is not None, f"read offset {msg.offset()} of {msg.topic()}"
            assert msg.error().code() != KafkaError._PARTITION_EOF, "reached the end of the partition without an error"
            return msg.error()
    raise AssertionError(f"no consumer error within {CLIENT_TIMEOUT_S} s")


def test_sasl_confluent_valid_key_produces_and_consumes(sasl_hub, clients):
    server = sasl_hub.server
    mark = server.mark()
    topic = unique_topic("sasl-ck")
    rdk = clients.rdk(server, sasl_hub.keys["app"])
    producer = rdk.producer(acks="all", enable_idempotence=True)  # InitProducerId needs the produce role
    reports = deliver(producer, [{"topic": topic, "partition": 0, "key": b"k%d" % i, "value": b"v%d" % i} for i in range(20)])
    assert [err for err, _ in reports if err] == []
    assert [msg.offset() for _, msg in reports] == list(range(20))
    consumer = rdk.consumer(auto_offset_reset="error")
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = consume_until_eof(consumer, 1)
    assert [(m.offset(), m.key(), m.value()) for m in got] == [(i, b"k%d" % i, b"v%d" % i) for i in range(20)]
    assert not rdk.errors, [str(e) for e in rdk.errors]
    assert not server.connection_closes_since(mark), server.connection_closes_since(mark)
    used = rdk.trace().used
    assert 17 in used and 36 in used, f"no SaslHandshake/SaslAuthenticate in {sorted(used)}"


def test_sasl_kafka_python_valid_key_produces_and_consumes(sasl_hub, clients):
    server = sasl_hub.server
    mark = server.mark()
    topic = unique_topic("sasl-kp")
    producer = clients.kp_producer(server, sasl_hub.keys["app"], linger_ms=5)
    futures = [producer.send(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0) for i in range(20)]
    producer.flush(CLIENT_TIMEOUT_S)
    assert [f.get(CLIENT_TIMEOUT_S).offset for f in futures] == list(range(20))
    consumer = clients.kp_consumer(server, sasl_hub.keys["app"], auto_offset_reset="none")
    tp = KTopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    assert [(r.offset, r.key, r.value) for r in kp_poll(consumer, 20)] == [(i, b"k%d" % i, b"v%d" % i) for i in range(20)]
    assert not server.connection_closes_since(mark), server.connection_closes_since(mark)


BAD_CREDENTIALS = {
    "wrong-secret": lambda keys: ("app", "hlk_" + "x" * 43),
    "unknown-key": lambda keys: ("nobody", keys["app"][1]),
    "no-sasl": lambda keys: None,
}


@pytest.mark.parametrize("case", list(BAD_CREDENTIALS))
def test_sasl_confluent_bad_credentials_are_refused(sasl_hub, clients, compat_report, case):
    server = sasl_hub.server
    mark = server.mark()
    topic = unique_topic("sasl-refused")
    rdk = clients.rdk(server, BAD_CREDENTIALS[case](sasl_hub.keys))
    admin = rdk.admin()
    with pytest.raises(KafkaException) as refused:
        admin.list_topics(timeout=1)
    assert refused.value.args[0].code() == KafkaError._TRANSPORT, refused.value
    producer = rdk.producer(acks="all", message_timeout_ms=1000)
    reports = []
    producer.produce(topic, value=b"never", partition=0, on_delivery=lambda err, msg: reports.append(err))
    producer.flush(2.5)
    assert [e.code() for e in reports] == [KafkaError._MSG_TIMED_OUT], reports
    admin.poll(0)
    compat_report.append(f"confluent-kafka, {case}: client errors {rdk.error_summary()}")
    codes = {e.code() for e in rdk.errors}
    assert not rdk.fatal_errors()
    closes = server.connection_closes_since(mark)
    if case == "no-sasl":
        # Only ApiVersions and the SASL requests are allowed before authenticating; the
        # server closes the connection at the first other request (Kafka does the same).
        assert codes & {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}, rdk.error_summary()
        assert any("API 3 before SASL authentication" in line for line in closes), closes
    else:
        # librdkafka reports SaslAuthenticate's SASL_AUTHENTICATION_FAILED (58) as
        # _AUTHENTICATION with the broker's error message.
        auth = [e for e in rdk.errors if e.code() == KafkaError._AUTHENTICATION]
        assert auth, f"no _AUTHENTICATION error: {rdk.error_summary()}"
        assert "SASL authentication error: authentication failed" in auth[0].str(), auth[0].str()
        assert any("reason=SASL authentication failed" in line for line in closes), closes
        assert any("authentication failed" in line and "key=" in line for line in server.log_since(mark))
    assert not (server.data_dir / f"{topic}-0").exists(), "an unauthenticated client created a topic"


def kafka_python_wire(server: HooklogServer, requests: list) -> list:
    """Sends requests (kafka-python's protocol classes) on one new connection, one at a time:
    the decoded responses, None for a request the server answered by closing the connection
    (and for every request after it), and last "closed" or "open": whether the server closed
    the connection afterwards."""
    wire = KafkaPythonWire(server)
    try:
        answers = []
        for request in requests:
            answer = wire.call(request)
            if answer is None:
                return answers + [None] * (len(requests) - len(answers)) + ["closed"]
            answers.append(answer)
        return answers + ["closed" if wire.closed_by_server() else "open"]
    finally:
        wire.close()


@pytest.mark.parametrize("case", list(BAD_CREDENTIALS))
def test_sasl_kafka_python_bad_credentials_are_refused(sasl_hub, clients, compat_report, case):
    """kafka-python 3.0's public API only says KafkaTimeoutError ('Unable to bootstrap') after
    bootstrap_timeout_ms; why each attempt failed is the exception its transport aborts the
    connection with. That is SaslAuthenticationFailedError (58) when it handled the server's
    SaslAuthenticate answer -- or a bare KafkaConnectionError('socket disconnected') when
    the server's close arrived in the same read: kafka-python 3.0's transport
    (_read_from_sock) aborts on EOF before passing the bytes read with it to the protocol,
    so the answer is dropped. Kafka answers and closes the same way (KIP-306 delays both), so
    that is a client limitation; the exact answer is checked on the wire below, encoded and
    decoded by kafka-python's own protocol classes."""
    server = sasl_hub.server
    mark = server.mark()
    credentials = BAD_CREDENTIALS[case](sasl_hub.keys)
    with KafkaPythonErrors() as errors, pytest.raises(kerrors.KafkaTimeoutError, match="Unable to bootstrap"):
        clients.kp_admin(server, credentials, bootstrap_timeout_ms=1500)
    closes = server.connection_closes_since(mark)
    aborts = [e for e in errors.exceptions if isinstance(e, kerrors.KafkaError)]
    assert aborts, f"kafka-python logged no connection failure: {errors.messages[:5]}"
    kinds = Counter(f"{type(e).__name__}({getattr(e, 'errno', None)})" for e in aborts)
    compat_report.append(f"kafka-python, {case}: connection attempts failed with {dict(kinds)}")
    if case == "no-sasl":
        assert any("API 3 before SASL authentication" in line for line in closes), closes
        assert not any(isinstance(e, kerrors.SaslAuthenticationFailedError) for e in aborts)
        # On the wire: ApiVersions is answered before authentication; Metadata closes the connection.
        versions, metadata, _ = kafka_python_wire(server, [
            ApiVersionsRequest(version=3, client_software_name="compat", client_software_version="1"),
            MetadataRequest(version=12, topics=None, allow_auto_topic_creation=False),
        ])
        assert versions.error_code == 0 and versions.api_keys, versions
        assert metadata is None, f"Metadata before authentication was answered: {metadata}"
        return
    assert any("reason=SASL authentication failed" in line for line in closes), closes
    # RequestTimedOutError: kafka-python's own bootstrap deadline ran out while a retry's
    # request was in flight (seen on a loaded machine); the server side is checked above.
    unexpected = [e for e in aborts if not isinstance(e, (kerrors.SaslAuthenticationFailedError,
                                                          kerrors.RequestTimedOutError))
                  and str(e) != "KafkaConnectionError: socket disconnected"]
    assert not unexpected, f"unexpected connection failures: {unexpected}"
    for error in aborts:
        if isinstance(error, kerrors.SaslAuthenticationFailedError):
            assert error.errno == ERR_SASL_AUTHENTICATION_FAILED
            assert "authentication failed: unknown API key or wrong secret" in str(error), str(error)

    username, password = credentials
    token = b"\x00" + username.encode() + b"\x00" + password.encode()
    for version in (0, 1, 2):
        handshake, authenticate, after = kafka_python_wire(server, [
            SaslHandshakeRequest(version=1, mechanism="PLAIN"),
            SaslAuthenticateRequest(version=version, auth_bytes=token),
        ])
        assert (handshake.error_code, list(handshake.mechanisms)) == (0, ["PLAIN"]), handshake
        assert authenticate is not None, f"SaslAuthenticate v{version}: connection closed without an answer"
        assert kerrors.for_code(authenticate.error_code) is kerrors.SaslAuthenticationFailedError, authenticate
        assert authenticate.error_code == ERR_SASL_AUTHENTICATION_FAILED
        assert authenticate.error_message == "authentication failed: unknown API key or wrong secret", authenticate
        assert after == "closed", f"SaslAuthenticate v{version}: the connection stayed open after the failure"


def test_sasl_handshake_offers_only_plain(sasl_hub, clients):
    """SaslHandshake with another mechanism: UNSUPPORTED_SASL_MECHANISM (33), listing PLAIN;
    librdkafka names the broker's mechanisms in its error."""
    [handshake, _] = kafka_python_wire(sasl_hub.server, [SaslHandshakeRequest(version=1, mechanism="SCRAM-SHA-256")])
    assert kerrors.for_code(handshake.error_code) is kerrors.UnsupportedSaslMechanismError, handshake
    assert list(handshake.mechanisms) == ["PLAIN"]
    rdk = clients.rdk(sasl_hub.server, sasl_hub.keys["app"])
    admin = AdminClient(dict(rdk.config(), **{"sasl.mechanism": "SCRAM-SHA-256"}))
    rdk.clients.append(admin)
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=1)
    admin.poll(0)
    messages = [e.str() for e in rdk.errors if e.code() == KafkaError._AUTHENTICATION]
    assert any("PLAIN" in m for m in messages), rdk.error_summary()


def test_sasl_consume_only_key_cannot_produce_but_can_consume(sasl_hub, clients):
    server = sasl_hub.server
    topic = sasl_topic(sasl_hub, clients, "sasl-reader", records=5)
    reader = sasl_hub.keys["reader"]
    rdk = clients.rdk(server, reader)
    producer = rdk.producer(acks="all", retries=0)
    [(err, _)] = deliver(producer, [{"topic": topic, "partition": 0, "value": b"not allowed"}])
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    consumer = rdk.consumer(group_id=unique_topic("reader-group"), auto_offset_reset="error")
    consumer.assign([TopicPartition(topic, 0, 0)])
    assert [m.value() for m in consume_until_eof(consumer, 1)] == [b"r%d" % i for i in range(5)]
    # The consume role covers committed offsets.
    [stored] = consumer.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
    assert stored.error is None, stored
    [committed] = consumer.committed([TopicPartition(topic, 0)], timeout=CLIENT_TIMEOUT_S)
    assert (committed.offset, committed.error) == (3, None), committed
    # Internal topics need the admin role, also for reading.
    internal = rdk.consumer(auto_offset_reset="error")
    internal.assign([TopicPartition(INTERNAL_TOPIC, 0, 0)])
    assert first_consumer_error(internal).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    kp_producer = clients.kp_producer(server, reader, enable_idempotence=False, retries=0)
    with pytest.raises(kerrors.TopicAuthorizationFailedError) as refused:
        kp_producer.send(topic, value=b"not allowed", partition=0).get(CLIENT_TIMEOUT_S)
    assert refused.value.errno == ERR_TOPIC_AUTHORIZATION_FAILED
    kp_consumer = clients.kp_consumer(server, reader, auto_offset_reset="none")
    tp = KTopicPartition(topic, 0)
    kp_consumer.assign([tp])
    kp_consumer.seek_to_beginning(tp)
    assert [r.value for r in kp_poll(kp_consumer, 5)] == [b"r%d" % i for i in range(5)]
    # Nothing was appended by the refused produces.
    assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=CLIENT_TIMEOUT_S, cached=False) == (0, 5)


def test_sasl_consume_only_key_idempotent_producer_is_refused(sasl_hub, clients):
    """InitProducerId needs the produce role: CLUSTER_AUTHORIZATION_FAILED (31), as Kafka
    answers a principal with neither IdempotentWrite nor Write on any topic. librdkafka makes
    it a fatal error; kafka-python 3.0 fails the send with a KafkaError naming error 31."""
    topic = sasl_topic(sasl_hub, clients, "sasl-reader-idem")
    rdk = clients.rdk(sasl_hub.server, sasl_hub.keys["reader"])
    producer = rdk.producer(acks="all", enable_idempotence=True, message_timeout_ms=3000)
    producer.produce(topic, value=b"x", partition=0)
    # confluent-kafka 2.16 raises a fatal error from poll()/flush() (not through error_cb).
    with pytest.raises(KafkaException) as raised:
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while time.monotonic() < deadline:
            producer.flush(0.5)
    fatal = raised.value.args[0]
    assert fatal.fatal() and fatal.code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED, fatal
    assert producer.flush(5) == 0  # the message was purged

    kp = clients.kp_producer(sasl_hub.server, sasl_hub.keys["reader"], enable_idempotence=True)
    with pytest.raises(kerrors.KafkaError) as refused:
        kp.send(topic, value=b"x", partition=0).get(CLIENT_TIMEOUT_S)
    assert "ClusterAuthorizationFailedError" in str(refused.value) or isinstance(
        refused.value, kerrors.ClusterAuthorizationFailedError), repr(refused.value)
    probe = rdk.consumer()
    assert probe.get_watermark_offsets(TopicPartition(topic, 0), timeout=CLIENT_TIMEOUT_S, cached=False) == (0, 0)


def test_sasl_admin_key_manages_topics_produce_key_cannot(sasl_hub, clients):
    server = sasl_hub.server
    admin = clients.rdk(server, sasl_hub.keys["admin"]).admin()
    writer = clients.rdk(server, sasl_hub.keys["writer"]).admin()
    topic = unique_topic("sasl-admin")
    assert admin.create_topics([NewTopic(topic, num_partitions=2)], request_timeout=CLIENT_TIMEOUT_S)[topic].result(CLIENT_TIMEOUT_S) is None
    assert sorted(admin.list_topics(topic=topic, timeout=CLIENT_TIMEOUT_S).topics[topic].partitions) == [0, 1]

    denied = unique_topic("sasl-denied")
    with pytest.raises(KafkaException) as refused:
        writer.create_topics([NewTopic(denied, num_partitions=1)], request_timeout=CLIENT_TIMEOUT_S)[denied].result(CLIENT_TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused.value
    with pytest.raises(KafkaException) as refused:
        writer.delete_topics([topic], request_timeout=CLIENT_TIMEOUT_S)[topic].result(CLIENT_TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused.value
    with pytest.raises(KafkaException) as refused:
        writer.delete_records([TopicPartition(topic, 0, 0)], request_timeout=CLIENT_TIMEOUT_S)[TopicPartition(topic, 0)].result(CLIENT_TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused.value
    assert topic in admin.list_topics(timeout=CLIENT_TIMEOUT_S).topics

    # The produce role does not cover reading or committed offsets.
    writer_rdk = clients.rdk(server, sasl_hub.keys["writer"])
    reading = writer_rdk.consumer(group_id=unique_topic("writer-group"), auto_offset_reset="error")
    reading.assign([TopicPartition(topic, 0, 0)])
    # Either the group lookup (FindCoordinator, as Kafka checks it) or the fetch is refused first.
    assert first_consumer_error(reading).code() in (
        KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException) as refused:
        reading.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    # The coordinator lookup is refused (as Kafka does without group access), so librdkafka
    # reports either that refusal or that it never found a coordinator.
    assert refused.value.args[0].code() in (KafkaError.GROUP_AUTHORIZATION_FAILED, KafkaError._WAIT_COORD), refused.value

    kp_writer = clients.kp_admin(server, sasl_hub.keys["writer"])
    with pytest.raises(kerrors.TopicAuthorizationFailedError):
        kp_writer.create_topics([KNewTopic(denied, 1, 1)])
    with pytest.raises(kerrors.TopicAuthorizationFailedError):
        kp_writer.delete_topics([topic])
    kp_admin = clients.kp_admin(server, sasl_hub.keys["admin"])
    assert topic in kp_admin.list_topics()
    assert [(t["name"], t["error_code"]) for t in kp_admin.delete_topics([topic])["topics"]] == [(topic, 0)]
    assert topic not in admin.list_topics(timeout=CLIENT_TIMEOUT_S).topics
    assert denied not in admin.list_topics(timeout=CLIENT_TIMEOUT_S).topics
    assert not (server.data_dir / f"{denied}-0").exists()


def test_serve_refuses_public_listener_without_keys(hooklog_bin, tmp_path):
    def serve(data_dir: Path):
        return subprocess.run(
            [str(hooklog_bin), "serve", "--data-dir", str(data_dir), "--kafka-listen", "0.0.0.0:0"],
            capture_output=True, text=True, timeout=30,
        )

    fresh = tmp_path / "fresh"
    refused = serve(fresh)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, f"serve on 0.0.0.0 without keys exited 0:\n{output}"
    assert "refusing to listen on 0.0.0.0 without authentication" in output, output
    assert "hooklog apikeys create" in output, output
    assert not fresh.exists(), "the refused serve created its data directory"

    # A key file whose only key was deleted: still no keys, still refused.
    emptied = tmp_path / "emptied"
    for command in (["create", "gone", "--roles", "admin"], ["delete", "gone"]):
        subprocess.run([str(hooklog_bin), "apikeys", *command, "--data-dir", str(emptied)], check=True,
                       capture_output=True, timeout=30)
    refused = serve(emptied)
    assert refused.returncode != 0 and "refusing to listen" in refused.stdout + refused.stderr

    # With a key the same listener starts.
    keyed = tmp_path / "keyed"
    subprocess.run([str(hooklog_bin), "apikeys", "create", "ops", "--roles", "admin", "--data-dir", str(keyed)],
                   check=True, capture_output=True, timeout=30)
    server = HooklogServer(hooklog_bin, keyed, tmp_path / "keyed.log", listen="0.0.0.0:0")
    try:
        assert server.host == "0.0.0.0" and server.port > 0
    finally:
        server.assert_stops_cleanly()


# --------------------------------------------------------------------------
# 3. Committed offsets across a SIGKILL
# --------------------------------------------------------------------------


def test_confluent_committed_offsets_survive_sigkill(servers, clients, compat_report):
    first = servers.start(["--num-partitions", "3"], listen=f"127.0.0.1:{free_port()}")
    topic = unique_topic("ck-commit")
    group = unique_topic("ck-group")
    rdk = clients.rdk(first)
    counts = {0: 10, 1: 20, 2: 30}
    producer = rdk.producer(acks="all")
    deliver(producer, [{"topic": topic, "partition": p, "value": b"%d-%d" % (p, i)} for p, n in counts.items() for i in range(n)])

    consumer = rdk.consumer(group_id=group, auto_offset_reset="error")
    consumer.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(3)])
    assert len(consume_until_eof(consumer, 3)) == sum(counts.values())
    # Nothing committed yet: OFFSET_INVALID.
    before = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=CLIENT_TIMEOUT_S)
    assert [tp.offset for tp in before] == [confluent_kafka.OFFSET_INVALID] * 3, before

    # Commit the positions (offset after the last consumed record).
    committed = consumer.commit(asynchronous=False)
    assert sorted((tp.partition, tp.offset, tp.error) for tp in committed) == [(p, n, None) for p, n in counts.items()]
    # Explicit offsets with metadata; and one past the high watermark (20), stored clamped.
    explicit = consumer.commit(offsets=[
        TopicPartition(topic, 0, 4, metadata="resume-here"),
        TopicPartition(topic, 1, 1000),
    ], asynchronous=False)
    assert all(tp.error is None for tp in explicit), explicit

    def committed_now(client) -> list:
        answer = client.committed([TopicPartition(topic, p) for p in range(3)], timeout=CLIENT_TIMEOUT_S)
        assert all(tp.error is None for tp in answer), answer
        return [(tp.partition, tp.offset, tp.metadata) for tp in answer]

    # OFFSET_INVALID metadata comes back as None or "" depending on the path; compare offsets and
    # the one metadata string that was set.
    want = [(0, 4, "resume-here"), (1, 20, None), (2, 30, None)]

    def normalized(rows):
        return [(p, o, m or None) for p, o, m in rows]

    clamped = normalized(committed_now(consumer))
    second, status, _ = servers.restart(first, signal.SIGKILL)
    assert status == -signal.SIGKILL
    assert "cleanShutdownBefore=false" in ready_line(second)
    after_same = normalized(committed_now(consumer))  # the same consumer, reconnected
    fresh = rdk.consumer(group_id=group, auto_offset_reset="error")
    after_fresh = normalized(committed_now(fresh))
    assert clamped == want, (
        f"before the restart: committed() = {clamped}, want {want} (OffsetCommit of 1000 for partition 1, "
        "whose high watermark is 20, must be stored as 20)"
    )
    assert after_same == want, f"after SIGKILL + restart, same consumer: {after_same}, want {want}"
    assert after_fresh == want, f"after SIGKILL + restart, new consumer: {after_fresh}, want {want}"

    # A consumer without explicit offsets starts at the committed ones.
    fresh.assign([TopicPartition(topic, p) for p in range(3)])
    resumed = consume_until_eof(fresh, 3)
    firsts = {}
    for msg in resumed:
        firsts.setdefault(msg.partition(), msg.offset())
    assert firsts == {0: 4}, f"first offsets read after resuming from the committed offsets: {firsts}"
    assert len(resumed) == counts[0] - 4
    compat_report.append(
        f"committed offsets (confluent-kafka, assign + commit, SIGKILL): {want} before and after the restart"
    )


def test_kafka_python_committed_offsets_survive_sigkill(servers, clients):
    first = servers.start(["--num-partitions", "2"], listen=f"127.0.0.1:{free_port()}")
    topic = unique_topic("kp-commit")
    group = unique_topic("kp-group")
    producer = clients.kp_producer(first, linger_ms=5)
    for p, n in ((0, 6), (1, 9)):
        for i in range(n):
            producer.send(topic, value=b"%d-%d" % (p, i), partition=p)
    producer.flush(CLIENT_TIMEOUT_S)
    tp0, tp1 = KTopicPartition(topic, 0), KTopicPartition(topic, 1)

    consumer = clients.kp_consumer(first, group_id=group, auto_offset_reset="none")
    consumer.assign([tp0, tp1])
    assert consumer.committed(tp0) is None
    consumer.seek_to_beginning(tp0, tp1)
    kp_poll(consumer, 15)
    consumer.commit()  # positions: 6 and 9
    assert (consumer.committed(tp0), consumer.committed(tp1)) == (6, 9)
    consumer.commit({tp0: OffsetAndMetadata(2, "kp-meta", -1), tp1: OffsetAndMetadata(500, "", -1)})
    clamped = (consumer.committed(tp0, metadata=True), consumer.committed(tp1))

    second, _, _ = servers.restart(first, signal.SIGKILL)
    after_same = (consumer.committed(tp0, metadata=True), consumer.committed(tp1))
    fresh = clients.kp_consumer(second, group_id=group, auto_offset_reset="none")
    after_fresh = (fresh.committed(tp0, metadata=True), fresh.committed(tp1))
    for label, (meta0, offset1) in (("before the restart", clamped), ("same consumer after", after_same),
                                    ("new consumer after", after_fresh)):
        assert (meta0.offset, meta0.metadata, offset1) == (2, "kp-meta", 9), (
            f"{label}: committed = ({meta0}, {offset1}), want offset 2 'kp-meta' and 9 "
            "(500 is past partition 1's high watermark 9)"
        )
    # Without a seek, the consumer starts from the committed offsets.
    fresh.assign([tp0, tp1])
    records = kp_poll(fresh, 4)
    assert [(r.partition, r.offset) for r in records] == [(0, 2), (0, 3), (0, 4), (0, 5)]


# --------------------------------------------------------------------------
# 4. Internal topics and DeleteRecords
# --------------------------------------------------------------------------


def test_produce_to_internal_topic_is_refused(servers, clients):
    server = servers.start()
    rdk = clients.rdk(server)
    # __cursors exists from the start (committed offsets live there).
    watch = rdk.consumer(auto_offset_reset="error")
    before = watch.get_watermark_offsets(TopicPartition(INTERNAL_TOPIC, 0), timeout=CLIENT_TIMEOUT_S, cached=False)

    producer = rdk.producer(acks="all", retries=0)
    [(err, _)] = deliver(producer, [{"topic": INTERNAL_TOPIC, "partition": 0, "key": b"group/g/t/0", "value": b"{}"}])
    # Documented (docs/protocol.md): TOPIC_AUTHORIZATION_FAILED. (Kafka answers
    # INVALID_TOPIC_EXCEPTION for appends to internal topics from clients.)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    idempotent = rdk.producer(acks="all", enable_idempotence=True)
    [(err, _)] = deliver(idempotent, [{"topic": INTERNAL_TOPIC, "partition": 0, "value": b"x"}])
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    assert not rdk.fatal_errors(), [str(e) for e in rdk.fatal_errors()]

    # kafka-python never sends it: its producer leaves internal topics (Metadata isInternal)
    # out of the topics it partitions for, and refuses the send itself.
    kp = clients.kp_producer(server, retries=0, enable_idempotence=False)
    with pytest.raises(ValueError, match="did not assign a partition"):
        kp.send(INTERNAL_TOPIC, key=b"group/g/t/0", value=b"{}", partition=0).get(CLIENT_TIMEOUT_S)
    after = watch.get_watermark_offsets(TopicPartition(INTERNAL_TOPIC, 0), timeout=CLIENT_TIMEOUT_S, cached=False)
    assert after == before, f"__cursors watermarks moved from {before} to {after}"


def watermarks_after_reconnect(consumer: Consumer, tp: TopicPartition) -> tuple:
    """get_watermark_offsets, retried while librdkafka is still reconnecting (right after a
    restart it answers _UNKNOWN_PARTITION or _TRANSPORT until its metadata is refreshed)."""
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=2, cached=False)
        except KafkaException as error:
            transient = error.args[0].code() in (KafkaError._UNKNOWN_PARTITION, KafkaError._TRANSPORT,
                                                 KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN)
            if not transient or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_confluent_delete_records_moves_low_watermark(servers, clients):
    server = servers.start()
    rdk = clients.rdk(server)
    admin = rdk.admin()
    topic = unique_topic("ck-delrec")
    admin.create_topics([NewTopic(topic, num_partitions=1)], request_timeout=CLIENT_TIMEOUT_S)[topic].result(CLIENT_TIMEOUT_S)
    producer = rdk.producer(acks="all", linger_ms=0)
    # Batches of 3: offsets 0-2, 3-5, 6-8, 9; the cut at 5 falls inside a batch.
    for start in (0, 3, 6, 9):
        deliver(producer, [{"topic": topic, "partition": 0, "value": b"v%d" % i} for i in range(start, min(start + 3, 10))])
    tp = TopicPartition(topic, 0)
    probe = rdk.consumer()
    assert probe.get_watermark_offsets(tp, timeout=CLIENT_TIMEOUT_S, cached=False) == (0, 10)

    [(key, future)] = admin.delete_records([TopicPartition(topic, 0, 5)], request_timeout=CLIENT_TIMEOUT_S).items()
    deleted = future.result(CLIENT_TIMEOUT_S)
    assert deleted.low_watermark == 5, deleted
    assert probe.get_watermark_offsets(tp, timeout=CLIENT_TIMEOUT_S, cached=False) == (5, 10)
    # The new log start survives a crash (same port: the clients reconnect).
    server, _, _ = servers.restart(server, signal.SIGKILL)
    assert watermarks_after_reconnect(probe, tp) == (5, 10)

    def first_reads(reset: str, start: int) -> list:
        consumer = rdk.consumer(auto_offset_reset=reset)
        consumer.assign([TopicPartition(topic, 0, start)])
        return [m.offset() for m in consume_until_eof(consumer, 1)]

    assert first_reads("earliest", 2) == [5, 6, 7, 8, 9]
    assert first_reads("latest", 2) == []
    assert first_reads("earliest", 7) == [7, 8, 9], "a fetch above the low watermark must not reset"
    strict = rdk.consumer(auto_offset_reset="error")
    strict.assign([TopicPartition(topic, 0, 2)])
    error = None
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while error is None and time.monotonic() < deadline:
        msg = strict.poll(0.2)
        if msg is not None:
            assert msg.error(), f"read offset {msg.offset()}, below the low watermark"
            error = msg.error()
    assert error is not None and error.code() == KafkaError._AUTO_OFFSET_RESET, error

    # Past the high watermark: OFFSET_OUT_OF_RANGE, as Kafka answers; nothing moves.
    [(_, beyond)] = admin.delete_records([TopicPartition(topic, 0, 50)], request_timeout=CLIENT_TIMEOUT_S).items()
    with pytest.raises(KafkaException) as out_of_range:
        beyond.result(CLIENT_TIMEOUT_S)
    assert out_of_range.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE, out_of_range.value
    # The internal topic: refused.
    [(_, internal)] = admin.delete_records([TopicPartition(INTERNAL_TOPIC, 0, 0)], request_timeout=CLIENT_TIMEOUT_S).items()
    with pytest.raises(KafkaException) as refused:
        internal.result(CLIENT_TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused.value
    # OFFSET_END: everything, up to the high watermark.
    [(_, everything)] = admin.delete_records(
        [TopicPartition(topic, 0, confluent_kafka.OFFSET_END)], request_timeout=CLIENT_TIMEOUT_S).items()
    assert everything.result(CLIENT_TIMEOUT_S).low_watermark == 10
    assert probe.get_watermark_offsets(tp, timeout=CLIENT_TIMEOUT_S, cached=False) == (10, 10)
    [(err, msg)] = deliver(producer, [{"topic": topic, "partition": 0, "value": b"after"}])
    assert err is None and msg.offset() == 10
    assert first_reads("earliest", 0) == [10]


def test_kafka_python_delete_records_and_offset_reset(servers, clients):
    server = servers.start()
    topic = unique_topic("kp-delrec")
    producer = clients.kp_producer(server, linger_ms=0)
    for i in range(12):
        producer.send(topic, value=b"v%d" % i, partition=0).get(CLIENT_TIMEOUT_S)
    tp = KTopicPartition(topic, 0)
    admin = clients.kp_admin(server)
    result = admin.delete_records({tp: 7})
    [(got_tp, info)] = list(result.items())
    assert got_tp == tp and info["low_watermark"] == 7, result

    consumer = clients.kp_consumer(server, auto_offset_reset="earliest")
    assert consumer.beginning_offsets([tp]) == {tp: 7}
    assert consumer.end_offsets([tp]) == {tp: 12}
    consumer.assign([tp])
    consumer.seek(tp, 3)
    assert [r.offset for r in kp_poll(consumer, 5)] == [7, 8, 9, 10, 11]

    latest = clients.kp_consumer(server, auto_offset_reset="latest")
    latest.assign([tp])
    latest.seek(tp, 1)
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while latest.position(tp) != 12 and time.monotonic() < deadline:
        assert not latest.poll(timeout_ms=100), "latest reset returned records below the end"
    assert latest.position(tp) == 12
    producer.send(topic, value=b"new", partition=0).get(CLIENT_TIMEOUT_S)
    assert [(r.offset, r.value) for r in kp_poll(latest, 1)] == [(12, b"new")]

    strict = clients.kp_consumer(server, auto_offset_reset="none")
    strict.assign([tp])
    strict.seek(tp, 0)
    with pytest.raises(kerrors.OffsetOutOfRangeError):
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while time.monotonic() < deadline:
            strict.poll(timeout_ms=200)
