"""Dispatcher, end to end: concurrency and ordering, measured by receivers that count the
requests they have in flight.

- `maxInFlight` per subscription and the per-origin limit (`--origin-concurrency`) are never
  exceeded — and are reached, so the checks can fail;
- `none` runs deliveries of one partition concurrently;
- `key` never starts a record before every earlier record of its key (in its partition) has
  succeeded, with failures injected, while different keys overlap;
- `strict` delivers one at a time per partition, in offset order, with failures injected.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict

import pytest

from test_dispatcher_common import Hub, hubs, module_hubs, timeline, unique, wait_until  # noqa: F401
from webhook_receiver import Receiver, Reply, always


@pytest.fixture(scope="module")
def hub(module_hubs) -> Hub:
    return module_hubs.start("--retry-schedule", "100ms,100ms,100ms,100ms,100ms,100ms", name="limits")


def post_many(hub: Hub, topic: str, count: int, prefix: str, partitions: int = 1, key=None, ce_type="t"):
    ids = []
    for i in range(count):
        ce_id = f"{prefix}-{i}"
        hub.post_event(topic, {"i": i}, ce_type=ce_type, ce_id=ce_id,
                       key=key(i) if callable(key) else key,
                       partition=None if key is not None else i % partitions)
        ids.append(ce_id)
    return ids


def overlaps(requests) -> int:
    """The most intervals [arrived, answered) open at once."""
    events = []
    for r in requests:
        end = r.answered_mono if r.answered_mono is not None else float("inf")
        events.append((r.arrived_mono, 1))
        events.append((end, -1))
    events.sort(key=lambda e: (e[0], e[1]))
    current = best = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def test_max_in_flight_is_reached_and_never_exceeded(hub):
    with Receiver(always(204, delay=0.25), name="slow") as receiver:
        topic = unique("mif")
        hub.create_topic(topic, partitions=3)
        sub = hub.subscribe(topic, receiver.url("/a"), maxInFlight=4)
        ids = post_many(hub, topic, 36, "mif", partitions=3)
        receiver.wait_for(lambda r: r.delivered_ids("/a") >= set(ids), timeout=20, what="36 deliveries")
        meter = receiver.meter("/a")
        assert meter.maximum <= 4, f"maxInFlight 4 exceeded: {meter.maximum}\n{timeline(receiver)}"
        assert meter.maximum == 4, f"maxInFlight 4 never reached (max {meter.maximum}): the check proves nothing"
        assert sub["maxInFlight"] == 4


def test_ordering_none_runs_one_partition_concurrently(hub):
    with Receiver(always(204, delay=0.3), name="none") as receiver:
        topic = unique("none")
        hub.create_topic(topic, partitions=1)
        hub.subscribe(topic, receiver.url(), ordering="none", maxInFlight=8)
        ids = post_many(hub, topic, 24, "none")
        started = time.monotonic()
        receiver.wait_for(lambda r: r.delivered_ids() >= set(ids), timeout=20, what="24 deliveries")
        elapsed = time.monotonic() - started
        assert receiver.in_flight.maximum == 8, (
            f"ordering none with maxInFlight 8 on one partition had at most {receiver.in_flight.maximum} "
            f"requests open\n{timeline(receiver)}")
        # 24 deliveries of 0.3 s each, 8 at a time: about 1 s, not 7 s.
        assert elapsed < 4, f"24 slow deliveries took {elapsed:.1f}s"


def test_origin_limit_shared_by_subscriptions_and_partitions(hubs):
    """Two subscriptions (maxInFlight 4 each) on one origin, three partitions, slow answers:
    together never more than --origin-concurrency 5 at the receiver, and 5 is reached. A
    third subscription at another origin is not held back by that limit."""
    hub = hubs.start("--origin-concurrency", "5", "--retry-schedule", "100ms")
    with Receiver(always(204, delay=0.25), name="shared-origin") as shared, \
            Receiver(always(204, delay=0.25), name="other-origin") as other:
        topic = unique("origin")
        hub.create_topic(topic, partitions=3)
        hub.subscribe(topic, shared.url("/one"), maxInFlight=4)
        hub.subscribe(topic, shared.url("/two"), maxInFlight=4)
        hub.subscribe(topic, other.url("/three"), maxInFlight=4)
        ids = set(post_many(hub, topic, 45, "origin", partitions=3))
        shared.wait_for(lambda r: r.delivered_ids("/one") >= ids and r.delivered_ids("/two") >= ids,
                        timeout=30, what="every event at both subscriptions")
        other.wait_for(lambda r: r.delivered_ids("/three") >= ids, timeout=10, what="every event at the third")
        assert shared.meter("/one").maximum <= 4 and shared.meter("/two").maximum <= 4, (
            f"maxInFlight exceeded: {shared.meter('/one').maximum}, {shared.meter('/two').maximum}")
        assert shared.in_flight.maximum <= 5, (
            f"the per-origin limit 5 was exceeded: {shared.in_flight.maximum} at once\n{timeline(shared)}")
        assert shared.in_flight.maximum == 5, (
            f"the per-origin limit 5 was never reached (max {shared.in_flight.maximum}): the check proves nothing")
        assert other.meter("/three").maximum == 4, (
            f"a subscription at another origin reached only {other.meter('/three').maximum} of its maxInFlight 4")


@pytest.mark.parametrize("origin_limit", [None, 96])
def test_connection_pool_allows_the_whole_origin_limit(hubs, origin_limit):
    """The HTTP client's per-host pool must allow the per-origin limit (not async-http-client's
    default of 8): a subscription with maxInFlight = the limit (default 64, or
    --origin-concurrency 96) has that many requests open at one receiver, and never more."""
    limit = origin_limit or 64
    hub = hubs.start("--retry-schedule", "100ms", *(["--origin-concurrency", str(origin_limit)] if origin_limit else []))
    with Receiver(always(204, delay=0.6), name="pool") as receiver:
        topic = unique("pool")
        hub.create_topic(topic, partitions=2)
        hub.subscribe(topic, receiver.url(), maxInFlight=limit + 20)
        ids = set(post_many(hub, topic, 2 * limit, "pool", partitions=2))
        receiver.wait_for(lambda r: r.delivered_ids() >= ids, timeout=20, what=f"{2 * limit} deliveries")
        assert receiver.in_flight.maximum == limit, (
            f"origin limit {limit}: {receiver.in_flight.maximum} concurrent requests at one origin")


def test_key_ordering_with_failures(hub):
    """`key`: a later record of a key never starts before the earlier one succeeded, though
    attempts fail at random; different keys overlap."""
    rng = random.Random(7)
    lock = threading.Lock()
    failures = {}

    def responder(request):
        with lock:
            # Each event fails a random number of times (0 to 2) before it succeeds.
            planned = failures.setdefault(request.webhook_id, rng.choice([0, 0, 1, 2]))
        delay = rng.uniform(0.0, 0.06)
        if request.attempt_no <= planned:
            return Reply(rng.choice([500, 502, 429]), headers={"Retry-After": "0"}, delay=delay)
        return Reply(204, delay=delay)

    with Receiver(responder, name="key") as receiver:
        topic = unique("key")
        hub.create_topic(topic, partitions=2)
        hub.subscribe(topic, receiver.url(), ordering="key", maxInFlight=8)
        keys = [f"user-{k}" for k in range(6)]
        sequence = defaultdict(list)  # key -> ce_ids in append order
        for i in range(90):
            key = keys[i % len(keys)] if i % 10 else keys[rng.randrange(len(keys))]
            ce_id = f"key-{i}"
            answer = hub.post_event(topic, {"i": i, "key": key}, ce_type="t", ce_id=ce_id, key=key)
            sequence[key].append((answer["partition"], answer["offset"], ce_id))
        all_ids = {c for items in sequence.values() for _, _, c in items}
        receiver.wait_for(lambda r: r.delivered_ids() >= all_ids, timeout=40, what="90 deliveries")
        requests = receiver.snapshot()
        success = {r.webhook_id: r for r in requests if r.ok}
        first_seen = {}
        for r in requests:
            first_seen.setdefault(r.webhook_id, r)
        for key, items in sequence.items():
            assert len({p for p, _, _ in items}) == 1, f"key {key} in several partitions"
            items.sort()
            for (_, _, earlier), (_, _, later) in zip(items, items[1:]):
                done = success[earlier].answered_mono
                started = first_seen[later].arrived_mono
                assert started >= done, (
                    f"key {key}: {later} started {done - started:.3f}s before {earlier} succeeded\n"
                    f"{timeline(receiver)}")
        retried = sum(1 for r in requests if not r.ok)
        assert retried >= 20, f"only {retried} failed attempts: failures were not injected"
        assert receiver.in_flight.maximum >= 2, "different keys never overlapped"
        assert receiver.in_flight.maximum <= 8


def test_strict_ordering_one_at_a_time_per_partition(hub):
    """`strict`: per partition one request at a time, in offset order, each record only after
    the previous one succeeded (failures injected); partitions proceed side by side."""
    rng = random.Random(11)

    def responder(request):
        delay = rng.uniform(0.01, 0.05)
        if request.attempt_no == 1 and rng.random() < 0.3:
            return Reply(500, delay=delay)
        if request.attempt_no == 1 and rng.random() < 0.1:
            return Reply(0, reset=True, delay=delay)
        return Reply(204, delay=delay)

    with Receiver(responder, name="strict") as receiver:
        topic = unique("strict")
        hub.create_topic(topic, partitions=3)
        hub.subscribe(topic, receiver.url(), ordering="strict", maxInFlight=8)
        placed = {}
        for i in range(60):
            answer = hub.post_event(topic, {"i": i}, ce_type="t", ce_id=f"strict-{i}", partition=i % 3)
            placed[f"strict-{i}"] = (answer["partition"], answer["offset"])
        receiver.wait_for(lambda r: r.delivered_ids() >= set(placed), timeout=40, what="60 deliveries")
        requests = receiver.snapshot()
        by_partition = defaultdict(list)
        for r in requests:
            by_partition[placed[r.webhook_id][0]].append(r)
        for partition, items in by_partition.items():
            assert overlaps(items) == 1, (
                f"partition {partition}: {overlaps(items)} requests at once under strict ordering\n"
                f"{timeline(receiver)}")
            offsets = [placed[r.webhook_id][1] for r in items]
            assert offsets == sorted(offsets), f"partition {partition}: attempts out of offset order: {offsets}"
            delivered = [placed[r.webhook_id][1] for r in items if r.ok]
            assert delivered == sorted(set(delivered)), f"partition {partition}: deliveries out of order: {delivered}"
        failed = sum(1 for r in requests if not r.ok)
        assert failed >= 8, f"only {failed} failed attempts: failures were not injected"
        assert overlaps(requests) >= 2, "partitions never proceeded concurrently under strict ordering"


def test_a_delivery_waiting_for_its_retry_holds_no_slot(hub):
    """maxInFlight 2; two events fail and wait 3 s for their retry: the events after them are
    delivered meanwhile (ordering none), and the cursor stays on the first failed one."""
    def responder(request):
        if request.webhook_id in ("slot-0", "slot-1") and request.attempt_no == 1:
            return Reply(500)
        return Reply(204)

    with Receiver(responder, name="slots") as receiver:
        topic = unique("slots")
        hub.create_topic(topic)
        sub = hub.subscribe(topic, receiver.url(), maxInFlight=2, retrySchedule="3s")
        ids = post_many(hub, topic, 12, "slot")
        started = time.monotonic()
        receiver.wait_for(lambda r: r.delivered_ids() >= set(ids[2:]), timeout=2.5,
                          what="the events behind two waiting retries")
        assert time.monotonic() - started < 2.4
        view = hub.subscription(sub["id"])
        assert view["counts"]["retriesPending"] == 2, view["counts"]
        time.sleep(1.2)  # a cursor commit
        view = hub.subscription(sub["id"])
        assert view["partitions"][0]["cursor"] == 0 and view["lag"] == 12, view["partitions"]
        receiver.wait_for(lambda r: r.delivered_ids() >= set(ids), timeout=5, what="the retried events")
        hub.wait_caught_up(sub["id"], timeout=5)


def test_key_ordering_a_waiting_retry_holds_back_only_its_key(hub):
    """`key`: an event of key A waiting 3 s for its retry holds back the later A events, not
    the B events of the same partition."""
    def responder(request):
        if request.webhook_id == "kb-a-0" and request.attempt_no == 1:
            return Reply(503)
        return Reply(204)

    with Receiver(responder, name="keyblock") as receiver:
        topic = unique("keyblock")
        hub.create_topic(topic, partitions=1)
        hub.subscribe(topic, receiver.url(), ordering="key", retrySchedule="3s")
        for i in range(4):
            hub.post_event(topic, {"i": i}, ce_id=f"kb-a-{i}", key="A")
            hub.post_event(topic, {"i": i}, ce_id=f"kb-b-{i}", key="B")
        b_ids = {f"kb-b-{i}" for i in range(4)}
        receiver.wait_for(lambda r: r.delivered_ids() >= b_ids, timeout=2, what="the B events")
        assert not any(r.webhook_id in ("kb-a-1", "kb-a-2", "kb-a-3") for r in receiver.snapshot()), (
            f"later A events went before kb-a-0 succeeded\n{timeline(receiver)}")
        receiver.wait_for(lambda r: r.delivered_ids() >= b_ids | {f"kb-a-{i}" for i in range(4)}, timeout=6,
                          what="the A events after the retry")
        a_order = [r.webhook_id for r in receiver.delivered() if r.webhook_id.startswith("kb-a-")]
        assert a_order == [f"kb-a-{i}" for i in range(4)], a_order


def test_pausing_a_subscription_queued_on_the_origin_limit(hubs):
    """Two subscriptions share an origin limited to 2, answers take 0.25 s. Pausing one while its
    requests are open or wait for a slot returns promptly; open requests finish (no overshoot of
    the limit, nothing sent twice), the other subscription keeps going, and no slot leaks (the
    origin still reaches 2 after the resumes)."""
    hub = hubs.start("--origin-concurrency", "2", "--retry-schedule", "100ms")
    with Receiver(always(204, delay=0.25), name="queued") as receiver:
        topic = unique("queued")
        hub.create_topic(topic, partitions=2)
        a = hub.subscribe(topic, receiver.url("/a"), maxInFlight=8)
        hub.subscribe(topic, receiver.url("/b"), maxInFlight=8)
        ids = set(post_many(hub, topic, 12, "q", partitions=2))
        receiver.wait_for(lambda r: r.in_flight.current == 2, timeout=5, what="2 requests in flight")
        for _ in range(3):
            started = time.monotonic()
            hub.patch(a["id"], {"state": "paused"})
            took = time.monotonic() - started
            assert took < 2, f"pausing took {took:.1f}s"
            time.sleep(0.3)
            hub.patch(a["id"], {"state": "active"})
            time.sleep(0.2)
        receiver.wait_for(lambda r: r.delivered_ids("/a") >= ids and r.delivered_ids("/b") >= ids, timeout=30,
                          what="every event at both")
        # A pause lets the subscription's open requests finish (their outcomes count), so the
        # origin limit holds throughout and nothing is sent twice.
        assert receiver.in_flight.maximum <= 2, f"origin limit 2 exceeded: {receiver.in_flight.maximum}\n{timeline(receiver)}"
        for path in ("/a", "/b"):
            sent = [r.webhook_id for r in receiver.snapshot(path)]
            assert len(sent) == len(set(sent)), f"{path}: events sent twice around pauses\n{timeline(receiver)}"
        # No slot leaked: two more events still go out two at a time.
        receiver.in_flight.reset_maximum()
        post_many(hub, topic, 6, "q2", partitions=2)
        receiver.wait_for(lambda r: len([q for q in r.delivered() if q.webhook_id.startswith("q2-")]) == 12,
                          timeout=10, what="the last events")
        assert receiver.in_flight.maximum == 2, f"after pauses the origin reached only {receiver.in_flight.maximum} of 2"


@pytest.mark.parametrize("ordering", ["strict", "key"])
def test_ordered_delivery_moves_on_after_a_dead_letter(hub, ordering):
    """Under `strict` and `key`, a record that exhausts its schedule is dead-lettered (finished),
    and the records after it go out — in order, only after it."""
    with Receiver(lambda r: Reply(500) if r.webhook_id == f"{ordering}-dl-0" else Reply(204), name=ordering) as receiver:
        topic = unique(f"{ordering}-dl")
        hub.create_topic(topic, partitions=1)
        sub = hub.subscribe(topic, receiver.url(), ordering=ordering, retrySchedule="100ms,100ms")
        for i in range(5):
            hub.post_event(topic, {"i": i}, ce_id=f"{ordering}-dl-{i}", key="same")
        receiver.wait_for(lambda r: len(r.delivered_ids()) == 4, timeout=10, what="the records after the dead letter")
        sent = [r.webhook_id for r in receiver.snapshot()]
        assert sent == [f"{ordering}-dl-0"] * 3 + [f"{ordering}-dl-{i}" for i in range(1, 5)], sent
        view = hub.wait_caught_up(sub["id"], timeout=5)
        assert view["counts"]["deadLettered"] == 1
