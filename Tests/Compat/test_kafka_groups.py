"""Real Kafka clients in consumer groups against `hooklog serve` (the classic group protocol:
FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit/OffsetFetch,
ListGroups, DescribeGroups).

1. confluent-kafka `subscribe()`: consume part of a topic, commit, close; a second consumer of
   the group resumes exactly after the committed offsets, and `committed()` agrees.
2. Two confluent-kafka members split a 4-partition topic (2 + 2, disjoint); when one closes
   (LeaveGroup) the other takes all 4 over and keeps consuming. Every member commits each
   record synchronously before it takes the next, so the test asserts EXACTLY ONCE: every
   produced record consumed once across both members, none twice.
3. kafka-python `subscribe()` + `commit()`, resumed by a second consumer without re-delivery.
4. kcat's balanced consumer (`-G group topic`, stopped by `-c N`) reads every record, and its
   auto-commit on close leaves the group's committed offsets at the high watermarks.
5. `hooklog groups list` / `hooklog groups describe` while the members are active (Stable,
   2 members) and after they left (Empty), with per-partition committed offset, high
   watermark and lag checked exactly.
6. A member that stops heartbeating (a child process running a confluent-kafka consumer,
   SIGKILLed: no LeaveGroup) is removed after its session timeout and the survivor takes over
   its partitions and its committed positions (exactly once again).

Group timing: the hub's group.initial.rebalance.delay is 3 s and its minimum session timeout
6 s (Kafka's defaults), so the members here use session.timeout.ms=6000,
heartbeat.interval.ms=1000 and run concurrently in threads.

Helpers (Hub, client tracing, deliver, kp_poll, the kp/kcat fixtures) come from
test_kafka_clients.py; every client's API versions are checked against what the server
advertises and added to the session summary, and the group APIs each client used are printed.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from kafka import TopicPartition as KTopicPartition

from conftest import start_hooklog_server, served
from test_kafka_clients import (  # noqa: F401  (kp, kcat, kcat_label are fixtures)
    API_NAMES,
    CLIENT_TIMEOUT_S,
    Hub,
    Librdkafka,
    check_negotiation,
    deliver,
    kcat,
    kcat_label,
    kp,
    kp_poll,
    unique_topic,
)

PARTITIONS = 4
OFFSET_INVALID = -1001  # librdkafka: nothing committed

# Member settings: the hub's minimum session timeout, frequent heartbeats; librdkafka wants
# max.poll.interval.ms >= session.timeout.ms (it is also the rebalance timeout in JoinGroup).
SESSION_MS = 6000
HEARTBEAT_MS = 1000
MAX_POLL_MS = 10000
# The first rebalance of an Empty group waits 3 s; then a JoinGroup/SyncGroup round trip.
GROUP_FORM_S = 15
GROUP_API_KEYS = {8, 9, 10, 11, 12, 13, 14, 15, 16}


# --------------------------------------------------------------------------
# The server (4 partitions per auto-created topic), per module
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kafka_server(hooklog_bin, tmp_path_factory):
    """Overrides conftest's: `hooklog serve --num-partitions 4`, shared by this module."""
    server = start_hooklog_server(
        hooklog_bin, tmp_path_factory.mktemp("hooklog-groups"), ["--num-partitions", str(PARTITIONS)]
    )
    with served(server):
        yield server


@pytest.fixture
def hub(kafka_server) -> Hub:
    assert kafka_server.running, "hooklog serve is not running (an earlier test killed it?)"
    return Hub(kafka_server)


def group_log(hub: Hub, group: str) -> str:
    """The server's log lines of this test that name the group."""
    lines = [line for line in hub.server.log_since(hub.mark) if group in line]
    return "\n--- hooklog serve log lines for the group ---\n" + ("\n".join(lines) or "(none)")


