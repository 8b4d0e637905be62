"""Dispatcher, end to end: where deliveries start and restart — backfill from `earliest`, a time
or offsets; `latest` sees only new events; replay from an offset, from offsets per partition
and from a time; pause and resume; dead-letter listing and redrive (issue 6's API additions)."""

from __future__ import annotations

import datetime
import time

import pytest

from test_dispatcher_common import Hub, hubs, module_hubs, read_topic, timeline, unique, wait_until  # noqa: F401
from webhook_receiver import Receiver, Reply, always


@pytest.fixture(scope="module")
def hub(module_hubs) -> Hub:
    return module_hubs.start("--retry-schedule", "100ms,100ms", name="replay")


@pytest.fixture
def receiver():
    r = Receiver(name="receiver")
    yield r
    r.close()


def rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def ids_of(requests):
    return [r.webhook_id for r in requests]


def test_backfill_from_earliest_and_latest_sees_only_new_events(hub, receiver):
    topic = unique("backfill")
    hub.create_topic(topic, partitions=3)
    old = [hub.post_event(topic, {"i": i}, ce_id=f"old-{i}", partition=i % 3)["id"] for i in range(30)]
    hub.subscribe(topic, receiver.url("/earliest"), startFrom="earliest")
    hub.subscribe(topic, receiver.url("/latest"))
    hub.subscribe(topic, receiver.url("/default"), startFrom="latest")
    hub.subscribe(topic, receiver.url("/offsets"), startFrom={"0": 8, "2": 9})
    new = [hub.post_event(topic, {"i": i}, ce_id=f"new-{i}", partition=i % 3)["id"] for i in range(6)]
    receiver.wait_for(lambda r: r.delivered_ids("/earliest") == set(old + new), what="the backfill")
    receiver.wait_for(lambda r: r.delivered_ids("/latest") == set(new) and r.delivered_ids("/default") == set(new),
                      what="new events at the latest subscriptions")
    # Partition 0 from offset 8 (old-24, old-27), partition 1 from latest, partition 2 from 9 (old-29).
    expected_offsets = {"old-24", "old-27", "old-29"} | set(new)
    receiver.wait_for(lambda r: r.delivered_ids("/offsets") >= expected_offsets, what="the offsets subscription")
    time.sleep(0.4)
    assert receiver.delivered_ids("/offsets") == expected_offsets
    assert len(receiver.snapshot("/latest")) == len(new), timeline(receiver, "/latest")


def test_start_from_a_time(hub, receiver):
    topic = unique("from-time")
    hub.create_topic(topic, partitions=2)
    for i in range(4):
        hub.post_event(topic, {"i": i}, ce_id=f"before-{i}", partition=i % 2)
    time.sleep(0.3)
    boundary = time.time()
    time.sleep(0.3)
    after = [hub.post_event(topic, {"i": i}, ce_id=f"after-{i}", partition=i % 2)["id"] for i in range(4)]
    hub.subscribe(topic, receiver.url(), startFrom=rfc3339(boundary))
    receiver.wait_for(lambda r: r.delivered_ids() == set(after), what="the events after the start time")
    time.sleep(0.3)
    assert receiver.delivered_ids() == set(after)


def test_replay_from_an_offset_offsets_and_a_time(hub, receiver):
    topic = unique("replay")
    hub.create_topic(topic, partitions=2)
    sub = hub.subscribe(topic, receiver.url())
    first = [hub.post_event(topic, {"i": i}, ce_id=f"a-{i}", partition=i % 2)["id"] for i in range(10)]
    time.sleep(0.3)
    boundary = time.time()
    time.sleep(0.3)
    second = [hub.post_event(topic, {"i": i}, ce_id=f"b-{i}", partition=i % 2)["id"] for i in range(6)]
    everything = first + second
    receiver.wait_for(lambda r: r.delivered_ids() == set(everything), what="the first deliveries")
    hub.wait_caught_up(sub["id"])
    assert len(receiver.snapshot()) == 16

    # fromOffset 6 on both partitions: offsets 6, 7 of each = a-? and b-? (8 per partition in all).
    mark = len(receiver.snapshot())
    hub.replay(sub["id"], {"fromOffset": 6})
    expected = {"b-2", "b-4", "b-3", "b-5"}
    receiver.wait_for(lambda r: len(r.snapshot()) >= mark + 4, what="the replay from offset 6")
    time.sleep(0.4)
    assert sorted(ids_of(receiver.snapshot()[mark:])) == sorted(expected), timeline(receiver)

    # fromOffsets: partition 1 from 2, partition 0 untouched.
    mark = len(receiver.snapshot())
    hub.replay(sub["id"], {"fromOffsets": {"1": 2}})
    # Partition 1 holds a-1, a-3, a-5, a-7, a-9, b-1, b-3, b-5 at offsets 0..7.
    expected = ["a-5", "a-7", "a-9", "b-1", "b-3", "b-5"]
    receiver.wait_for(lambda r: len(r.snapshot()) >= mark + len(expected), what="the replay of partition 1")
    time.sleep(0.4)
    assert sorted(ids_of(receiver.snapshot()[mark:])) == sorted(expected), timeline(receiver)

    # fromTime: everything appended after the boundary, nothing before.
    mark = len(receiver.snapshot())
    hub.replay(sub["id"], {"fromTime": rfc3339(boundary)})
    receiver.wait_for(lambda r: len(r.snapshot()) >= mark + len(second), what="the replay from a time")
    time.sleep(0.4)
    assert sorted(ids_of(receiver.snapshot()[mark:])) == sorted(second), timeline(receiver)
    view = hub.wait_caught_up(sub["id"])
    assert view["state"] == "active"


