"""Dispatcher, end to end: what a real receiver on loopback gets — every event, its body and
content type, the CloudEvents `ce-*` headers, the subscription's own headers, `webhook-id`
(= ce_id, stable across retries), the event-type filter, and Standard Webhooks signatures that
the PyPI `standardwebhooks` library verifies (also on retries, during a secret rotation, and for
a record written long before the attempt)."""

from __future__ import annotations

import base64
import json
import os
import time

import pytest

from test_dispatcher_common import (Hub, attempts, module_hubs, produce, timeline, unique,  # noqa: F401
                                    verifies, verify, wait_until)
from webhook_receiver import Receiver, Reply, fail_first

from standardwebhooks.webhooks import Webhook


@pytest.fixture(scope="module")
def hub(module_hubs) -> Hub:
    return module_hubs.start("--retry-schedule", "100ms,200ms", name="delivery")


@pytest.fixture
def receiver():
    r = Receiver(name="receiver")
    yield r
    r.close()


def test_every_event_delivered_with_body_headers_and_filters(hub, receiver):
    topic = unique("orders")
    hub.create_topic(topic, partitions=3)
    everything = hub.subscribe(topic, receiver.url("/all"), headers={"X-Team": "blue", "Authorization": "Bearer abc"})
    created = hub.subscribe(topic, receiver.url("/created"), eventTypes=["order.created"])
    two = hub.subscribe(topic, receiver.url("/two"), eventTypes=["order.created", "order.paid"])

    sent = {}
    for i in range(12):
        ce_type = ["order.created", "order.paid", "user.signed_up"][i % 3]
        body = json.dumps({"n": i, "text": "héllo"}).encode()
        answer = hub.post_event(topic, body, ce_type=ce_type, ce_id=f"evt-{i}", key=f"k{i % 4}",
                                content_type="application/json; charset=utf-8",
                                extra={"ce-subject": f"order/{i}", "ce-time": "2026-01-02T03:04:05Z"})
        sent[f"evt-{i}"] = (ce_type, body, answer)
    # A text event with a type, one without ce-type, and a plain body without any ce-* header.
    hub.post_event(topic, b"plain text", ce_type="order.created", ce_id="evt-text", content_type="text/plain")
    sent["evt-text"] = ("order.created", b"plain text", None)
    hub.post_event(topic, b'{"untyped":true}', ce_id="evt-untyped")
    sent["evt-untyped"] = (None, b'{"untyped":true}', None)
    bare = hub.post_event(topic, b'{"bare":1}', cloud_event=False)
    sent[bare["id"]] = (None, b'{"bare":1}', bare)

    expected = {
        "/all": set(sent),
        "/created": {i for i, (t, _, _) in sent.items() if t == "order.created"},
        "/two": {i for i, (t, _, _) in sent.items() if t in ("order.created", "order.paid")},
    }
    receiver.wait_for(lambda r: all(r.delivered_ids(p) >= ids for p, ids in expected.items()),
                      what="every event at every subscription")
    time.sleep(0.5)  # anything extra (filtered-out events) would arrive by now
    secrets = {"/all": everything["secret"], "/created": created["secret"], "/two": two["secret"]}
    for path, ids in expected.items():
        got = receiver.delivered(path)
        assert {r.webhook_id for r in got} == ids, f"{path}: wrong set of events\n{timeline(receiver, path)}"
        for request in got:
            ce_type, body, _ = sent[request.webhook_id]
            assert request.method == "POST"
            assert request.body == body, f"{path} {request.webhook_id}: body changed"
            verify(secrets[path], request)
            h = request.headers
            if request.webhook_id == bare["id"]:
                # No ce-* headers were posted: the generated ce_id is the webhook-id.
                assert h.get("ce-id") == bare["id"]
                continue
            assert h.get("ce-id") == request.webhook_id, f"ce-id and webhook-id differ: {h}"
            assert h.get("ce-specversion") == "1.0"
            assert h.get("ce-source") == "/tests"
            if ce_type:
                assert h.get("ce-type") == ce_type
            else:
                assert "ce-type" not in h
            if request.webhook_id.startswith("evt-") and request.webhook_id[4:].isdigit():
                n = int(request.webhook_id[4:])
                assert h.get("content-type") == "application/json; charset=utf-8"
                assert h.get("ce-subject") == f"order/{n}"
                assert h.get("ce-time") == "2026-01-02T03:04:05Z"
                assert h.get("ce-partitionkey") == f"k{n % 4}"
            elif request.webhook_id == "evt-text":
                assert h.get("content-type") == "text/plain"
            if path == "/all":
                assert h.get("x-team") == "blue"
                assert h.get("authorization") == "Bearer abc"
            else:
                assert "x-team" not in h
    # Each event exactly once per subscription here (no failures were injected).
    for path in expected:
        ids = [r.webhook_id for r in receiver.snapshot(path)]
        assert len(ids) == len(set(ids)), f"{path}: duplicate deliveries without failures\n{timeline(receiver, path)}"