def wait_until(predicate, timeout: float, what: str, diagnostics=lambda: "") -> float:
    """Polls predicate() every 50 ms; returns the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s" + diagnostics())
        time.sleep(0.05)
    return time.monotonic()


# --------------------------------------------------------------------------
# confluent-kafka group members
# --------------------------------------------------------------------------


class Member(threading.Thread):
    """One subscribed confluent-kafka consumer polled in its own thread.

    Records every assignment (on_assign / on_revoke, with the time), every message, and
    commits each message synchronously (commit(message=...)) before polling the next one,
    unless `commit_below` limits the commits to offsets below {partition: offset}.
    `stop()` makes the thread close the consumer (which sends LeaveGroup) and waits.
    """

    def __init__(self, consumer: Consumer, topic: str, name: str, commit_below: dict | None = None):
        super().__init__(name=f"member-{name}", daemon=True)
        self.consumer = consumer
        self.topic = topic
        self.label = name
        self.commit_below = commit_below
        self.assigned: frozenset = frozenset()
        self.history: list = []  # (monotonic time, "assign" | "revoke" | "lost", partitions)
        self.messages: list = []  # (partition, offset, value)
        self.errors: list = []
        self.commit_errors: list = []
        self.crash = None
        self.closed_at = None
        self.stopping = threading.Event()

    def _on_assign(self, consumer, partitions):
        self.assigned = frozenset(tp.partition for tp in partitions)
        self.history.append((time.monotonic(), "assign", sorted(self.assigned)))

    def _on_revoke(self, consumer, partitions):
        self.assigned = frozenset()
        self.history.append((time.monotonic(), "revoke", sorted(tp.partition for tp in partitions)))

    def _on_lost(self, consumer, partitions):
        self.assigned = frozenset()
        self.history.append((time.monotonic(), "lost", sorted(tp.partition for tp in partitions)))

    def run(self):
        try:
            self.consumer.subscribe(
                [self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
            )
            while not self.stopping.is_set():
                msg = self.consumer.poll(0.1)
                if msg is None:
                    continue
                if msg.error():
                    self.errors.append(msg.error())
                    continue
                self.messages.append((msg.partition(), msg.offset(), msg.value()))
                if self.commit_below is None or msg.offset() < self.commit_below.get(msg.partition(), 0):
                    try:
                        for tp in self.consumer.commit(message=msg, asynchronous=False) or []:
                            if tp.error is not None:
                                self.commit_errors.append((msg.partition(), msg.offset(), tp.error))
                    except KafkaException as error:
                        self.commit_errors.append((msg.partition(), msg.offset(), error.args[0]))
        except Exception as error:  # reported by the test
            self.crash = error
        finally:
            self.consumer.close()
            self.closed_at = time.monotonic()

    def stop(self, timeout: float = 15):
        self.stopping.set()
        self.join(timeout)
        assert not self.is_alive(), f"{self.name}: close() did not return within {timeout} s"

    def describe(self) -> str:
        start = self.history[0][0] if self.history else 0
        events = ", ".join(f"{kind} {parts} @{t - start:.1f}s" for t, kind, parts in self.history)
        return (f"{self.label}: {len(self.messages)} messages, assignments [{events}], errors {self.errors}, "
                f"commit errors {self.commit_errors[:5]}, crash {self.crash!r}")


class GroupRdk(Librdkafka):
    """Librdkafka (test_kafka_clients.py) plus group members, consumers closed by their threads,
    and librdkafka debug lines from child processes, all in one Trace."""

    def __init__(self, hub: Hub):
        super().__init__(hub)
        self.members: list = []
        self.closed: set = set()
        self.child_lines: list = []

    def group_consumer(self, group: str, **extra) -> Consumer:
        conf = dict(
            group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=SESSION_MS, heartbeat_interval_ms=HEARTBEAT_MS, max_poll_interval_ms=MAX_POLL_MS,
        )
        conf.update(extra)
        consumer = Consumer(self.config(**conf))
        self.clients.append(consumer)
        return consumer

    def member(self, group: str, topic: str, name: str, commit_below: dict | None = None, **extra) -> Member:
        consumer = self.group_consumer(group, client_id=f"hooklog-compat-{name}", **extra)
        member = Member(consumer, topic, name, commit_below)
        self.members.append(member)
        self.closed.add(id(consumer))  # the thread closes it
        return member

    def close(self, consumer: Consumer):
        consumer.close()
        self.closed.add(id(consumer))

    def trace(self):
        trace = super().trace()
        trace.add_librdkafka_lines(self.child_lines)
        return trace

    def teardown(self):
        for member in self.members:
            if member.is_alive():
                member.stop()
            elif member.ident is None:  # never started: close its consumer here
                member.consumer.close()
        for client in self.clients:
            if isinstance(client, Consumer) and id(client) not in self.closed:
                client.poll(0)
                client.close()


@pytest.fixture
def grk(hub, advertised, negotiated_versions):
    clients = GroupRdk(hub)
    try:
        yield clients
    finally:
        clients.teardown()
    if clients.clients:
        trace = clients.trace()
        check_negotiation(trace, advertised, negotiated_versions)
        print_group_apis(trace)


def print_group_apis(trace):
    used = ", ".join(
        f"{API_NAMES.get(k, k)} v{'/'.join(map(str, sorted(v)))}"
        for k, v in sorted(trace.used.items()) if k in GROUP_API_KEYS
    )
    print(f"[{trace.client}] group APIs: {used or 'none'}")


def produce_numbered(grk: GroupRdk, topic: str, numbers, partitions: int = PARTITIONS) -> dict:
    """Records 'n-<i>' to partition i % partitions; returns {value: (partition, offset)}."""
    producer = grk.producer(acks="all", linger_ms=5)
    numbers = list(numbers)
    reports = deliver(producer, [
        {"topic": topic, "partition": i % partitions, "key": b"k%d" % i, "value": b"n-%d" % i} for i in numbers
    ])
    placed = {}
    for i, (err, msg) in zip(numbers, reports):
        assert err is None, f"record {i}: {err}"
        placed[b"n-%d" % i] = (msg.partition(), msg.offset())
    return placed


def poll_messages(consumer: Consumer, count: int, limit_s: float, quiet_s: float = 0.0) -> list:
    """(partition, offset, value) of `count` messages (errors raise), then keeps polling for
    quiet_s more: anything extra (a re-delivery) is returned too."""
    got = []
    deadline = time.monotonic() + limit_s
    while len(got) < count:
        assert time.monotonic() < deadline, f"only {len(got)} of {count} messages within {limit_s} s: {got[:8]}"
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        assert not msg.error(), f"consumer error: {msg.error()}"
        got.append((msg.partition(), msg.offset(), msg.value()))
    end = time.monotonic() + quiet_s
    while time.monotonic() < end:
        msg = consumer.poll(0.1)
        if msg is not None and not msg.error():
            got.append((msg.partition(), msg.offset(), msg.value()))
    return got


def committed_offsets(consumer: Consumer, topic: str, partitions: int = PARTITIONS) -> dict:
    answer = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=CLIENT_TIMEOUT_S)
    assert all(tp.error is None for tp in answer), answer
    return {tp.partition: tp.offset for tp in answer}


def next_offsets(messages) -> dict:
    """{partition: last consumed offset + 1}."""
    result = {}
    for partition, offset, _ in messages:
        result[partition] = max(result.get(partition, 0), offset + 1)
    return result


# --------------------------------------------------------------------------
# 1. confluent-kafka: subscribe, commit, close, resume
# --------------------------------------------------------------------------


def test_confluent_group_resumes_after_committed_offsets(hub, grk, compat_report):
    topic = unique_topic("cg-resume")
    group = unique_topic("cg-resume-group")
    placed = produce_numbered(grk, topic, range(40))  # 10 per partition
    first_count = 25

    first = grk.group_consumer(group)
    started = time.monotonic()
    first.subscribe([topic])
    got_first = poll_messages(first, first_count, limit_s=GROUP_FORM_S)
    joined_s = time.monotonic() - started
    assert len(got_first) == first_count
    commit = first.commit(asynchronous=False)
    assert all(tp.error is None for tp in commit), commit
    want = {p: next_offsets(got_first).get(p, OFFSET_INVALID) for p in range(PARTITIONS)}
    assert {tp.partition: tp.offset for tp in commit if tp.offset >= 0} == {
        p: o for p, o in want.items() if o >= 0
    }, f"commit() answered {commit}, consumed up to {want}"
    assert committed_offsets(first, topic) == want, "committed() after commit()" + group_log(hub, group)
    grk.close(first)  # LeaveGroup

    second = grk.group_consumer(group)
    assert committed_offsets(second, topic) == want, "a new consumer of the group reads other committed offsets"
    second.subscribe([topic])
    got_second = poll_messages(second, 40 - first_count, limit_s=GROUP_FORM_S, quiet_s=1.0)

    first_set = {(p, o) for p, o, _ in got_first}
    second_set = [(p, o) for p, o, _ in got_second]
    redelivered = sorted(set(second_set) & first_set)
    assert not redelivered, (
        f"the resumed consumer re-read {len(redelivered)} committed records: {redelivered[:8]} "
        f"(committed: {want})" + group_log(hub, group)
    )
    assert len(second_set) == len(set(second_set)) == 40 - first_count, f"{len(second_set)} records: {second_set}"
    assert first_set | set(second_set) == set(placed.values())
    starts = {}
    for p, o, _ in got_second:
        starts.setdefault(p, o)
    for p, o in starts.items():
        assert o == (want[p] if want[p] >= 0 else 0), f"partition {p}: resumed at {o}, committed {want[p]}"

    # The second consumer commits the rest: everything is committed, up to the high watermark.
    second.commit(asynchronous=False)
    assert committed_offsets(second, topic) == {p: 10 for p in range(PARTITIONS)}
    compat_report.append(
        f"groups (confluent-kafka subscribe): first member consumed {first_count} in {joined_s:.1f} s "
        f"(incl. the 3 s initial rebalance delay), committed {want}; the next member resumed there"
    )
    hub.assert_no_dropped_connections()


# --------------------------------------------------------------------------
# 2. Two members split the partitions; LeaveGroup hands them over
# --------------------------------------------------------------------------


def test_confluent_two_members_split_and_hand_over(hub, grk, compat_report):
    topic = unique_topic("cg-split")
    group = unique_topic("cg-split-group")
    placed = produce_numbered(grk, topic, range(40))
    a = grk.member(group, topic, "a")
    b = grk.member(group, topic, "b")

    def status():
        return f"\n{a.describe()}\n{b.describe()}" + group_log(hub, group)

    started = time.monotonic()
    a.start()
    b.start()
    wait_until(lambda: len(a.assigned) == 2 and len(b.assigned) == 2, GROUP_FORM_S,
               "both members assigned 2 partitions", status)
    formed_s = time.monotonic() - started
    assert not a.assigned & b.assigned and a.assigned | b.assigned == set(range(PARTITIONS)), status()
    # Both joined within the initial rebalance delay: one generation, one assignment each.
    assert [kind for _, kind, _ in a.history] == ["assign"], status()
    assert [kind for _, kind, _ in b.history] == ["assign"], status()
    split = (sorted(a.assigned), sorted(b.assigned))

    wait_until(lambda: len(a.messages) + len(b.messages) >= 40, CLIENT_TIMEOUT_S, "the first 40 records", status)
    for member in (a, b):
        partitions = {p for p, _, _ in member.messages}
        assert partitions <= set(member.assigned), f"{member.label} read partitions {partitions}" + status()

    left_at = time.monotonic()
    a.stop()  # close(): revoke, LeaveGroup
    close_s = a.closed_at - left_at
    during = produce_numbered(grk, topic, range(40, 60))  # while b rejoins
    taken_over = wait_until(lambda: b.assigned == set(range(PARTITIONS)), GROUP_FORM_S,
                            "b owns all 4 partitions after a left", status)
    handover_s = taken_over - left_at
    after = produce_numbered(grk, topic, range(60, 80))
    wait_until(lambda: len(a.messages) + len(b.messages) >= 80, CLIENT_TIMEOUT_S, "all 80 records", status)
    time.sleep(1.0)  # time for a duplicate to show up
    b_kinds = [kind for _, kind, _ in b.history]
    b.stop()

    everything = {**placed, **during, **after}
    counts = Counter(v for _, _, v in a.messages + b.messages)
    duplicates = sorted(v for v, n in counts.items() if n > 1)
    missing = sorted(set(everything) - set(counts))
    assert not missing, f"{len(missing)} records never consumed: {missing[:8]}" + status()
    assert not duplicates, (
        f"{len(duplicates)} records consumed twice although each was committed before the next poll: "
        f"{duplicates[:8]}" + status()
    )
    assert not a.commit_errors and not b.commit_errors, status()
    assert a.crash is None and b.crash is None and not a.errors and not b.errors, status()
    # Eager rebalance: b gave its partitions back and got all four (one generation later).
    assert b_kinds == ["assign", "revoke", "assign"], status()
    # Every position is committed: the high watermarks (20 per partition).
    check = grk.group_consumer(group)
    assert committed_offsets(check, topic) == {p: 20 for p in range(PARTITIONS)}, status()
    compat_report.append(
        f"groups (confluent-kafka, 2 members, 4 partitions): split {split[0]} / {split[1]} "
        f"{formed_s:.1f} s after subscribe; close() took {close_s:.2f} s; the survivor owned all 4 "
        f"{handover_s:.1f} s after LeaveGroup; 80 records consumed exactly once "
        f"(a {len(a.messages)}, b {len(b.messages)})"
    )
    hub.assert_no_dropped_connections()


# --------------------------------------------------------------------------
# 3. kafka-python: subscribe, commit, close, resume
# --------------------------------------------------------------------------


def test_kafka_python_group_commit_and_resume(hub, kp, compat_report):
    topic = unique_topic("kg-resume")
    group = unique_topic("kg-resume-group")
    producer = kp.producer(linger_ms=5)
    for i in range(32):
        producer.send(topic, key=b"k%d" % i, value=b"n-%d" % i, partition=i % PARTITIONS)
    producer.flush(CLIENT_TIMEOUT_S)
    group_conf = dict(
        group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
        session_timeout_ms=SESSION_MS, heartbeat_interval_ms=HEARTBEAT_MS, max_poll_interval_ms=MAX_POLL_MS,
        request_timeout_ms=15000, max_poll_records=4,
    )

    first = kp.consumer(**group_conf)
    first.subscribe([topic])
    started = time.monotonic()
    got_first = []
    while len(got_first) < 18:
        assert time.monotonic() - started < GROUP_FORM_S, f"only {len(got_first)} records"
        for batch in first.poll(timeout_ms=200).values():
            got_first.extend(batch)
    joined_s = time.monotonic() - started
    assert first.assignment() == {KTopicPartition(topic, p) for p in range(PARTITIONS)}
    first.commit()  # the positions after the records poll() returned
    consumed = next_offsets((r.partition, r.offset, None) for r in got_first)
    committed = {p: first.committed(KTopicPartition(topic, p)) for p in range(PARTITIONS)}
    for p in range(PARTITIONS):
        # A partition poll() returned nothing from is committed at its position (0) or not at all.
        assert committed[p] in ((consumed[p],) if p in consumed else (None, 0)), (
            f"committed {committed}, consumed up to {consumed}"
        )
    first.close()  # LeaveGroup

    second = kp.consumer(**group_conf)
    assert {p: second.committed(KTopicPartition(topic, p)) for p in range(PARTITIONS)} == committed
    second.subscribe([topic])
    rest = kp_poll(second, 32 - len(got_first), limit_s=GROUP_FORM_S)
    extra = []
    quiet_until = time.monotonic() + 1.0
    while time.monotonic() < quiet_until:
        for batch in second.poll(timeout_ms=200).values():
            extra.extend(batch)
    first_set = {(r.partition, r.offset) for r in got_first}
    second_list = [(r.partition, r.offset) for r in rest + extra]
    assert not set(second_list) & first_set, (
        f"re-delivered after the commit: {sorted(set(second_list) & first_set)[:8]} (committed {committed})"
        + group_log(hub, group)
    )
    assert len(second_list) == len(set(second_list)) and first_set | set(second_list) == {
        (p, o) for p in range(PARTITIONS) for o in range(8)
    }, second_list
    second.commit()
    assert {p: second.committed(KTopicPartition(topic, p)) for p in range(PARTITIONS)} == {p: 8 for p in range(PARTITIONS)}
    # The admin client's view (ListGroups, DescribeGroups, OffsetFetch) while `second` is active.
    admin = kp.admin()
    listed = [g for g in admin.list_groups() if g["group_id"] == group]
    assert [(g["group_state"], g["protocol_type"]) for g in listed] == [("Stable", "consumer")], listed
    described = admin.describe_groups([group])[group]
    assert (described["error"], described["group_state"], described["protocol_type"], described["protocol_data"]) == (
        None, "Stable", "consumer", "range"), described
    [member] = described["members"]
    assert member["member_assignment"]["assigned_partitions"] == [{"topic": topic, "partitions": [0, 1, 2, 3]}], member
    assert member["member_metadata"]["topics"] == [topic] and member["client_host"] == "/127.0.0.1", member
    offsets = admin.list_group_offsets({group: None})[group]
    assert {tp.partition: o.offset for tp, o in offsets.items() if tp.topic == topic} == {p: 8 for p in range(PARTITIONS)}
    compat_report.append(
        f"groups (kafka-python subscribe): first member read {len(got_first)} in {joined_s:.1f} s, committed "
        f"{committed}; the next member resumed there"
    )
    hub.assert_no_dropped_connections()


# --------------------------------------------------------------------------
# 4. kcat balanced consumer
# --------------------------------------------------------------------------


def test_kcat_balanced_consumer_reads_everything(hub, grk, kcat, compat_report):
    topic = unique_topic("kcat-group")
    group = unique_topic("kcat-group-g")
    placed = produce_numbered(grk, topic, range(24))
    started = time.monotonic()
    proc = kcat.run(
        "-G", group, "-c", "24", "-f", "%p %o %s\\n",
        "-X", "auto.offset.reset=earliest", "-X", f"session.timeout.ms={SESSION_MS}",
        "-X", f"heartbeat.interval.ms={HEARTBEAT_MS}", topic,
        debug="protocol,cgrp",
    )
    took = time.monotonic() - started
    rows = [line.split(" ", 2) for line in proc.stdout.decode().splitlines() if line]
    got = sorted((int(p), int(o), v.encode()) for p, o, v in rows)
    assert got == sorted((p, o, v) for v, (p, o) in placed.items()), got
    # kcat -G auto-commits; closing the consumer commits the final positions.
    check = grk.group_consumer(group)
    assert committed_offsets(check, topic) == {p: 6 for p in range(PARTITIONS)}, group_log(hub, group)
    compat_report.append(f"groups (kcat -G -c 24): all 24 records in {took:.1f} s; committed offsets = high watermarks")
    hub.assert_no_dropped_connections()


# --------------------------------------------------------------------------
# 5. hooklog groups list / describe
# --------------------------------------------------------------------------


def hooklog_groups(hooklog_bin, hub: Hub, *args) -> str:
    proc = subprocess.run(
        [str(hooklog_bin), "groups", *args, "--bootstrap", hub.bootstrap, "--timeout", "10"],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 0, f"hooklog groups {' '.join(args)} exited {proc.returncode}: {proc.stderr}"
    return proc.stdout


def listed_state(hooklog_bin, hub: Hub, group: str):
    states = [line.split("\t") for line in hooklog_groups(hooklog_bin, hub, "list").splitlines()]
    return [state for gid, state in states if gid == group]


def offset_rows(text: str, topic: str) -> dict:
    """{partition: (committed, high watermark, lag)} from the describe table."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["TOPIC"])
    assert lines[header].split() == ["TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG"], lines[header]
    rows = {}
    for line in lines[header + 1:]:
        cells = line.split()
        assert len(cells) == 5, line
        assert cells[0] == topic, line
        rows[int(cells[1])] = tuple(cells[2:])
    return rows


