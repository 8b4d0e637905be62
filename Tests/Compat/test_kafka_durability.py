"""Acknowledged produces survive a SIGKILL of `hooklog serve`.

confluent-kafka producers with acks=all write to a flush.policy=always topic with small segments
(so rolls and their background seals are in flight too) while the hub is SIGKILLed at a random
moment. After a restart on the same data directory, every record whose delivery was confirmed
must be there, at its offset, with its value; offsets stay contiguous. One producer with one
request in flight takes the hub's event-loop write path (the append written and fsynced on the
connection's event loop); four producers at once take the writer's group commit.
"""

from __future__ import annotations

import random
import signal
import threading
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import start_hooklog_server

ROUNDS = 3


def produce_until_killed(server, topic: str, producers: int, acked: dict[int, bytes], round_: int) -> None:
    """Runs `producers` threads producing one record at a time until the hub dies, recording
    every confirmed (offset, value), and SIGKILLs the hub after a random delay."""
    lock = threading.Lock()
    stop = threading.Event()

    def run(worker: int) -> None:
        producer = Producer({
            "bootstrap.servers": server.bootstrap, "acks": "all", "linger.ms": 0,
            "max.in.flight.requests.per.connection": 1, "enable.idempotence": False, "retries": 0,
            "message.timeout.ms": 3000, "socket.timeout.ms": 3000,
        })

        def delivered(err, msg):
            if err is None:
                with lock:
                    acked[msg.offset()] = msg.value()

        i = 0
        while not stop.is_set():
            value = b"r%d-w%d-%d-" % (round_, worker, i) + b"x" * random.randint(10, 400)
            producer.produce(topic, value=value, partition=0, on_delivery=delivered)
            producer.flush(3)  # one record in flight: wait for its ack (or the hub's death)
            i += 1
        producer.flush(3)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(producers)]
    for thread in threads:
        thread.start()
    time.sleep(random.uniform(0.4, 1.5))
    status = server.kill(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert status == -signal.SIGKILL


def read_all(server, topic: str) -> dict[int, bytes]:
    consumer = Consumer({
        "bootstrap.servers": server.bootstrap, "group.id": "durability-check", "enable.auto.commit": False,
    })
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        found: dict[int, bytes] = {}
        deadline = time.monotonic() + 30
        while len(found) < high - low and time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is None or msg.error():
                continue
            found[msg.offset()] = msg.value()
        assert len(found) == high - low, f"read {len(found)} of offsets {low}..<{high}"
        assert sorted(found) == list(range(low, high)), "offsets must be contiguous"
        return found
    finally:
        consumer.close()


@pytest.mark.parametrize("producers", [1, 4])
def test_acknowledged_records_survive_sigkill(hooklog_bin, tmp_path, producers, compat_report):
    directory = tmp_path / "hub"
    server = start_hooklog_server(hooklog_bin, directory, ["--flush", "always"])
    topic = "durable"
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    futures = admin.create_topics([NewTopic(topic, 1, 1, config={"flush.policy": "always", "segment.bytes": "65536"})])
    futures[topic].result(10)
    acked: dict[int, bytes] = {}
    for round_ in range(ROUNDS):
        produce_until_killed(server, topic, producers, acked, round_)
        server = start_hooklog_server(hooklog_bin, directory, ["--flush", "always"])
        found = read_all(server, topic)
        lost = [offset for offset, value in acked.items() if found.get(offset) != value]
        assert not lost, f"round {round_}: acknowledged offsets lost or changed after SIGKILL: {sorted(lost)[:10]}"
        for value in found.values():
            assert value.startswith(b"r") and value.rstrip(b"x").count(b"-") == 3, f"unexpected record {value[:40]!r}"
    assert len(acked) > 20 * ROUNDS, f"only {len(acked)} acknowledgements: the test proves little"
    compat_report.append(
        f"SIGKILL during produce (confluent-kafka, acks=all, {producers} producer(s)): {len(acked)} acknowledged "
        f"records over {ROUNDS} kills, all present after restart; log {len(found)} records"
    )
    server.assert_stops_cleanly()