def test_records_produced_over_kafka_without_headers(hub, receiver):
    """A record with no headers at all: content-type defaults to application/json, the
    webhook-id is derived from topic, partition and offset (stable across a replay), and a
    subscription with an event-type filter does not get it."""
    topic = unique("kafka")
    hub.create_topic(topic, partitions=2)
    sub = hub.subscribe(topic, receiver.url("/all"))
    typed = hub.subscribe(topic, receiver.url("/typed"), eventTypes=["x"])
    produce(hub.bootstrap, topic, [
        {"partition": 0, "value": b'{"a":1}'},
        {"partition": 1, "value": b'{"b":2}', "key": b"k"},
        {"partition": 1, "value": b"typed", "headers": [("ce_type", b"x"), ("ce_id", b"kafka-typed")]},
    ])
    receiver.wait_for(lambda r: len(r.delivered_ids("/all")) == 3, what="3 deliveries")
    receiver.wait_for(lambda r: len(r.delivered_ids("/typed")) == 1, what="the typed delivery")
    time.sleep(0.3)
    got = {r.body: r for r in receiver.delivered("/all")}
    assert set(got) == {b'{"a":1}', b'{"b":2}', b"typed"}
    for body in (b'{"a":1}', b'{"b":2}'):
        request = got[body]
        assert request.headers.get("content-type") == "application/json"
        assert request.webhook_id, "no webhook-id"
        verify(sub["secret"], request)
        assert not any(name.startswith("ce-") for name in request.headers), request.headers
    assert got[b"typed"].webhook_id == "kafka-typed"
    assert [r.body for r in receiver.delivered("/typed")] == [b"typed"]
    ids = {r.body: r.webhook_id for r in receiver.delivered("/all")}
    assert len(set(ids.values())) == 3, f"webhook-ids not distinct: {ids}"
    # The derived ids are stable: a replay sends the same ones.
    hub.replay(sub["id"], {"fromOffset": 0})
    receiver.wait_for(lambda r: len(r.delivered("/all")) == 6, what="the replayed deliveries")
    again = {}
    for request in receiver.delivered("/all")[3:]:
        again[request.body] = request.webhook_id
    assert again == ids, "webhook-id changed on replay"


def test_signature_stable_id_and_fresh_timestamp_on_retries(hub, receiver):
    """Retries keep webhook-id, recompute webhook-timestamp and the signature at each attempt;
    every attempt verifies with the library."""
    receiver.set_responder(fail_first(2, Reply(500, body=b"try later")))
    topic = unique("retry-sig")
    hub.create_topic(topic)
    # Jitter takes up to a fifth off each step: 1300 ms waits at least 1040 ms, so each attempt
    # falls in a later whole second than the one before (webhook-timestamp has 1 s resolution).
    sub = hub.subscribe(topic, receiver.url(), retrySchedule="1300ms,1300ms,1300ms")
    hub.post_event(topic, {"x": 1}, ce_type="t", ce_id="sig-retry-1")
    receiver.wait_for(lambda r: r.delivered_ids() == {"sig-retry-1"}, timeout=15, what="the delivery")
    tries = receiver.snapshot()
    assert [r.attempt_no for r in tries] == [1, 2, 3], timeline(receiver)
    assert [r.status for r in tries] == [500, 500, 204]
    assert {r.webhook_id for r in tries} == {"sig-retry-1"}
    stamps = [int(r.headers["webhook-timestamp"]) for r in tries]
    for request in tries:
        verify(sub["secret"], request)
        assert abs(int(request.headers["webhook-timestamp"]) - request.arrived) <= 2, "timestamp is not the attempt's time"
    assert stamps[0] < stamps[1] < stamps[2], f"webhook-timestamp not recomputed per attempt: {stamps}"
    assert len({r.headers["webhook-signature"] for r in tries}) == 3, "signature not recomputed per attempt"