def admin_view(admin, group: str) -> tuple:
    """(state, assignor, {client id: assigned partitions}) from confluent-kafka's AdminClient
    (ListGroups, DescribeGroups); checks that the listing agrees on the state."""
    listed = [g for g in admin.list_consumer_groups(request_timeout=CLIENT_TIMEOUT_S).result(CLIENT_TIMEOUT_S).valid
              if g.group_id == group]
    described = admin.describe_consumer_groups([group], request_timeout=CLIENT_TIMEOUT_S)[group].result(CLIENT_TIMEOUT_S)
    assert [(g.state.name, g.type.name) for g in listed] == [(described.state.name, "CLASSIC")], listed
    assert described.type.name == "CLASSIC" and not described.is_simple_consumer_group, described
    for m in described.members:
        assert m.host == "/127.0.0.1", m.host
    members = {m.client_id: sorted(tp.partition for tp in m.assignment.topic_partitions) for m in described.members}
    return described.state.name, described.partition_assignor, members


def test_hooklog_groups_cli_states_offsets_and_lag(hub, grk, hooklog_bin, compat_report):
    topic = unique_topic("cli-group")
    group = unique_topic("cli-group-g")
    counts = {0: 10, 1: 7, 2: 4, 3: 3}
    producer = grk.producer(acks="all")
    deliver(producer, [{"topic": topic, "partition": p, "value": b"%d-%d" % (p, i)}
                       for p, n in counts.items() for i in range(n)])
    # The members read everything but commit only below these offsets (partition 3: nothing).
    commit_below = {0: 6, 1: 7, 2: 1}
    a = grk.member(group, topic, "cli-a", commit_below)
    b = grk.member(group, topic, "cli-b", commit_below)

    def status():
        return f"\n{a.describe()}\n{b.describe()}" + group_log(hub, group)

    a.start()
    b.start()
    wait_until(lambda: len(a.assigned) == 2 and len(b.assigned) == 2, GROUP_FORM_S, "both members assigned", status)
    wait_until(lambda: len(a.messages) + len(b.messages) >= sum(counts.values()), CLIENT_TIMEOUT_S,
               "every record consumed", status)
    admin = grk.admin()

    def committed_now() -> dict:
        answer = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                   request_timeout=CLIENT_TIMEOUT_S)[group].result(CLIENT_TIMEOUT_S)
        return {tp.partition: tp.offset for tp in answer.topic_partitions}

    # OffsetFetch with all topics: the committed partitions only (partition 3 has none).
    wait_until(lambda: committed_now() == commit_below, 5, "the members' last commits", status)
    assert admin_view(admin, group) == ("STABLE", "range", {
        "hooklog-compat-cli-a": sorted(a.assigned), "hooklog-compat-cli-b": sorted(b.assigned)}), status()
    active_list = listed_state(hooklog_bin, hub, group)
    active = hooklog_groups(hooklog_bin, hub, "describe", group)
    print(f"\n$ hooklog groups describe {group}  (members active)\n{active}")
    first = active.splitlines()[0]
    assert active_list == ["Stable"], f"hooklog groups list: {active_list}" + status()
    assert re.fullmatch(rf"group {re.escape(group)}  state Stable  assignor range  members 2", first), first
    members = [line for line in active.splitlines() if line.startswith("  member ")]
    assert sorted(re.search(r"client (\S+)", m).group(1) for m in members) == [
        "hooklog-compat-cli-a", "hooklog-compat-cli-b"
    ], members
    want = {0: ("6", "10", "4"), 1: ("7", "7", "0"), 2: ("1", "4", "3")}
    rows = offset_rows(active, topic)
    # Partition 3 has no committed offset: the CLI lists committed partitions only
    # (kafka-consumer-groups.sh also shows an assigned partition without a commit, with '-').
    assert rows == want, rows
    assert all(re.search(r"  host /127\.0\.0\.1$", m) for m in members), members

    a.stop()
    b.stop()
    deliver(producer, [{"topic": topic, "partition": 0, "value": b"late-%d" % i} for i in range(5)])
    empty_list = listed_state(hooklog_bin, hub, group)
    empty = hooklog_groups(hooklog_bin, hub, "describe", group)
    print(f"$ hooklog groups describe {group}  (after both closed, 5 more records on partition 0)\n{empty}")
    assert empty_list == ["Empty"], f"hooklog groups list after LeaveGroup: {empty_list}" + status()
    assert re.fullmatch(rf"group {re.escape(group)}  state Empty  members 0", empty.splitlines()[0]), empty
    assert not [line for line in empty.splitlines() if line.startswith("  member ")], empty
    rows = offset_rows(empty, topic)
    want[0] = ("6", "15", "9")
    assert rows == want, rows
    assert not a.commit_errors and not b.commit_errors, status()
    assert admin_view(admin, group) == ("EMPTY", "", {}), status()
    assert committed_now() == commit_below
    compat_report.append(f"hooklog groups describe: Stable with 2 members, then Empty; lag per partition {want}")
    hub.assert_no_dropped_connections()


