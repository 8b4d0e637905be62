"""confluent-kafka against a compacted topic that `hooklog compact` cleaned while the hub was stopped.

AdminClient creates a topic with cleanup.policy=compact and tiny segments, a Producer writes many
values for a few keys and a tombstone, the hub stops (SIGTERM), `hooklog compact` rewrites the
closed segments, the hub starts again, and a Consumer (assign at the beginning) must read the
latest value of every key at the offset it was produced at, with far fewer records than produced.
"""

import subprocess

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import start_hooklog_server

TOPIC = "profiles"
KEYS = [b"alice", b"bob", b"carol", b"dave"]
ROUNDS = 150


def consume_all(bootstrap: str) -> list:
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "compaction-check",
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 100,
    })
    try:
        consumer.assign([TopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
        _, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
        messages = []
        position = -1
        while position + 1 < high:
            message = consumer.poll(5)
            assert message is not None, f"no message after offset {position} (high watermark {high})"
            assert message.error() is None, message.error()
            messages.append((message.offset(), message.key(), message.value()))
            position = message.offset()
        return messages
    finally:
        consumer.close()


def create_and_fill(bootstrap: str) -> dict:
    """Creates TOPIC (compact, tiny segments) and writes ROUNDS values per key, a tombstone for bob
    and one for erin (never alive); returns offset -> (key, value)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    created = admin.create_topics([
        NewTopic(TOPIC, num_partitions=1, replication_factor=1,
                 config={"cleanup.policy": "compact", "segment.bytes": "1024"}),
    ])
    created[TOPIC].result(timeout=10)

    produced = {}  # offset -> (key, value)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})

    def delivered(error, message):
        assert error is None, error
        produced[message.offset()] = (message.key(), message.value())

    for round_number in range(ROUNDS):
        for key in KEYS:
            value = b"%s-%d-" % (key, round_number) + b"x" * (round_number % 40)
            producer.produce(TOPIC, key=key, value=value, on_delivery=delivered)
        if round_number == ROUNDS - 20:
            producer.produce(TOPIC, key=b"bob", value=None, on_delivery=delivered)  # bob deleted...
        producer.flush(10)  # one small batch per round, so segments roll and close
    producer.produce(TOPIC, key=b"erin", value=None, on_delivery=delivered)  # ...and erin never lived
    assert producer.flush(30) == 0
    assert len(produced) == ROUNDS * len(KEYS) + 2
    return produced


def check_compacted(messages: list, produced: dict):
    offsets = [offset for offset, _, _ in messages]
    assert offsets == sorted(set(offsets)), "offsets must grow strictly"
    for offset, key, value in messages:
        assert produced[offset] == (key, value), f"offset {offset} changed"
    latest = {}
    for offset, (key, value) in sorted(produced.items()):
        latest[key] = (offset, value)
    seen = {}
    for offset, key, value in messages:
        seen[key] = (offset, value)
    assert seen == latest, "the latest record of each key must survive at its original offset"
    assert len(messages) < len(produced) // 2, f"compaction kept {len(messages)} of {len(produced)} records"


def test_compacted_topic_keeps_the_latest_value_per_key_at_its_offset(hooklog_bin, tmp_path):
    server = start_hooklog_server(hooklog_bin, tmp_path)
    try:
        produced = create_and_fill(server.bootstrap)
    finally:
        assert server.stop() == 0, server.log_text()

    data_dir = str(tmp_path / "data")
    compacted = subprocess.run(
        [str(hooklog_bin), "compact", TOPIC, "--data-dir", data_dir],
        capture_output=True, text=True, timeout=120,
    )
    assert compacted.returncode == 0, compacted.stderr
    assert f"compacted {TOPIC}-0: segments" in compacted.stdout, compacted.stdout
    verified = subprocess.run(
        [str(hooklog_bin), "verify", "--data-dir", data_dir], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0, verified.stdout

    server = start_hooklog_server(hooklog_bin, tmp_path)
    try:
        messages = consume_all(server.bootstrap)
    finally:
        assert server.stop() == 0, server.log_text()

    check_compacted(messages, produced)


def test_hooklog_compact_url_asks_a_running_hub(hooklog_bin, tmp_path):
    """`hooklog compact TOPIC --url` compacts through a running hub's HTTP API and prints the
    summary the hub answered; consumers then read the latest value per key at its offset."""
    server = start_hooklog_server(hooklog_bin, tmp_path)
    try:
        produced = create_and_fill(server.bootstrap)
        compacted = subprocess.run(
            [str(hooklog_bin), "compact", TOPIC, "--url", server.http_url],
            capture_output=True, text=True, timeout=120,
        )
        assert compacted.returncode == 0, compacted.stderr
        assert f"compacted {TOPIC}-0: segments" in compacted.stdout, compacted.stdout
        messages = consume_all(server.bootstrap)
    finally:
        assert server.stop() == 0, server.log_text()
    check_compacted(messages, produced)
