"""The HTTP API end to end: a real `hooklog serve` over real HTTP, checked by content.

Topics, events (CloudEvents binary, structured and batch modes, read back over the Kafka
protocol with confluent-kafka), Kafka's default partitioner (murmur2, checked against Kafka's own
test vectors), Idempotency-Key, subscriptions (start positions, cursors, replay, PATCH,
unsubscribe), consumer groups, /healthz and /metrics, every error status the API gives for bad
input, and state surviving a restart. One server (no auth, --num-partitions 3) serves the
module; the restart test starts its own. Auth and rate limits: test_http_auth.py; the SSRF
guard: test_http_ssrf.py; hostile input: test_http_hostile.py; the OpenAPI document:
test_http_openapi.py.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from datetime import datetime, timezone

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import HooklogServer, start_hooklog_server, served
from test_http_common import (
    Http,
    assert_error,
    kafka_partition,
    murmur2,
    read_one,
    read_partition,
    unique,
)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
MIB = 1 << 20
INVALID_URL = "https://hooks.example.invalid/receive"  # never resolves: accepted, never called


@pytest.fixture(scope="module")
def hub(hooklog_bin, tmp_path_factory):
    # --no-dispatch: cursors move only by the API here (the Dispatcher would skip filtered events and
    # retry the unresolvable *.invalid callbacks); delivery fields are tested on a dispatching server.
    server = start_hooklog_server(hooklog_bin, tmp_path_factory.mktemp("http-api"),
                                  ["--num-partitions", "3", "--no-dispatch"])
    with served(server):
        assert server.http_url, "the ready line names no http= address"
        yield server


@pytest.fixture(scope="module")
def api(hub) -> Http:
    return Http(hub.http_url)


def now_ms() -> int:
    return int(time.time() * 1000)


def rfc3339_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def post_event(api: Http, topic: str, body=b"x", headers=None, query="", expect=201):
    resp = api.post(f"/topics/{topic}/events{query}", body=body, headers=headers or {})
    assert resp.status == expect, f"POST /topics/{topic}/events{query}: {resp}"
    return resp.json()


def structured(**attributes) -> dict:
    event = {"specversion": "1.0", "id": uuid.uuid4().hex, "source": "/tests", "type": "test.event"}
    event.update(attributes)
    return event


STRUCTURED = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}


# --------------------------------------------------------------------------
# /healthz and /metrics
# --------------------------------------------------------------------------


def test_healthz(api):
    resp = api.get("/healthz")
    assert resp.status == 200, resp
    assert resp.json() == {"status": "ok", "offlinePartitions": []}


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(api: Http) -> dict:
    """{(name, frozenset(labels)): value} of every sample of GET /metrics."""
    resp = api.get("/metrics")
    assert resp.status == 200, resp
    assert resp.headers["content-type"].startswith("text/plain"), resp.headers
    assert "version=0.0.4" in resp.headers["content-type"], resp.headers
    samples = {}
    for line in resp.body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(_LABEL.findall(match.group(2) or ""))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def metric(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_requests_appends_fsyncs_and_subscriptions(api):
    topic = unique("metrics")
    api.create_topic(topic, partitions=2)
    before = scrape(api)
    post_event(api, topic, b"0123456789", query="?partition=1")
    post_event(api, topic, b"abc", query="?partition=1")
    api.post(f"/topics/{topic}/events?partition=9", body=b"x")  # a 400
    after = scrape(api)
    route = "/topics/{topic}/events"
    assert metric(after, "hooklog_http_requests_total", method="POST", route=route, status="201") - metric(
        before, "hooklog_http_requests_total", method="POST", route=route, status="201") == 2
    assert metric(after, "hooklog_http_requests_total", method="POST", route=route, status="400") - metric(
        before, "hooklog_http_requests_total", method="POST", route=route, status="400") == 1
    assert metric(after, "hooklog_http_request_duration_seconds_count", method="POST", route=route) >= 3
    assert metric(after, "hooklog_appends_total") - metric(before, "hooklog_appends_total") >= 2
    assert metric(after, "hooklog_appended_bytes_total") - metric(before, "hooklog_appended_bytes_total") >= 13
    assert metric(after, "hooklog_fsync_duration_seconds_count") > metric(before, "hooklog_fsync_duration_seconds_count")
    assert metric(after, "hooklog_partition_high_watermark", topic=topic, partition="1") == 2
    assert metric(after, "hooklog_partition_high_watermark", topic=topic, partition="0") == 0
    size = api.topic(topic)["partitions"][1]["sizeBytes"]
    assert metric(after, "hooklog_partition_size_bytes", topic=topic, partition="1") == size > 0

    # Subscriptions by state: the gauge agrees with the API.
    sub = api.subscribe(topic, {"url": INVALID_URL})
    paused = api.subscribe(topic, {"url": INVALID_URL + "/2"})
    assert api.patch(f"/subscriptions/{paused['id']}", {"state": "paused"}).status == 200
    listed = api.get("/subscriptions").json()["subscriptions"]
    samples = scrape(api)
    for state in ("active", "paused", "failing", "disabled"):
        expected = sum(1 for s in listed if s["state"] == state)
        assert metric(samples, "hooklog_subscriptions", state=state) == expected, (state, listed)
    for s in (sub, paused):
        assert api.delete(f"/subscriptions/{s['id']}").status == 204


# --------------------------------------------------------------------------
# Topics
# --------------------------------------------------------------------------


def test_topic_lifecycle(api):
    name = unique("life")
    created = api.create_topic(name, partitions=4, config={"retention.ms": "3600000", "cleanup.policy": "delete"})
    assert created["name"] == name and created["internal"] is False
    assert isinstance(created["id"], str) and created["id"]
    assert [p["partition"] for p in created["partitions"]] == [0, 1, 2, 3]
    for p in created["partitions"]:
        assert (p["startOffset"], p["endOffset"], p["sizeBytes"]) == (0, 0, 0), p
        assert p["segments"] >= 1
    assert created["sizeBytes"] == 0
    assert created["config"]["retention.ms"] == "3600000"
    assert created["config"]["cleanup.policy"] == "delete"
    assert created["config"]["max.message.bytes"]  # defaults are listed too
    assert created["overrides"] == {"retention.ms": "3600000", "cleanup.policy": "delete"}

    listed = api.get("/topics").json()["topics"]
    mine = [t for t in listed if t["name"] == name]
    assert mine == [{"name": name, "id": created["id"], "partitions": 4, "internal": False}], mine
    assert api.topic(name) == created

    for n in range(3):
        post_event(api, name, b"event-%d" % n, query="?partition=1")
    detail = api.topic(name)
    assert [p["endOffset"] for p in detail["partitions"]] == [0, 3, 0, 0]
    assert detail["partitions"][1]["sizeBytes"] > 3 * len(b"event-0")
    assert detail["sizeBytes"] == sum(p["sizeBytes"] for p in detail["partitions"])

    resp = api.delete(f"/topics/{name}")
    assert resp.status == 204 and resp.body == b"", resp
    assert_error(api.get(f"/topics/{name}"), 404, "not_found")
    assert name not in [t["name"] for t in api.get("/topics").json()["topics"]]
    assert_error(api.delete(f"/topics/{name}"), 404)
    again = api.create_topic(name, partitions=1)
    assert again["id"] != created["id"] and [p["endOffset"] for p in again["partitions"]] == [0]


def test_topic_errors(api):
    name = unique("dup")
    api.create_topic(name, partitions=1)
    assert_error(api.post("/topics", {"name": name, "partitions": 1}), 409, "topic_already_exists")
    assert_error(api.post("/topics", {"name": "bad name!"}), 400)
    assert_error(api.post("/topics", {"name": "x" * 250}), 400)
    assert_error(api.post("/topics", {"name": ""}), 400)
    assert_error(api.post("/topics", {"name": unique("p"), "partitions": 0}), 400)
    assert_error(api.post("/topics", {"name": unique("p"), "partitions": -1}), 400)
    assert_error(api.post("/topics", {"name": unique("p"), "partitions": "3"}), 400, "invalid_json")
    assert_error(api.post("/topics", {"name": unique("p"), "partitions": 1.5}), 400, "invalid_json")
    assert_error(api.post("/topics", {"partitions": 1}), 400, "invalid_json")
    assert_error(api.post("/topics", {"name": 5}), 400, "invalid_json")
    assert_error(api.post("/topics", {"name": unique("c"), "config": {"no.such.setting": "1"}}), 400)
    assert_error(api.post("/topics", {"name": unique("c"), "config": {"cleanup.policy": "bogus"}}), 400)
    assert_error(api.post("/topics", {"name": unique("c"), "config": {"retention.ms": 5}}), 400, "invalid_json")
    assert_error(api.post("/topics", {"name": unique("c"), "config": ["retention.ms"]}), 400, "invalid_json")
    assert_error(api.post("/topics", body=b"[]"), 400, "invalid_json")
    assert_error(api.post("/topics", body=b""), 400)
    assert_error(api.post("/topics", body=b'{"name":'), 400, "invalid_json")
    assert_error(api.post("/topics", body=b'{"name":"a"} trailing'), 400, "invalid_json")
    assert_error(api.post("/topics", body=b'{"name":"\xff\xfe"}'), 400, "invalid_json")
    # Names starting with __ are the hub's own.
    error = assert_error(api.post("/topics", {"name": "__mine"}), 403)
    assert "__" in error["message"] or "internal" in error["message"]
    assert_error(api.delete("/topics/__subscriptions"), 403)
    assert_error(api.get(f"/topics/{unique('missing')}"), 404, "not_found")
    # Nothing above created a topic.
    names = [t["name"] for t in api.get("/topics").json()["topics"]]
    assert "__mine" not in names and "bad name!" not in names


def test_internal_topics_listed_for_admin(api):
    topics = {t["name"]: t for t in api.get("/topics").json()["topics"]}
    for internal in ("__subscriptions", "__cursors"):
        assert topics[internal]["internal"] is True, topics.get(internal)
        assert api.topic(internal)["internal"] is True


def test_event_to_unknown_topic_creates_it(api):
    name = unique("auto")
    answer = post_event(api, name, b"first")
    assert answer["offset"] == 0
    assert len(api.topic(name)["partitions"]) == 3  # --num-partitions 3


# --------------------------------------------------------------------------
# Events: CloudEvents binary mode
# --------------------------------------------------------------------------


def header_names(record) -> list:
    return sorted(name for name, _ in record.headers)


def test_binary_mode_round_trip(hub, api):
    topic = unique("binary")
    api.create_topic(topic, partitions=3)
    body = b'{"amount": 1.50, "big": 12345678901234567890, "unicode": "caf\\u00e9"}'
    headers = {
        "ce-specversion": "1.0", "ce-id": "evt-binary-1", "ce-source": "/billing", "ce-type": "invoice.paid",
        "ce-time": "2026-01-31T12:00:00Z", "ce-subject": "caf%C3%A9%20au%20lait",  # percent-encoded (HTTP binding)
        "ce-traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "Content-Type": "application/json; charset=utf-8",
    }
    before = now_ms()
    answer = post_event(api, topic, body, headers, query="?partition=2")
    after = now_ms()
    assert answer == {"id": "evt-binary-1", "partition": 2, "offset": 0}
    record = read_one(hub.bootstrap, topic, 2, 0)
    assert record.value == body
    assert record.key is None
    assert record.header_dict == {
        "ce_specversion": b"1.0", "ce_id": b"evt-binary-1", "ce_source": b"/billing", "ce_type": b"invoice.paid",
        "ce_time": b"2026-01-31T12:00:00Z", "ce_subject": "café au lait".encode(),
        "ce_traceparent": b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "content-type": b"application/json; charset=utf-8",
    }
    assert len(record.headers) == 8, record.headers
    assert before - 1000 <= record.timestamp <= after + 1000, (before, record.timestamp, after)


def test_binary_mode_keeps_any_bytes(hub, api):
    topic = unique("bytes")
    api.create_topic(topic, partitions=1)
    blob = bytes(range(256)) * 16
    not_utf8 = b"\xff\xfe\xc0\x80 caf\xe9"
    a = post_event(api, topic, blob, {"Content-Type": "application/octet-stream", "ce-type": "blob"})
    b = post_event(api, topic, not_utf8, {"Content-Type": "text/plain"})
    records = read_partition(hub.bootstrap, topic, 0)
    assert [(r.offset, r.value) for r in records] == [(a["offset"], blob), (b["offset"], not_utf8)]
    assert records[0].header("content-type") == b"application/octet-stream"
    assert records[0].header("ce_type") == b"blob"


def test_plain_body_gets_a_generated_ce_id(hub, api):
    topic = unique("plain")
    api.create_topic(topic, partitions=1)
    first = post_event(api, topic, b"no cloudevents headers at all")
    second = post_event(api, topic, b"again")
    for answer in (first, second):
        assert UUID.match(answer["id"]), answer
    assert first["id"] != second["id"]
    records = read_partition(hub.bootstrap, topic, 0)
    assert [r.value for r in records] == [b"no cloudevents headers at all", b"again"]
    assert [r.header("ce_id") for r in records] == [first["id"].encode(), second["id"].encode()]
    assert header_names(records[0]) == ["ce_id"], records[0].headers  # no content-type was sent


def test_partitionkey_becomes_the_record_key(hub, api):
    topic = unique("keyed")
    api.create_topic(topic, partitions=5)
    for key in ("user-42", "foobar", "order/7"):
        answer = post_event(api, topic, key.encode(), {"ce-partitionkey": key, "ce-id": "id-" + key})
        expected = kafka_partition(key.encode(), 5)
        assert answer["partition"] == expected, (key, answer)
        record = read_one(hub.bootstrap, topic, expected, answer["offset"])
        assert record.key == key.encode() and record.value == key.encode()
        assert record.header("ce_partitionkey") == key.encode()
    # Percent-encoded keys are decoded before hashing (the HTTP binding encodes non-ASCII).
    answer = post_event(api, topic, b"k", {"ce-partitionkey": "%E6%97%A5%E6%9C%AC"})
    assert answer["partition"] == kafka_partition("日本".encode(), 5)
    assert read_one(hub.bootstrap, topic, answer["partition"], answer["offset"]).key == "日本".encode()


def test_explicit_partition_wins_over_the_key(hub, api):
    topic = unique("explicit")
    api.create_topic(topic, partitions=3)
    natural = kafka_partition(b"foobar", 3)
    chosen = (natural + 1) % 3
    answer = post_event(api, topic, b"v", {"ce-partitionkey": "foobar"}, query=f"?partition={chosen}")
    assert answer["partition"] == chosen
    assert read_one(hub.bootstrap, topic, chosen, answer["offset"]).key == b"foobar"


def test_keyless_events_go_round_robin(hub, api):
    topic = unique("rr")
    api.create_topic(topic, partitions=3)
    singles = [post_event(api, topic, b"s%d" % n)["partition"] for n in range(6)]
    for previous, current in zip(singles, singles[1:]):
        assert current == (previous + 1) % 3, singles
    batch = [structured(data=n) for n in range(6)]
    answer = api.post(f"/topics/{topic}/events", body=json.dumps(batch), headers=BATCH).json()
    partitions = [e["partition"] for e in answer["events"]]
    assert sorted(partitions.count(p) for p in range(3)) == [2, 2, 2], partitions
    assert api.end_offsets(topic) == [4, 4, 4]


# --------------------------------------------------------------------------
# Events: structured mode
# --------------------------------------------------------------------------


def test_structured_mode_keeps_data_byte_for_byte(hub, api):
    topic = unique("structured")
    api.create_topic(topic, partitions=3)
    data = b'{"price": 1.50, "qty":3 ,"ratio":1e-7,"name":"caf\\u00e9","big":12345678901234567890,"nested":[1, 2.0, {"x":null}]}'
    body = (b'{"specversion":"1.0","id":"evt-s-1","source":"/orders","type":"order.created",'
            b'"time":"2026-01-31T12:00:00Z","subject":"o-1","partitionkey":"order-7",'
            b'"traceparent":"00-abc","sequence":5,"urgent":true,"nothing":null,\n  "data" : ' + data + b' }')
    answer = post_event(api, topic, body, {"Content-Type": "application/cloudevents+json; charset=UTF-8"})
    partition = kafka_partition(b"order-7", 3)
    assert answer == {"id": "evt-s-1", "partition": partition, "offset": 0}
    record = read_one(hub.bootstrap, topic, partition, 0)
    assert record.value == data
    assert record.key == b"order-7"
    assert record.header_dict == {
        "ce_specversion": b"1.0", "ce_id": b"evt-s-1", "ce_source": b"/orders", "ce_type": b"order.created",
        "ce_time": b"2026-01-31T12:00:00Z", "ce_subject": b"o-1", "ce_partitionkey": b"order-7",
        "ce_traceparent": b"00-abc", "ce_sequence": b"5", "ce_urgent": b"true",
        "content-type": b"application/json",
    }, record.headers


def test_structured_mode_data_base64_and_text(hub, api):
    topic = unique("structured2")
    api.create_topic(topic, partitions=1)
    blob = bytes(range(256))
    events = [
        (structured(id="png", datacontenttype="image/png", data_base64=base64.b64encode(blob).decode()),
         blob, b"image/png"),
        (structured(id="raw", data_base64=base64.b64encode(b"\x00\x01\x02").decode()),
         b"\x00\x01\x02", b"application/octet-stream"),
        (structured(id="text", datacontenttype="text/plain", data='line1\nline2 "quoted" café 😀'),
         'line1\nline2 "quoted" café 😀'.encode(), b"text/plain"),
        (structured(id="xml", datacontenttype="application/xml", data="<a>1</a>"), b"<a>1</a>", b"application/xml"),
        (structured(id="jsonstr", datacontenttype="application/vnd.acme+json", data="hello"), b'"hello"',
         b"application/vnd.acme+json"),
        (structured(id="scalar", data=1.5), b"1.5", b"application/json"),
    ]
    offsets = []
    for event, _, _ in events:
        answer = post_event(api, topic, json.dumps(event, ensure_ascii=False).encode(), STRUCTURED)
        assert answer["id"] == event["id"]
        offsets.append(answer["offset"])
    records = {r.offset: r for r in read_partition(hub.bootstrap, topic, 0)}
    for (event, value, content_type), offset in zip(events, offsets):
        record = records[offset]
        assert record.value == value, (event["id"], record.value)
        assert record.header("content-type") == content_type, (event["id"], record.headers)
        assert record.header("ce_id") == event["id"].encode()
        names = header_names(record)
        assert "ce_data" not in names and "ce_data_base64" not in names and "ce_datacontenttype" not in names, names


# --------------------------------------------------------------------------
# Events: batch mode
# --------------------------------------------------------------------------


def test_batch_mode_round_trip(hub, api):
    topic = unique("batch")
    api.create_topic(topic, partitions=3)
    events = [
        structured(id="b-0", partitionkey="alpha", data={"n": 1.50}),
        structured(id="b-1", data="plain", datacontenttype="text/plain"),
        structured(id="b-2", partitionkey="beta", data_base64=base64.b64encode(b"\x00\xff").decode()),
        structured(id="b-3", type="other.type", data=[1, 2, 3]),
        structured(id="b-4", partitionkey="alpha", data={"x": 1}),
    ]
    body = b"[" + b",".join(json.dumps(e).encode() for e in events) + b"]"
    resp = api.post(f"/topics/{topic}/events", body=body, headers=BATCH)
    assert resp.status == 201, resp
    answer = resp.json()
    assert list(answer) == ["events"] and [e["id"] for e in answer["events"]] == [e["id"] for e in events]
    for event, placed in zip(events, answer["events"]):
        if "partitionkey" in event:
            assert placed["partition"] == kafka_partition(event["partitionkey"].encode(), 3), placed
    # Two events with key alpha: same partition, in request order.
    assert answer["events"][4]["offset"] > answer["events"][0]["offset"]
    expected_values = [b'{"n": 1.5}', b"plain", b"\x00\xff", b"[1, 2, 3]", b'{"x": 1}']
    for event, placed, value in zip(events, answer["events"], expected_values):
        record = read_one(hub.bootstrap, topic, placed["partition"], placed["offset"])
        assert record.value == value, (event["id"], record.value)
        assert record.header("ce_id") == event["id"].encode()
        assert record.header("ce_type") == event["type"].encode()
        assert record.key == (event["partitionkey"].encode() if "partitionkey" in event else None)
    assert sum(api.end_offsets(topic)) == 5


def test_batch_to_an_explicit_partition_keeps_order(hub, api):
    topic = unique("batchp")
    api.create_topic(topic, partitions=3)
    events = [structured(id=f"o-{n}", partitionkey=f"k{n}", data=n) for n in range(10)]
    answer = api.post(f"/topics/{topic}/events?partition=1", body=json.dumps(events), headers=BATCH).json()
    assert [(e["partition"], e["offset"]) for e in answer["events"]] == [(1, n) for n in range(10)]
    records = read_partition(hub.bootstrap, topic, 1)
    assert [r.header("ce_id") for r in records] == [f"o-{n}".encode() for n in range(10)]
    assert [r.value for r in records] == [str(n).encode() for n in range(10)]


def test_batch_of_large_events_within_the_request_limit(hub, api):
    topic = unique("bigbatch")
    api.create_topic(topic, partitions=1)
    sizes = [900_000, 1_000_000, 700_000, 900_000, 999_000, 50]
    events = [structured(id=f"big-{n}", datacontenttype="text/plain", data=chr(ord("a") + n) * size)
              for n, size in enumerate(sizes)]
    resp = api.post(f"/topics/{topic}/events", body=json.dumps(events), headers=BATCH)
    assert resp.status == 201, resp
    assert [e["offset"] for e in resp.json()["events"]] == list(range(6))
    records = read_partition(hub.bootstrap, topic, 0)
    assert [len(r.value) for r in records] == sizes
    assert all(r.value == chr(ord("a") + n).encode() * sizes[n] for n, r in enumerate(records))


# --------------------------------------------------------------------------
# Events: bad input and size limits
# --------------------------------------------------------------------------


def test_event_errors(api):
    topic = unique("bad-events")
    api.create_topic(topic, partitions=3)

    def bad(body, headers=None, query="", status=400, code=None):
        return assert_error(api.post(f"/topics/{topic}/events{query}", body=body, headers=headers or {}), status, code)

    for query in ("?partition=3", "?partition=-1", "?partition=abc", "?partition="):
        bad(b"x", query=query)
    for missing in ("specversion", "id", "source", "type"):
        event = structured(data=1)
        del event[missing]
        error = bad(json.dumps(event), STRUCTURED, code="invalid_cloudevent")
        assert missing in error["message"], error
    bad(json.dumps(structured(specversion="0.3")), STRUCTURED, code="invalid_cloudevent")
    bad(json.dumps(structured(data=1, data_base64="AA==")), STRUCTURED, code="invalid_cloudevent")
    bad(json.dumps(structured(data_base64="!!not base64!!")), STRUCTURED, code="invalid_cloudevent")
    bad(b'{"specversion":"1.0","id":"a","id":"b","source":"/s","type":"t"}', STRUCTURED, code="invalid_cloudevent")
    bad(json.dumps(structured(subject={"nested": True})), STRUCTURED, code="invalid_cloudevent")
    bad(json.dumps(structured(Subject="upper-case name")), STRUCTURED, code="invalid_cloudevent")
    bad(b"not json", STRUCTURED, code="invalid_cloudevent")
    bad(b"[]", STRUCTURED, code="invalid_cloudevent")
    bad(json.dumps(structured()).encode() + b" trailing", STRUCTURED, code="invalid_cloudevent")
    bad(b'{"specversion":"1.0","id":"\xff","source":"/s","type":"t"}', STRUCTURED, code="invalid_cloudevent")
    bad(b"", STRUCTURED, code="invalid_cloudevent")
    bad(json.dumps(structured()), BATCH, code="invalid_cloudevent")  # an object, not an array
    bad(b"[]", BATCH, code="invalid_cloudevent")
    bad(b"[1, 2]", BATCH, code="invalid_cloudevent")
    error = bad(json.dumps([structured(), {"specversion": "1.0", "source": "/s", "type": "t"}]), BATCH,
                code="invalid_cloudevent")
    assert "1" in error["message"] and "id" in error["message"], error  # says which event
    bad(b'[{"specversion":"1.0","id":"\xc3\x28","source":"/s","type":"t"}]', BATCH, code="invalid_cloudevent")
    bad(b"x", {"ce-specversion": "0.3"}, code="invalid_cloudevent")
    bad(b"x", {"ce-foo_bar": "1"}, code="invalid_cloudevent")
    assert_error(api.post("/topics/__subscriptions/events", body=b"x"), 403, "forbidden")
    assert_error(api.post("/topics/bad*name/events", body=b"x"), 400)
    # Nothing above was appended.
    assert api.end_offsets(topic) == [0, 0, 0]


def test_event_over_one_mib_is_413(api):
    topic = unique("toolarge")
    api.create_topic(topic, partitions=1)
    assert_error(api.post(f"/topics/{topic}/events", body=b"x" * (MIB + 1)), 413, "event_too_large")
    big = base64.b64encode(b"\x01" * (MIB + 1)).decode()
    assert_error(api.post(f"/topics/{topic}/events", body=json.dumps(structured(data_base64=big)), headers=STRUCTURED),
                 413, "event_too_large")
    batch = [structured(data="small"), structured(datacontenttype="text/plain", data="y" * (MIB + 1))]
    error = assert_error(api.post(f"/topics/{topic}/events", body=json.dumps(batch), headers=BATCH), 413,
                         "event_too_large")
    assert "1" in error["message"], error  # names the event
    assert api.end_offsets(topic) == [0], "a refused batch appended some of its events"


def test_event_size_limit_follows_max_message_bytes(hub, api):
    """An event is stored when it fits in one record batch under the topic's max.message.bytes
    (Kafka's default 1048588), and never above 1 MiB of data (server owner's decision, see
    docs/http-api.md: with the default, exactly 1 MiB of data plus headers does not fit)."""
    topic = unique("onemib")
    api.create_topic(topic, partitions=1)
    headers = {"Content-Type": "application/octet-stream", "ce-type": "big", "ce-source": "/size"}
    fits = bytes(range(256)) * ((MIB - 1024) // 256)
    answer = post_event(api, topic, fits, {**headers, "ce-id": "fits"})
    assert answer == {"id": "fits", "partition": 0, "offset": 0}
    assert read_one(hub.bootstrap, topic, 0, 0).value == fits
    exactly = bytes(range(256)) * (MIB // 256)
    assert_error(api.post(f"/topics/{topic}/events", body=exactly, headers=headers), 413, "event_too_large")
    assert api.end_offsets(topic) == [1]

    roomy = unique("twomib")
    api.create_topic(roomy, partitions=1, config={"max.message.bytes": "2097152"})
    answer = post_event(api, roomy, exactly, {**headers, "ce-id": "one-mib"})
    assert answer == {"id": "one-mib", "partition": 0, "offset": 0}
    assert read_one(hub.bootstrap, roomy, 0, 0).value == exactly
    assert_error(api.post(f"/topics/{roomy}/events", body=exactly + b"!", headers=headers), 413, "event_too_large")
    assert api.end_offsets(roomy) == [1]


def test_request_over_ten_mib_is_413(api):
    topic = unique("huge")
    api.create_topic(topic, partitions=1)
    events = [structured(datacontenttype="text/plain", data="z" * 900_000) for _ in range(12)]  # ~10.8 MB
    body = json.dumps(events).encode()
    assert len(body) > 10 * MIB
    assert_error(api.post(f"/topics/{topic}/events", body=body, headers=BATCH), 413, "payload_too_large")

    # The same without a Content-Length (chunked): refused while reading, not after buffering it all.
    import http.client
    connection = http.client.HTTPConnection(api.host, api.port, timeout=30)
    try:
        connection.putrequest("POST", f"/topics/{topic}/events")
        connection.putheader("Content-Type", BATCH["Content-Type"])
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        try:
            for offset in range(0, len(body), 256 * 1024):
                chunk = body[offset:offset + 256 * 1024]
                connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the body is all sent
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    from test_http_common import Resp
    assert_error(Resp(response.status, {k.lower(): v for k, v in response.getheaders()}, data), 413, "payload_too_large")
    assert api.end_offsets(topic) == [0]

    # JSON routes take at most 1 MiB.
    assert_error(api.post("/topics", body=b'{"name":"x"}' + b" " * MIB), 413, "payload_too_large")
    assert_error(api.post(f"/topics/{topic}/subscribe", body=b'{"url":"http://a.invalid/"}' + b" " * MIB), 413)


# --------------------------------------------------------------------------
# Kafka's default partitioner
# --------------------------------------------------------------------------

# From Kafka's own tests (UtilsTest.testMurmur2).
KAFKA_MURMUR2_VECTORS = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


def test_murmur2_matches_kafka_vectors():
    for text, expected in KAFKA_MURMUR2_VECTORS.items():
        assert murmur2(text.encode()) == expected, text
    # And kafka-python's independent implementation agrees on other keys (unsigned there).
    from kafka.partitioner.default import murmur2 as kp_murmur2
    for key in (b"", b"a", b"ab", b"abcd", b"abcde", "日本語キー".encode(), bytes(range(200))):
        assert murmur2(key) & 0xFFFFFFFF == kp_murmur2(key) & 0xFFFFFFFF, key


def test_partitioner_agrees_with_kafka_default(hub, api):
    partitions = 7
    topic = unique("murmur")
    api.create_topic(topic, partitions=partitions)
    ascii_keys = list(KAFKA_MURMUR2_VECTORS) + [f"user-{n}" for n in range(20)]
    unicode_keys = ["ключ", "日本語キー", "emoji-😀", "ä", "x" * 300]
    expected = {k: kafka_partition(k.encode(), partitions) for k in ascii_keys + unicode_keys}
    assert len(set(expected.values())) == partitions, "the keys should cover every partition"
    placed = {}
    for key in ascii_keys:  # binary mode, one request each
        placed[key] = post_event(api, topic, key.encode(), {"ce-partitionkey": key, "ce-id": key})
    batch = [structured(id=f"u{n}", partitionkey=key, datacontenttype="text/plain", data=key)
             for n, key in enumerate(unicode_keys)]
    answer = api.post(f"/topics/{topic}/events", body=json.dumps(batch), headers=BATCH).json()
    placed.update(zip(unicode_keys, answer["events"]))
    wrong = {k: (placed[k]["partition"], expected[k]) for k in expected if placed[k]["partition"] != expected[k]}
    assert not wrong, f"key: (API partition, Kafka's) {wrong}"

    # What a Kafka client reads back: each key in its partition at the reported offset.
    for partition in range(partitions):
        for record in read_partition(hub.bootstrap, topic, partition):
            key = record.key.decode()
            assert expected[key] == partition and placed[key]["offset"] == record.offset, (key, partition)
            assert record.value == key.encode()

    # librdkafka's murmur2 partitioner (Java-compatible) picks the same partitions.
    delivered = {}
    producer = Producer({"bootstrap.servers": hub.bootstrap, "partitioner": "murmur2", "enable.idempotence": False})
    for key in expected:
        producer.produce(topic, key=key.encode(), value=b"librdkafka",
                         on_delivery=lambda err, msg: delivered.__setitem__(msg.key().decode(), (err, msg.partition())))
    assert producer.flush(20) == 0
    assert {k: v for k, v in delivered.items()} == {k: (None, p) for k, p in expected.items()}


# --------------------------------------------------------------------------
# Idempotency-Key
# --------------------------------------------------------------------------


def test_idempotency_key_appends_once(hub, api):
    topic = unique("idem")
    api.create_topic(topic, partitions=3)
    key = {"Idempotency-Key": "order-7-" + uuid.uuid4().hex}
    headers = {**key, "ce-type": "order.paid", "Content-Type": "application/json"}
    first = api.post(f"/topics/{topic}/events?partition=1", body=b'{"a":1}', headers=headers)
    assert first.status == 201, first
    assert first.headers.get("idempotent-replayed") in (None, "false"), first.headers
    ends = api.end_offsets(topic)
    for _ in range(2):
        again = api.post(f"/topics/{topic}/events?partition=1", body=b'{"a":1}', headers=headers)
        assert again.status == 201, again
        assert again.body == first.body
        assert again.headers.get("idempotent-replayed") == "true", again.headers
    assert api.end_offsets(topic) == ends
    assert [r.value for r in read_partition(hub.bootstrap, topic, 1)] == [b'{"a":1}']

    # The same key for anything else is a conflict, and appends nothing.
    for body, query, extra in (
        (b'{"a":2}', "?partition=1", {}),
        (b'{"a":1}', "?partition=2", {}),
        (b'{"a":1}', "?partition=1", {"ce-type": "order.refunded"}),
        (b'{"a":1}', "?partition=1", {"Content-Type": "text/plain"}),
    ):
        resp = api.post(f"/topics/{topic}/events{query}", body=body, headers={**headers, **extra})
        assert_error(resp, 409, "idempotency_key_reused")
    assert api.end_offsets(topic) == ends

    # Keys are per topic.
    other = unique("idem-other")
    api.create_topic(other, partitions=3)
    elsewhere = api.post(f"/topics/{other}/events?partition=1", body=b'{"a":1}', headers=headers)
    assert elsewhere.status == 201 and "idempotent-replayed" not in elsewhere.headers, elsewhere
    assert api.end_offsets(other) == [0, 1, 0]


def test_idempotency_key_on_a_batch(hub, api):
    topic = unique("idem-batch")
    api.create_topic(topic, partitions=3)
    events = [structured(id=f"ib-{n}", partitionkey=f"k{n}", data=n) for n in range(4)]
    headers = {**BATCH, "Idempotency-Key": uuid.uuid4().hex}
    first = api.post(f"/topics/{topic}/events", body=json.dumps(events), headers=headers)
    assert first.status == 201, first
    again = api.post(f"/topics/{topic}/events", body=json.dumps(events), headers=headers)
    assert (again.status, again.body, again.headers.get("idempotent-replayed")) == (201, first.body, "true")
    assert sum(api.end_offsets(topic)) == 4


def test_idempotency_key_limits_and_failed_requests(api):
    topic = unique("idem-limits")
    api.create_topic(topic, partitions=1)
    assert_error(api.post(f"/topics/{topic}/events", body=b"x", headers={"Idempotency-Key": "k" * 256}), 400)
    assert api.post(f"/topics/{topic}/events", body=b"x", headers={"Idempotency-Key": "k" * 255}).status == 201
    # A request refused for bad input does not use up its key.
    key = {"Idempotency-Key": uuid.uuid4().hex}
    assert_error(api.post(f"/topics/{topic}/events?partition=5", body=b"y", headers=key), 400)
    resp = api.post(f"/topics/{topic}/events", body=b"y", headers=key)
    assert resp.status == 201 and "idempotent-replayed" not in resp.headers, resp
    assert api.end_offsets(topic) == [2]


# --------------------------------------------------------------------------
# Subscriptions
# --------------------------------------------------------------------------

SECRET = re.compile(r"^whsec_([A-Za-z0-9+/]+={0,2})$")


def assert_secret(secret: str):
    match = SECRET.match(secret or "")
    assert match, f"not a whsec_ secret: {secret!r}"
    assert 24 <= len(base64.b64decode(match.group(1))) <= 64, secret


def cursors(view: dict) -> list:
    assert [p["partition"] for p in view["partitions"]] == list(range(len(view["partitions"]))), view
    for p in view["partitions"]:
        assert p["lag"] == p["endOffset"] - p["cursor"], p
    assert view["lag"] == sum(p["lag"] for p in view["partitions"]), view
    return [p["cursor"] for p in view["partitions"]]


def without(view: dict, *fields) -> dict:
    return {k: v for k, v in view.items() if k not in fields}


def test_subscribe_defaults(api):
    topic = unique("sub-defaults")
    api.create_topic(topic, partitions=2)
    post_event(api, topic, b"before", query="?partition=0")
    sub = api.subscribe(topic, {"url": INVALID_URL})
    assert isinstance(sub["id"], str) and sub["id"]
    assert_secret(sub["secret"])
    assert sub["topic"] == topic and sub["url"] == INVALID_URL
    assert (sub["eventTypes"], sub["ordering"], sub["maxInFlight"], sub["state"], sub["headers"]) == (
        [], "none", 16, "active", {})
    assert datetime.fromisoformat(sub["createdAt"].replace("Z", "+00:00"))
    assert cursors(sub) == [1, 0] and sub["lag"] == 0  # latest
    again = api.subscribe(topic, {"url": INVALID_URL})
    assert again["id"] != sub["id"] and again["secret"] != sub["secret"]
    delivery = ("counts", "lastError")
    assert without(api.subscription(sub["id"]), *delivery) == without(sub, *delivery)


def test_subscribe_with_every_field(api):
    topic = unique("sub-full")
    api.create_topic(topic, partitions=1)
    secret = "whsec_" + base64.b64encode(bytes(range(32))).decode()
    body = {
        "url": "https://hooks.example.invalid/orders?tenant=7", "eventTypes": ["order.created", "order.paid"],
        "ordering": "key", "maxInFlight": 4, "retrySchedule": ["5s", "1m", "2h"], "startFrom": "earliest",
        "secret": secret, "headers": {"X-Team": "payments", "Authorization": "Bearer downstream"},
        "description": "orders to the billing service",
    }
    sub = api.subscribe(topic, body)
    for field in ("url", "eventTypes", "ordering", "maxInFlight", "retrySchedule", "secret", "headers", "description"):
        assert sub[field] == body[field], (field, sub[field])
    # The schedule may also be a comma-separated string.
    sub2 = api.subscribe(topic, {"url": INVALID_URL, "retrySchedule": "200ms, 5s,1d", "ordering": "strict"})
    assert sub2["retrySchedule"] == ["200ms", "5s", "1d"] and sub2["ordering"] == "strict"


def test_subscribe_errors(api):
    topic = unique("sub-errors")
    api.create_topic(topic, partitions=2)

    def bad(body, code=None, status=400):
        if isinstance(body, dict):
            resp = api.post(f"/topics/{topic}/subscribe", body)
        else:
            resp = api.post(f"/topics/{topic}/subscribe", body=body, headers={"Content-Type": "application/json"})
        return assert_error(resp, status, code)

    ok = {"url": INVALID_URL}
    bad({}, "invalid_json")
    bad({"url": 5}, "invalid_json")
    bad({"url": "ftp://files.example.invalid/x"})
    bad({"url": "not a url"})
    bad({"url": "/relative/path"})
    bad({"url": "http://user:pass@hooks.example.invalid/"})
    bad({"url": "http://"})
    bad({"url": "https://hooks.example.invalid/" + "a" * 10000})  # far beyond any sane URL length
    bad({**ok, "eventTypes": "order.created"}, "invalid_json")
    bad({**ok, "eventTypes": [""]})
    bad({**ok, "eventTypes": [1]}, "invalid_json")
    bad({**ok, "ordering": "bogus"}, "invalid_json")
    bad({**ok, "maxInFlight": 0})
    bad({**ok, "maxInFlight": 100000})
    bad({**ok, "maxInFlight": "16"}, "invalid_json")
    bad({**ok, "retrySchedule": ["5x"]})
    bad({**ok, "retrySchedule": []})
    bad({**ok, "retrySchedule": ["30d"]})
    bad({**ok, "startFrom": "yesterday"}, "invalid_json")
    bad({**ok, "startFrom": {"9": 0}})
    bad({**ok, "startFrom": {"0": -1}}, "invalid_json")
    bad({**ok, "startFrom": {"zero": 1}}, "invalid_json")
    bad({**ok, "startFrom": 5}, "invalid_json")
    bad({**ok, "secret": "abc"})
    bad({**ok, "secret": "whsec_" + base64.b64encode(b"short").decode()})
    bad({**ok, "headers": {"Content-Type": "text/plain"}}, "invalid_subscription")
    bad({**ok, "headers": {"webhook-signature": "v1,forged"}}, "invalid_subscription")
    bad({**ok, "headers": {"ce-type": "x"}}, "invalid_subscription")
    bad({**ok, "headers": {"X-A": "a\r\nInjected: yes"}}, "invalid_subscription")
    bad({**ok, "headers": {"bad header": "x"}}, "invalid_subscription")
    bad({**ok, "headers": ["X-A"]}, "invalid_json")
    bad({**ok, "description": "d" * 2000}, "invalid_subscription")
    bad(b"[]", "invalid_json")
    bad(b'{"url":', "invalid_json")
    bad(b'{"url":"https://hooks.example.invalid/\xff"}', "invalid_json")
    assert_error(api.post("/topics/__cursors/subscribe", ok), 403, "forbidden")
    assert api.get(f"/subscriptions?topic={topic}").json()["subscriptions"] == []


def test_start_positions(api):
    topic = unique("start")
    api.create_topic(topic, partitions=3)
    for _ in range(3):
        post_event(api, topic, b"early", query="?partition=0")
    for _ in range(2):
        post_event(api, topic, b"early", query="?partition=1")
    time.sleep(0.05)
    middle = now_ms()
    time.sleep(0.05)
    for _ in range(2):
        post_event(api, topic, b"late", query="?partition=0")
    post_event(api, topic, b"late", query="?partition=1")
    assert api.end_offsets(topic) == [5, 3, 0]

    def start(start_from):
        sub = api.subscribe(topic, {"url": INVALID_URL, "startFrom": start_from})
        assert api.subscription(sub["id"])["partitions"] == sub["partitions"]
        return cursors(sub)

    assert start("latest") == [5, 3, 0]
    assert start("earliest") == [0, 0, 0]
    assert start(rfc3339_ms(middle)) == [3, 2, 0]
    assert start("2000-01-01T00:00:00Z") == [0, 0, 0]
    assert start("2100-01-01T00:00:00+02:00") == [5, 3, 0]
    assert start({"0": 1, "2": 0}) == [1, 3, 0]  # partitions not named start at latest
    assert start({"0": 4, "1": 0, "2": 0}) == [4, 0, 0]


def test_replay(api):
    topic = unique("replay")
    api.create_topic(topic, partitions=3)
    for n in range(4):
        post_event(api, topic, b"e", query="?partition=0")
    post_event(api, topic, b"e", query="?partition=1")
    time.sleep(0.05)
    middle = now_ms()
    time.sleep(0.05)
    post_event(api, topic, b"late", query="?partition=0")
    post_event(api, topic, b"late", query="?partition=1")
    assert api.end_offsets(topic) == [5, 2, 0]
    sub = api.subscribe(topic, {"url": INVALID_URL})
    assert cursors(sub) == [5, 2, 0]
    path = f"/subscriptions/{sub['id']}/replay"

    def replay(body):
        resp = api.post(path, body)
        assert resp.status == 200, (body, resp)
        view = resp.json()
        assert view["id"] == sub["id"]
        assert cursors(api.subscription(sub["id"])) == cursors(view)
        return cursors(view)

    assert replay({"fromOffset": 1}) == [1, 1, 0]
    assert replay({"fromOffsets": {"1": 0}}) == [1, 0, 0]  # partitions not named keep their cursors
    assert replay({"fromOffsets": {"0": 3, "2": 0}}) == [3, 0, 0]
    assert replay({"fromTime": rfc3339_ms(middle)}) == [4, 1, 0]
    assert replay({"fromOffset": 0}) == [0, 0, 0]
    assert replay({"fromTime": "2100-01-01T00:00:00Z"}) == [5, 2, 0]

    for body, code in (
        ({}, None), ({"fromOffset": 1, "fromTime": "2020-01-01T00:00:00Z"}, None), ({"fromOffset": -1}, None),
        ({"fromOffset": "1"}, "invalid_json"), ({"fromOffsets": {"x": 1}}, None), ({"fromOffsets": {"7": 0}}, None),
        ({"fromOffsets": [1]}, "invalid_json"), ({"fromTime": "last tuesday"}, None),
    ):
        assert_error(api.post(path, body), 400, code)
    assert cursors(api.subscription(sub["id"])) == [5, 2, 0], "a refused replay moved the cursors"
    assert_error(api.post("/subscriptions/sub_doesnotexist/replay", {"fromOffset": 0}), 404)


def test_patch_subscription(api):
    topic = unique("patch")
    api.create_topic(topic, partitions=1)
    sub = api.subscribe(topic, {"url": INVALID_URL, "eventTypes": ["a"]})
    path = f"/subscriptions/{sub['id']}"

    paused = api.patch(path, {"state": "paused"})
    assert paused.status == 200 and paused.json()["state"] == "paused", paused
    assert api.subscription(sub["id"])["state"] == "paused"
    resumed = api.patch(path, {"state": "active"}).json()
    assert resumed["state"] == "active"

    rotated = api.patch(path, {"rotateSecret": True})
    assert rotated.status == 200, rotated
    new_secret = rotated.json()["secret"]
    assert_secret(new_secret)
    assert new_secret != sub["secret"]
    assert api.subscription(sub["id"])["secret"] == new_secret
    chosen = "whsec_" + base64.b64encode(b"\x07" * 48).decode()
    assert api.patch(path, {"secret": chosen}).json()["secret"] == chosen

    change = {"url": "https://other.example.invalid/hook", "eventTypes": ["b", "c"], "ordering": "strict",
              "maxInFlight": 32, "retrySchedule": ["1s", "2s"], "headers": {"X-Env": "test"},
              "description": "changed"}
    view = api.patch(path, change).json()
    for field, value in change.items():
        assert view[field] == value, (field, view[field])
    stored = api.subscription(sub["id"])
    for field, value in change.items():
        assert stored[field] == value, (field, stored[field])
    assert stored["createdAt"] == sub["createdAt"] and stored["updatedAt"] >= sub["updatedAt"]

    before = api.subscription(sub["id"])
    for body, code in (
        ({"state": "disabled"}, None), ({"state": "failing"}, None), ({"state": "bogus"}, "invalid_json"),
        ({"maxInFlight": 0}, None), ({"maxInFlight": "8"}, "invalid_json"), ({"url": "ftp://x.invalid/"}, None),
        ({"rotateSecret": True, "secret": chosen}, None), ({"secret": "whsec_tooshort"}, None),
        ({"headers": {"Host": "evil"}}, None), ({"rotateSecret": "yes"}, "invalid_json"),
        ({"retrySchedule": ["soon"]}, None), ({"eventTypes": "b"}, "invalid_json"), ({"ordering": "random"}, "invalid_json"),
    ):
        assert_error(api.patch(path, body), 400, code)
    assert api.subscription(sub["id"]) == before, "a refused PATCH changed the subscription"
    assert_error(api.patch("/subscriptions/sub_doesnotexist", {"state": "paused"}), 404)
    assert_error(api.patch(path, body=b"{", headers={"Content-Type": "application/json"}), 400, "invalid_json")


def test_list_and_filter_subscriptions(api):
    a, b = unique("list-a"), unique("list-b")
    api.create_topic(a, partitions=1)
    api.create_topic(b, partitions=1)
    on_a = {api.subscribe(a, {"url": INVALID_URL})["id"], api.subscribe(a, {"url": INVALID_URL + "/2"})["id"]}
    on_b = {api.subscribe(b, {"url": INVALID_URL})["id"]}
    listed_a = api.get(f"/subscriptions?topic={a}").json()["subscriptions"]
    assert {s["id"] for s in listed_a} == on_a and all(s["topic"] == a for s in listed_a)
    assert {s["id"] for s in api.get(f"/subscriptions?topic={b}").json()["subscriptions"]} == on_b
    everything = api.get("/subscriptions").json()["subscriptions"]
    assert on_a | on_b <= {s["id"] for s in everything}
    assert all("secret" not in s for s in everything), "a list shows secrets"
    assert api.get(f"/subscriptions?topic={unique('none')}").json() == {"subscriptions": []}


def test_unsubscribe(api):
    topic, other = unique("unsub"), unique("unsub-other")
    api.create_topic(topic, partitions=1)
    api.create_topic(other, partitions=1)
    by_id = api.subscribe(topic, {"url": INVALID_URL + "/id"})
    shared_url = "https://shared.example.invalid/hook"
    twins = {api.subscribe(topic, {"url": shared_url})["id"] for _ in range(2)}
    elsewhere = api.subscribe(other, {"url": shared_url})

    resp = api.post(f"/topics/{topic}/unsubscribe", {"id": by_id["id"]})
    assert resp.status == 200 and resp.json() == {"deleted": [by_id["id"]]}, resp
    assert_error(api.get(f"/subscriptions/{by_id['id']}"), 404)
    resp = api.post(f"/topics/{topic}/unsubscribe", {"url": shared_url})
    assert resp.status == 200 and set(resp.json()["deleted"]) == twins, resp
    assert api.subscription(elsewhere["id"])["url"] == shared_url, "unsubscribe by url crossed topics"
    assert api.get(f"/subscriptions?topic={topic}").json()["subscriptions"] == []

    assert_error(api.post(f"/topics/{topic}/unsubscribe", {"url": shared_url}), 404)
    assert_error(api.post(f"/topics/{topic}/unsubscribe", {"id": elsewhere["id"]}), 404)
    assert_error(api.post(f"/topics/{topic}/unsubscribe", {"id": elsewhere["id"], "url": shared_url}), 400)
    assert_error(api.post(f"/topics/{topic}/unsubscribe", {}), 400)
    assert_error(api.post(f"/topics/{topic}/unsubscribe", {"id": 5}), 400, "invalid_json")
    assert api.subscription(elsewhere["id"])["id"] == elsewhere["id"]


def test_delete_subscription(api):
    topic = unique("delete-sub")
    api.create_topic(topic, partitions=1)
    sub = api.subscribe(topic, {"url": INVALID_URL})
    resp = api.delete(f"/subscriptions/{sub['id']}")
    assert resp.status == 204 and resp.body == b"", resp
    assert_error(api.get(f"/subscriptions/{sub['id']}"), 404)
    assert_error(api.delete(f"/subscriptions/{sub['id']}"), 404)
    assert sub["id"] not in {s["id"] for s in api.get("/subscriptions").json()["subscriptions"]}


class Receiver:
    """A local webhook receiver: /ok answers 204, /fail answers 500; records every request."""

    def __init__(self):
        import http.server
        import threading
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204 if self.path.startswith("/ok") else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dispatching(hooklog_bin, tmp_path):
    server = start_hooklog_server(hooklog_bin, tmp_path, ["--num-partitions", "1", "--callback-allow", "127.0.0.1/32"])
    with served(server):
        yield server


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = predicate()
        if ok:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout} s; last: {last}")


def test_subscription_detail_has_last_error_and_counts(dispatching):
    """Issue 5: GET /subscriptions/{id} shows state, cursor and lag per partition, last error, counts."""
    api = Http(dispatching.http_url)
    receiver = Receiver()
    try:
        topic = unique("detail")
        api.create_topic(topic, partitions=1)
        for n in range(2):
            post_event(api, topic, b'{"n":%d}' % n, {"ce-type": "t", "ce-id": f"d-{n}", "Content-Type": "application/json"})
        ok = api.subscribe(topic, {"url": f"http://127.0.0.1:{receiver.port}/ok", "startFrom": "earliest"})
        fail = api.subscribe(topic, {"url": f"http://127.0.0.1:{receiver.port}/fail", "startFrom": "earliest",
                                     "retrySchedule": ["1s", "1s", "1s"]})

        def delivered():
            view = api.subscription(ok["id"])
            return view.get("counts", {}).get("delivered") == 2 and cursors(view) == [2], view

        view = wait_for(delivered, 10, "both events delivered to /ok")
        assert view["lag"] == 0 and view["state"] == "active"
        assert "lastError" in view and view["lastError"] is None, view
        counts = view["counts"]
        assert all(isinstance(v, int) and v >= 0 for v in counts.values()), counts
        assert {"delivered", "failedAttempts", "deadLettered", "inFlight", "retriesPending"} <= set(counts), counts
        assert counts["failedAttempts"] == 0 and counts["deadLettered"] == 0
        bodies = sorted(body for path, _, body in receiver.received if path == "/ok")
        assert bodies == [b'{"n":0}', b'{"n":1}']

        def failed():
            view = api.subscription(fail["id"])
            return bool(view.get("lastError")) and view.get("counts", {}).get("failedAttempts", 0) >= 1, view

        view = wait_for(failed, 10, "a failed attempt recorded for /fail")
        assert isinstance(view["lastError"], dict) and "500" in view["lastError"]["message"], view["lastError"]
        assert datetime.fromisoformat(view["lastError"]["at"].replace("Z", "+00:00"))
        assert cursors(view) == [0] and view["counts"]["delivered"] == 0
    finally:
        receiver.close()


def test_subscribe_is_not_held_up_by_failing_deliveries(dispatching):
    """Subscribing must stay quick while other subscriptions' deliveries fail (here: names that do not
    resolve, which the Dispatcher keeps looking up)."""
    api = Http(dispatching.http_url)
    topic = unique("busy")
    api.create_topic(topic, partitions=1)
    for n in range(3):
        post_event(api, topic, b"e%d" % n)
    took = []
    for n in range(10):
        started = time.monotonic()
        api.subscribe(topic, {"url": "https://busy.example.invalid/hook", "startFrom": "earliest"})
        took.append(round(time.monotonic() - started, 2))
    assert max(took) < 1.5, f"POST /topics/{{t}}/subscribe took {took} s while deliveries were failing"


# --------------------------------------------------------------------------
# Consumer groups (made with confluent-kafka committing offsets)
# --------------------------------------------------------------------------


def test_groups(hub, api):
    topic = unique("groups")
    api.create_topic(topic, partitions=3)
    for _ in range(5):
        post_event(api, topic, b"g", query="?partition=0")
    for _ in range(2):
        post_event(api, topic, b"g", query="?partition=1")
    group = unique("http-group")
    consumer = Consumer({"bootstrap.servers": hub.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = consumer.commit(offsets=[TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 2)],
                                    asynchronous=False)
        assert all(tp.error is None for tp in committed), committed
    finally:
        consumer.close()

    listed = api.get("/groups").json()["groups"]
    mine = [g for g in listed if g["id"] == group]
    assert len(mine) == 1 and mine[0]["state"] == "Empty", listed
    assert [g["id"] for g in listed] == sorted(g["id"] for g in listed)
    detail = api.get(f"/groups/{group}").json()
    assert detail["id"] == group and detail["state"] == "Empty" and detail["members"] == []
    offsets = [{k: o[k] for k in ("topic", "partition", "committedOffset", "endOffset", "lag")}
               for o in detail["offsets"]]
    assert offsets == [
        {"topic": topic, "partition": 0, "committedOffset": 3, "endOffset": 5, "lag": 2},
        {"topic": topic, "partition": 1, "committedOffset": 2, "endOffset": 2, "lag": 0},
    ]
    assert detail["lag"] == 2
    assert_error(api.get(f"/groups/{unique('nogroup')}"), 404, "not_found")


# --------------------------------------------------------------------------
# Unknown routes
# --------------------------------------------------------------------------


def test_unknown_routes_are_404(api):
    for method, path in (("GET", "/nope"), ("GET", "/topics/a/b/c"), ("POST", "/subscriptions/x/y"),
                         ("GET", "/subscriptions/x/replay/z"), ("DELETE", "/")):
        assert_error(api.request(method, path), 404, "not_found")


def test_wrong_method_on_a_known_path_is_405_with_allow(api):
    for method, path, allowed in (("POST", "/subscriptions", {"GET"}), ("PUT", "/topics", {"GET", "POST"}),
                                  ("GET", "/topics/t/events", {"POST"}),
                                  ("POST", "/subscriptions/sub_x", {"GET", "PATCH", "DELETE"})):
        resp = api.request(method, path)
        assert_error(resp, 405)
        assert {m.strip() for m in resp.headers.get("allow", "").split(",")} == allowed, (method, path, resp.headers)


# --------------------------------------------------------------------------
# Restart: idempotency keys and subscriptions survive it
# --------------------------------------------------------------------------


def test_idempotency_and_subscriptions_survive_restart(hooklog_bin, tmp_path):
    args = ["--num-partitions", "3", "--no-dispatch"]  # cursors move only by the API
    first = start_hooklog_server(hooklog_bin, tmp_path / "a", args)
    servers = [first]
    try:
        api = Http(first.http_url)
        topic = unique("restart")
        api.create_topic(topic, partitions=3)
        for n in range(4):
            post_event(api, topic, b"e%d" % n, query=f"?partition={n % 3}")
        key = {"Idempotency-Key": "restart-" + uuid.uuid4().hex, "ce-type": "t"}
        answer = api.post(f"/topics/{topic}/events", body=b"once", headers=key)
        assert answer.status == 201, answer

        secret = "whsec_" + base64.b64encode(b"\x42" * 32).decode()
        full = api.subscribe(topic, {
            "url": "https://a.example.invalid/hook", "eventTypes": ["t", "u"], "ordering": "key",
            "maxInFlight": 3, "retrySchedule": ["5s", "1m"], "startFrom": "earliest", "secret": secret,
            "headers": {"X-Tenant": "7"}, "description": "survives"})
        replayed = api.subscribe(topic, {"url": "https://b.example.invalid/hook"})
        assert api.post(f"/subscriptions/{replayed['id']}/replay", {"fromOffsets": {"1": 0, "2": 1}}).status == 200
        paused = api.subscribe(topic, {"url": "https://c.example.invalid/hook", "startFrom": {"0": 1}})
        assert api.patch(f"/subscriptions/{paused['id']}", {"state": "paused", "rotateSecret": True}).status == 200
        deleted = api.subscribe(topic, {"url": "https://d.example.invalid/hook"})
        assert api.delete(f"/subscriptions/{deleted['id']}").status == 204
        ids = [full["id"], replayed["id"], paused["id"]]
        before = {i: api.subscription(i) for i in ids}
        listed_before = api.get("/subscriptions").json()
        ends = api.end_offsets(topic)

        first.assert_stops_cleanly()
        second = HooklogServer(hooklog_bin, first.data_dir, tmp_path / "b.log", args)
        servers.append(second)
        api = Http(second.http_url)

        after = {i: api.subscription(i) for i in ids}
        for i in ids:
            assert after[i] == before[i], f"subscription {i} changed across the restart"
        assert before[full["id"]]["secret"] == secret and before[paused["id"]]["state"] == "paused"
        assert cursors(after[replayed["id"]])[1:] == [0, 1]
        assert api.get("/subscriptions").json() == listed_before
        assert_error(api.get(f"/subscriptions/{deleted['id']}"), 404)

        again = api.post(f"/topics/{topic}/events", body=b"once", headers=key)
        assert (again.status, again.body, again.headers.get("idempotent-replayed")) == (201, answer.body, "true")
        assert_error(api.post(f"/topics/{topic}/events", body=b"twice", headers=key), 409, "idempotency_key_reused")
        assert api.end_offsets(topic) == ends
    finally:
        for server in servers:
            if server.returncode is None:
                server.assert_stops_cleanly()