def test_signature_for_a_record_written_long_before_the_attempt(hub, receiver):
    """A record appended an hour ago (Kafka CreateTime) and delivered now (backfill), and again
    by a replay: webhook-timestamp is the attempt's time, so the library's default 5-minute
    tolerance accepts it."""
    topic = unique("old")
    hub.create_topic(topic)
    hour_ago = int(time.time() * 1000) - 3600_000
    produce(hub.bootstrap, topic, [
        {"partition": 0, "value": b'{"old":true}', "timestamp": hour_ago,
         "headers": [("ce_id", b"old-1"), ("ce_type", b"t"), ("ce_specversion", b"1.0")]},
    ])
    sub = hub.subscribe(topic, receiver.url(), startFrom="earliest")
    receiver.wait_for(lambda r: r.delivered_ids() == {"old-1"}, what="the old record")
    first = receiver.delivered()[0]
    assert abs(int(first.headers["webhook-timestamp"]) - time.time()) < 10
    verify(sub["secret"], first)
    # A receiver that refuses it once: the retry is signed afresh too.
    receiver.set_responder(fail_first(1, Reply(503)))
    hub.replay(sub["id"], {"fromOffset": 0})
    receiver.wait_for(lambda r: len(r.delivered()) == 2, what="the replayed delivery")
    for request in receiver.snapshot():
        verify(sub["secret"], request)
        assert request.webhook_id == "old-1"


def test_signatures_during_a_secret_rotation(hub, receiver):
    """After a rotation both secrets sign (new first), each verifies on its own with the
    library, a third secret does not; a retry that straddles the rotation is signed with both."""
    topic = unique("rotate")
    hub.create_topic(topic)
    old_secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    sub = hub.subscribe(topic, receiver.url(), secret=old_secret, retrySchedule="1500ms")
    assert sub["secret"] == old_secret
    hub.post_event(topic, {"n": 1}, ce_id="rot-1")
    receiver.wait_for(lambda r: "rot-1" in r.delivered_ids(), what="rot-1")
    before = receiver.delivered()[0]
    assert len(before.headers["webhook-signature"].split(" ")) == 1
    verify(old_secret, before)

    # rot-2 fails once before the rotation and is retried after it.
    receiver.set_responder(lambda req: Reply(500) if req.webhook_id == "rot-2" and req.attempt_no == 1 else Reply(204))
    hub.post_event(topic, {"n": 2}, ce_id="rot-2")
    receiver.wait_for(lambda r: any(q.webhook_id == "rot-2" for q in r.snapshot()), what="rot-2's first attempt")
    rotated = hub.patch(sub["id"], {"rotateSecret": True})
    new_secret = rotated.get("secret")
    assert new_secret and new_secret.startswith("whsec_") and new_secret != old_secret, rotated
    hub.post_event(topic, {"n": 3}, ce_id="rot-3")
    receiver.wait_for(lambda r: {"rot-2", "rot-3"} <= r.delivered_ids(), what="rot-2 and rot-3")
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    for request in [q for q in receiver.delivered() if q.webhook_id in ("rot-2", "rot-3")]:
        signatures = request.headers["webhook-signature"].split(" ")
        assert len(signatures) == 2, f"{request.webhook_id}: expected two signatures, got {signatures}"
        assert all(s.startswith("v1,") for s in signatures)
        verify(old_secret, request)
        verify(new_secret, request)
        assert not verifies(other, request), "an unrelated secret verified"
        # New secret first, each signature made with one of the secrets.
        only_new = dict(request.headers, **{"webhook-signature": signatures[0]})
        only_old = dict(request.headers, **{"webhook-signature": signatures[1]})
        Webhook(new_secret).verify(request.body, only_new, json_parse=False)
        Webhook(old_secret).verify(request.body, only_old, json_parse=False)

    # A second rotation: the newest two plus the first (still within its 24 h) all sign.
    third = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    hub.patch(sub["id"], {"secret": third})
    hub.post_event(topic, {"n": 4}, ce_id="rot-4")
    receiver.wait_for(lambda r: "rot-4" in r.delivered_ids(), what="rot-4")
    last = [q for q in receiver.delivered() if q.webhook_id == "rot-4"][0]
    for secret in (third, new_secret, old_secret):
        verify(secret, last)
    assert last.headers["webhook-signature"].count("v1,") == 3