# --------------------------------------------------------------------------
# 6. A member that dies without LeaveGroup: session timeout
# --------------------------------------------------------------------------

CHILD_CONSUMER = r"""
import sys
from confluent_kafka import Consumer
bootstrap, group, topic = sys.argv[1:4]
consumer = Consumer({
    "bootstrap.servers": bootstrap, "group.id": group, "client.id": "hooklog-compat-doomed",
    "enable.auto.commit": False, "auto.offset.reset": "earliest",
    "session.timeout.ms": %(session)d, "heartbeat.interval.ms": %(heartbeat)d,
    "max.poll.interval.ms": %(max_poll)d, "debug": "protocol",
})
def on_assign(c, partitions):
    print("ASSIGN " + ",".join(str(tp.partition) for tp in partitions), flush=True)
def on_revoke(c, partitions):
    print("REVOKE", flush=True)
consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
while True:
    msg = consumer.poll(0.1)
    if msg is None:
        continue
    if msg.error():
        print("ERROR " + msg.error().str(), flush=True)
        continue
    consumer.commit(message=msg, asynchronous=False)
    print("MSG %%d %%d %%s" %% (msg.partition(), msg.offset(), msg.value().decode()), flush=True)
""" % {"session": SESSION_MS, "heartbeat": HEARTBEAT_MS, "max_poll": MAX_POLL_MS}