def test_pause_and_resume(hub, receiver):
    topic = unique("pause")
    hub.create_topic(topic, partitions=2)
    sub = hub.subscribe(topic, receiver.url())
    hub.post_event(topic, {"i": 0}, ce_id="p-0")
    receiver.wait_for(lambda r: r.delivered_ids() == {"p-0"}, what="p-0")
    paused = hub.patch(sub["id"], {"state": "paused"})
    assert paused["state"] == "paused"
    for i in range(1, 8):
        hub.post_event(topic, {"i": i}, ce_id=f"p-{i}")
    time.sleep(1.0)
    assert receiver.delivered_ids() == {"p-0"}, f"a paused subscription got deliveries\n{timeline(receiver)}"
    view = hub.subscription(sub["id"])
    assert view["state"] == "paused" and view["lag"] == 7, view
    hub.patch(sub["id"], {"state": "active"})
    receiver.wait_for(lambda r: r.delivered_ids() == {f"p-{i}" for i in range(8)}, what="the events after resuming")
    assert len(receiver.snapshot()) == 8, f"duplicates after a pause\n{timeline(receiver)}"
    hub.wait_caught_up(sub["id"])


def test_pause_while_retrying_keeps_the_retry_state(hub, receiver):
    """A delivery waiting for its retry when the subscription is paused is tried again after
    the resume — not lost, and not restarted at attempt 1 (its __attempts numbers go on)."""
    receiver.set_responder(lambda r: Reply(500) if r.attempt_no <= 2 else Reply(204))
    topic = unique("pause-retry")
    hub.create_topic(topic)
    sub = hub.subscribe(topic, receiver.url(), retrySchedule="300ms,300ms,300ms,300ms")
    hub.post_event(topic, {}, ce_id="pr-1")
    receiver.wait_for(lambda r: len(r.snapshot()) >= 1, what="the first attempt")
    hub.patch(sub["id"], {"state": "paused"})
    time.sleep(0.8)
    during = len(receiver.snapshot())
    hub.patch(sub["id"], {"state": "active"})
    receiver.wait_for(lambda r: r.delivered_ids() == {"pr-1"}, what="the delivery after resuming")
    assert during <= 2, f"{during} attempts while paused"
    from test_dispatcher_common import attempts
    rows = wait_until(lambda: (lambda a: a if any(x["outcome"] == "delivered" for x in a) else None)(
        attempts(hub.bootstrap, sub["id"])), timeout=5, what="the delivered attempt record")
    numbers = [a["attempt"] for a in rows]
    assert numbers == list(range(1, len(numbers) + 1)), f"attempt numbers restarted across a pause: {numbers}"


def test_dead_letters_listed_and_redriven(hub, receiver):
    """Issue 6: GET /subscriptions/{id}/dead-letters lists them; POST …/dead-letters/redrive
    delivers them again, with their original webhook-ids (also a derived one) and bodies, and a
    second redrive does not repeat the first one's."""
    receiver.set_responder(always(500))
    topic = unique("redrive")
    hub.create_topic(topic, partitions=2)
    sub = hub.subscribe(topic, receiver.url(), retrySchedule="100ms")
    other = hub.subscribe(topic, receiver.url("/other"), retrySchedule="100ms")
    hub.post_event(topic, {"dead": 1}, ce_id="rd-1", partition=1)
    from test_dispatcher_common import produce
    produce(hub.bootstrap, topic, [{"partition": 0, "value": b'{"bare":"dead"}'}])
    wait_until(lambda: hub.subscription(sub["id"])["counts"]["deadLettered"] == 2
               and hub.subscription(other["id"])["counts"]["deadLettered"] == 2, what="the dead letters")
    original_ids = {r.webhook_id for r in receiver.snapshot("/hook")}
    assert "rd-1" in original_ids and len(original_ids) == 2, original_ids
    status, body = hub.request("GET", f"/subscriptions/{sub['id']}/dead-letters")
    assert status == 200, f"GET dead-letters answered {status}: {body[:300]!r}"
    listed = __import__("json").loads(body)["deadLetters"]
    assert len(listed) == 2 and {d["topic"] for d in listed} == {topic}, listed
    assert {(d["partition"], d["offset"]) for d in listed} == {(1, 0), (0, 0)}, listed
    assert all(d["attempts"] == 2 and "500" in d["error"] for d in listed), listed

    receiver.set_responder(always(204))
    mark = len(receiver.snapshot())
    status, body = hub.request("POST", f"/subscriptions/{sub['id']}/dead-letters/redrive", json_body={})
    assert status in (200, 202), f"redrive answered {status}: {body[:300]!r}"
    receiver.wait_for(lambda r: r.delivered_ids("/hook") == original_ids, what="the redriven deliveries")
    redriven = receiver.snapshot()[mark:]
    assert {r.path for r in redriven} == {"/hook"}, "a redrive of one subscription delivered to another"
    assert sorted(r.body for r in redriven) == sorted([b'{"bare":"dead"}', b'{"dead": 1}'])
    from test_dispatcher_common import verify
    for r in redriven:
        verify(sub["secret"], r)
    # A second redrive has nothing new to send.
    time.sleep(0.3)
    mark = len(receiver.snapshot())
    status, body = hub.request("POST", f"/subscriptions/{sub['id']}/dead-letters/redrive", json_body={})
    assert status in (200, 202), body
    time.sleep(0.8)
    assert receiver.snapshot()[mark:] == [], f"a second redrive repeated the first\n{timeline(receiver)}"