def standard_webhooks_signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks signature over raw bytes (the library only takes UTF-8 text)."""
    import hashlib
    import hmac
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, webhook_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def test_large_and_binary_bodies_arrive_intact(hub, receiver):
    topic = unique("bodies")
    hub.create_topic(topic)
    sub = hub.subscribe(topic, receiver.url())
    big = json.dumps({"blob": "é" * 400_000}, ensure_ascii=False).encode()  # ~800 KB of UTF-8 JSON
    binary = bytes(range(256)) * 64 + os.urandom(4096)
    hub.post_event(topic, big, ce_id="big-json")
    hub.post_event(topic, binary, ce_id="binary", content_type="application/octet-stream")
    hub.post_event(topic, b"", ce_id="empty", content_type="text/plain")
    receiver.wait_for(lambda r: r.delivered_ids() == {"big-json", "binary", "empty"}, what="3 deliveries")
    got = {r.webhook_id: r for r in receiver.delivered()}
    assert got["big-json"].body == big
    verify(sub["secret"], got["big-json"])
    assert got["binary"].body == binary
    assert got["binary"].headers["content-type"] == "application/octet-stream"
    h = got["binary"].headers
    assert h["webhook-signature"] == standard_webhooks_signature(sub["secret"], "binary", h["webhook-timestamp"], binary)
    assert got["empty"].body == b""
    verify(sub["secret"], got["empty"])


def test_fifty_subscriptions_each_get_every_event(hub, receiver):
    topic = unique("fanout")
    hub.create_topic(topic, partitions=3)
    subs = [hub.subscribe(topic, receiver.url(f"/s{i}"), maxInFlight=4) for i in range(50)]
    ids = {hub.post_event(topic, {"i": i}, ce_id=f"fan-{i}", partition=i % 3)["id"] for i in range(20)}
    receiver.wait_for(lambda r: all(r.delivered_ids(f"/s{i}") >= ids for i in range(50)), timeout=30,
                      what="20 events at each of 50 subscriptions")
    for i, sub in enumerate(subs[:5]):
        for request in receiver.delivered(f"/s{i}"):
            verify(sub["secret"], request)
    assert len(receiver.snapshot()) == 1000, f"{len(receiver.snapshot())} requests for 1000 deliveries"


def test_operational_webhooks(hub, receiver):
    """hooklog.operational is an ordinary topic: a subscription to it gets the state changes
    of other subscriptions as CloudEvents."""
    ops = hub.subscribe("hooklog.operational", receiver.url("/ops"), eventTypes=["hooklog.subscription.disabled"])
    topic = unique("ops-source")
    hub.create_topic(topic)
    gone = hub.subscribe(topic, receiver.url("/gone"))
    receiver.set_responder(lambda r: Reply(410) if r.path == "/gone" else Reply(204))
    hub.post_event(topic, {}, ce_id="ops-1")
    hub.wait_state(gone["id"], "disabled")
    receiver.wait_for(lambda r: any(json.loads(q.body).get("subscriptionId") == gone["id"] for q in r.delivered("/ops")),
                      what="the operational webhook")
    request = [q for q in receiver.delivered("/ops") if json.loads(q.body).get("subscriptionId") == gone["id"]][0]
    assert request.headers["ce-type"] == "hooklog.subscription.disabled"
    assert request.headers["ce-subject"] == gone["id"]
    assert request.headers["content-type"].startswith("application/json")
    verify(ops["secret"], request)
    assert json.loads(request.body)["state"] == "disabled"