class ChildMember:
    """CHILD_CONSUMER in a child process; a thread reads what it prints."""

    def __init__(self, hub: Hub, group: str, topic: str, stderr_path):
        self.stderr_path = stderr_path
        self.stderr = open(stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD_CONSUMER, hub.bootstrap, group, topic],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr,
        )
        self.assigned: frozenset = frozenset()
        self.messages: list = []
        self.lines: list = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            if line.startswith("ASSIGN"):
                parts = line[len("ASSIGN"):].strip()
                self.assigned = frozenset(int(p) for p in parts.split(",") if p)
            elif line == "REVOKE":
                self.assigned = frozenset()
            elif line.startswith("MSG "):
                _, p, o, v = line.split(" ", 3)
                self.messages.append((int(p), int(o), v.encode()))

    def kill(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        status = self.proc.wait(10)
        self.reader.join(5)
        self.stderr.close()
        return status

    def debug_lines(self) -> list:
        return self.stderr_path.read_bytes().decode("utf-8", "replace").splitlines()


def test_member_without_heartbeats_is_removed_after_session_timeout(hub, grk, hooklog_bin, tmp_path, compat_report):
    topic = unique_topic("cg-expire")
    group = unique_topic("cg-expire-group")
    placed = produce_numbered(grk, topic, range(40))
    doomed = ChildMember(hub, group, topic, tmp_path / "child-consumer.stderr")
    survivor = grk.member(group, topic, "survivor")
    try:
        def status():
            return (f"\nchild: assigned {sorted(doomed.assigned)}, {len(doomed.messages)} messages, "
                    f"output tail {doomed.lines[-5:]}\n{survivor.describe()}" + group_log(hub, group))

        survivor.start()
        wait_until(lambda: len(doomed.assigned) == 2 and len(survivor.assigned) == 2, GROUP_FORM_S,
                   "the child and the survivor assigned 2 partitions each", status)
        assert not doomed.assigned & survivor.assigned, status()
        split = (sorted(doomed.assigned), sorted(survivor.assigned))
        wait_until(lambda: len(doomed.messages) + len(survivor.messages) >= 40, CLIENT_TIMEOUT_S,
                   "the first 40 records", status)
        time.sleep(0.3)  # idle: nothing consumed and not yet committed

        killed_at = time.monotonic()
        assert doomed.kill() == -signal.SIGKILL
        taken_over = wait_until(lambda: survivor.assigned == set(range(PARTITIONS)), SESSION_MS / 1000 + 10,
                                "the survivor owns all 4 partitions after the SIGKILL", status)
        takeover_s = taken_over - killed_at
        # Kafka removes the member when its session times out (last heartbeat + 6 s; the last
        # heartbeat was at most 1 s before the kill), not when its connection drops.
        assert SESSION_MS / 1000 - HEARTBEAT_MS / 1000 - 0.5 <= takeover_s <= SESSION_MS / 1000 + 5, (
            f"the survivor got the dead member's partitions {takeover_s:.1f} s after the SIGKILL; "
            f"session.timeout.ms={SESSION_MS}" + status()
        )
        after = produce_numbered(grk, topic, range(40, 60))
        wait_until(lambda: len(doomed.messages) + len(survivor.messages) >= 60, CLIENT_TIMEOUT_S,
                   "the 20 records produced after the takeover", status)
        time.sleep(1.0)

        described = hooklog_groups(hooklog_bin, hub, "describe", group)
        print(f"\n$ hooklog groups describe {group}  (after the takeover)\n{described}")
        assert re.match(rf"group {re.escape(group)}  state Stable  assignor range  members 1$",
                        described.splitlines()[0]), described
        assert "client hooklog-compat-survivor" in described and "hooklog-compat-doomed" not in described, described
        assert offset_rows(described, topic) == {p: ("15", "15", "0") for p in range(PARTITIONS)}, described
    finally:
        doomed.kill()
        grk.child_lines.extend(doomed.debug_lines())
        survivor.stop()

    counts = Counter(v for _, _, v in doomed.messages + survivor.messages)
    everything = {**placed, **after}
    missing = sorted(set(everything) - set(counts))
    duplicates = sorted(v for v, n in counts.items() if n > 1)
    assert not missing and not duplicates, (
        f"missing {missing[:8]}, consumed twice {duplicates[:8]} (every record was committed before the "
        "next poll, so the survivor must resume exactly at the dead member's commits)" + status()
    )
    expired = [line for line in hub.server.log_since(hub.mark) if group in line and "expire" in line.lower()]
    assert any("hooklog-compat-doomed" in line for line in expired), group_log(hub, group)
    compat_report.append(
        f"groups (SIGKILLed member, session.timeout.ms={SESSION_MS}): split {split[0]} / {split[1]}; the survivor "
        f"owned all 4 {takeover_s:.1f} s after the kill; 60 records exactly once"
    )
    if expired:
        print("server:", *expired, sep="\n  ")
    hub.assert_no_dropped_connections()