def test_backfill_of_a_compacted_topic_skips_the_gaps(hub, receiver):
    """A subscription from `earliest` on a compacted topic (offsets with gaps) gets exactly the
    records a Kafka consumer reads from the start, and its cursor reaches the end."""
    from test_dispatcher_common import produce
    topic = unique("compacted")
    hub.create_topic(topic, partitions=1, config={"cleanup.policy": "compact", "segment.bytes": "4096",
                                                  "min.cleanable.dirty.ratio": "0.01"})
    for version in range(30):  # one batch per version, so segments roll
        produce(hub.bootstrap, topic, [
            {"partition": 0, "key": f"k{k}".encode(), "value": f'{{"v":{version}, "pad":"{"x" * 100}"}}'.encode(),
             "headers": [("ce_id", f"cmp-{k}-{version}".encode())]} for k in range(8)])
    status, body = hub.request("POST", f"/admin/topics/{topic}/compact", json_body={})
    assert status == 200, body[:300]
    remaining = read_topic(hub.bootstrap, topic)
    offsets = [r.offset for r in remaining]
    assert len(remaining) < 240 and offsets[-1] == 239, f"compaction left {len(remaining)} records"
    sub = hub.subscribe(topic, receiver.url(), startFrom="earliest")
    expected = {r.header("ce_id") for r in remaining}
    receiver.wait_for(lambda r: r.delivered_ids() >= expected, timeout=15, what="the compacted records")
    time.sleep(0.3)
    assert receiver.delivered_ids() == expected
    assert len(receiver.snapshot()) == len(expected)
    view = hub.wait_caught_up(sub["id"], timeout=5)
    assert view["partitions"][0]["cursor"] == 240


def test_paused_subscription_behind_retention_moves_to_the_log_start(hubs):
    """Retention deletes segments a paused subscription has not delivered yet: after the resume
    it delivers what is left, from the log start on, and catches up (the deleted events are gone)."""
    from test_dispatcher_common import produce
    hub = hubs.start("--retention-check-interval", "1")
    with Receiver(name="retention") as receiver:
        topic = unique("retention")
        hub.create_topic(topic, partitions=1, config={"segment.bytes": "4096", "retention.ms": "1500"})
        sub = hub.subscribe(topic, receiver.url())
        hub.patch(sub["id"], {"state": "paused"})
        for batch in range(20):  # one batch each: several segments
            produce(hub.bootstrap, topic, [{"partition": 0, "value": b'{"pad":"' + b"x" * 300 + b'"}',
                                            "headers": [("ce_id", f"ret-{batch}-{i}".encode())]} for i in range(4)])
        wait_until(lambda: hub.call("GET", f"/topics/{topic}")["partitions"][0]["startOffset"] > 0, timeout=10,
                   what="retention to delete old segments")
        start = hub.call("GET", f"/topics/{topic}")["partitions"][0]["startOffset"]
        # New events after the retention pass are delivered too.
        hub.patch(sub["id"], {"state": "active"})
        hub.post_event(topic, {}, ce_id="ret-new")
        remaining = {r.header("ce_id") for r in read_topic(hub.bootstrap, topic)}
        receiver.wait_for(lambda r: "ret-new" in r.delivered_ids(), timeout=10, what="the new event")
        time.sleep(0.3)
        got = receiver.delivered_ids()
        assert got <= remaining | {"ret-new"}, "delivered events the log no longer had?"
        assert got >= remaining, f"missing: {sorted(remaining - got)[:10]}"
        view = hub.wait_caught_up(sub["id"], timeout=5)
        assert view["partitions"][0]["cursor"] == view["partitions"][0]["endOffset"] and start > 0
