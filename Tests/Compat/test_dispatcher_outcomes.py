"""Dispatcher, end to end: what happens after each kind of answer.

Retries on 500s (on the subscription's schedule), 429/503 with Retry-After (the next attempt no
earlier than asked), timeouts (`--delivery-timeout`), connection resets; 410 disables the
subscription (state, `hooklog.operational`); dead letters once the schedule is exhausted (their
contents in `__deadletters`); `failing` after repeated failures, probing one request at a time,
and recovery to `active`; `disabled` after `--disable-after`; every attempt in `__attempts`; and
a down endpoint does not slow another subscription.
"""

from __future__ import annotations

import email.utils
import threading
import time

import pytest

from test_dispatcher_common import (Hub, attempts, closed_port, hubs, module_hubs, operational_events,  # noqa: F401
                                    read_topic, timeline, unique, verify, wait_until)
from webhook_receiver import Receiver, Reply, always, fail_first


@pytest.fixture(scope="module")
def hub(module_hubs) -> Hub:
    return module_hubs.start("--retry-schedule", "200ms,200ms,200ms", "--delivery-timeout", "1s", name="outcomes")


@pytest.fixture
def receiver():
    r = Receiver(name="receiver")
    yield r
    r.close()


def gaps(requests):
    """Seconds between one attempt's answer and the next attempt's arrival."""
    return [b.arrived_mono - (a.answered_mono or a.arrived_mono) for a, b in zip(requests, requests[1:])]


def test_500s_retried_on_the_schedule_and_recorded_in_attempts(hub, receiver):
    receiver.set_responder(fail_first(3, Reply(500, body=b"boom")))
    topic = unique("r500")
    hub.create_topic(topic)
    sub = hub.subscribe(topic, receiver.url(), retrySchedule="300ms,600ms,900ms")
    placed = hub.post_event(topic, {"x": 1}, ce_id="r500-1")
    receiver.wait_for(lambda r: r.delivered_ids() == {"r500-1"}, what="the delivery after 3 failures")
    tries = receiver.snapshot()
    assert [r.status for r in tries] == [500, 500, 500, 204], timeline(receiver)
    assert {r.webhook_id for r in tries} == {"r500-1"}
    for request in tries:
        verify(sub["secret"], request)
    # Jitter takes at most a fifth off each step: 0.24-0.3 s, 0.48-0.6 s, 0.72-0.9 s.
    for gap, step in zip(gaps(tries), (0.3, 0.6, 0.9)):
        assert 0.8 * step - 0.02 <= gap <= step + 0.6, f"gaps {gaps(tries)} do not follow the schedule 300ms,600ms,900ms"
    view = hub.wait_caught_up(sub["id"])
    assert view["counts"]["delivered"] == 1 and view["counts"]["failedAttempts"] == 3, view["counts"]
    assert view["lastError"]["message"].startswith("HTTP 500"), view["lastError"]
    rows = wait_until(lambda: (lambda a: a if len(a) >= 4 else None)(attempts(hub.bootstrap, sub["id"])),
                      timeout=5, what="4 records in __attempts")
    assert [(a["attempt"], a["outcome"], a.get("status")) for a in rows] == [
        (1, "retrying", 500), (2, "retrying", 500), (3, "retrying", 500), (4, "delivered", 204)], rows
    for row in rows:
        assert row["webhookId"] == "r500-1"
        assert (row["topic"], row["partition"], row["offset"]) == (topic, placed["partition"], placed["offset"])
        assert row["durationMs"] >= 0 and row["at"] > 0
    assert "boom" in rows[0]["error"]
    # The same records over the HTTP API, newest first.
    listed = hub.call("GET", f"/subscriptions/{sub['id']}/attempts")["attempts"]
    assert [(a["attempt"], a["outcome"]) for a in listed] == [
        (4, "delivered"), (3, "retrying"), (2, "retrying"), (1, "retrying")], listed


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(hub, receiver, status):
    """A 429/503 with Retry-After: 1 (seconds) delays the next attempt at least 1 s, though the
    schedule says 200 ms; an HTTP-date form (2 s ahead) is honoured too."""
    def responder(request):
        if request.attempt_no == 1:
            return Reply(status, headers={"Retry-After": "1"})
        if request.attempt_no == 2:
            when = email.utils.formatdate(time.time() + 2, usegmt=True)
            return Reply(status, headers={"Retry-After": when})
        return Reply(200, body=b"ok")

    receiver.set_responder(responder)
    topic = unique(f"ra{status}")
    hub.create_topic(topic)
    hub.subscribe(topic, receiver.url())
    hub.post_event(topic, {"x": 1}, ce_id="ra-1")
    receiver.wait_for(lambda r: r.delivered_ids() == {"ra-1"}, timeout=15, what="the delivery")
    tries = receiver.snapshot()
    assert [r.status for r in tries] == [status, status, 200], timeline(receiver)
    first, second = gaps(tries)
    assert first >= 0.99, f"attempt 2 came {first:.3f}s after a Retry-After: 1"
    # The HTTP-date has whole-second precision: at least 1 s, and well above the 200 ms step.
    assert second >= 0.99, f"attempt 3 came {second:.3f}s after a Retry-After date 2 s ahead"
    assert first < 2.5 and second < 3.5, f"Retry-After waits too long: {first:.2f}s, {second:.2f}s"


def test_429_without_retry_after_follows_the_schedule(hub, receiver):
    receiver.set_responder(fail_first(1, Reply(429)))
    topic = unique("ra-none")
    hub.create_topic(topic)
    hub.subscribe(topic, receiver.url())
    hub.post_event(topic, {}, ce_id="ra-none")
    receiver.wait_for(lambda r: r.delivered_ids() == {"ra-none"}, what="the delivery")
    (gap,) = gaps(receiver.snapshot())
    assert 0.15 <= gap < 1.0, f"429 without Retry-After waited {gap:.3f}s (schedule 200ms)"


def test_timeouts_are_retried(hub, receiver):
    """--delivery-timeout 1s: an answer that takes 3 s counts as a failed attempt after about 1 s."""
    receiver.set_responder(fail_first(1, Reply(204, delay=3.0)))
    topic = unique("timeout")
    hub.create_topic(topic)
    sub = hub.subscribe(topic, receiver.url())
    hub.post_event(topic, {}, ce_id="slow-1")
    receiver.wait_for(lambda r: any(q.attempt_no == 2 and q.ok for q in r.snapshot()), timeout=10,
                      what="the second attempt")
    tries = receiver.snapshot()
    gap = tries[1].arrived_mono - tries[0].arrived_mono
    assert 1.0 <= gap < 2.2, f"the second attempt came {gap:.2f}s after the first (timeout 1s + 200ms step)"
    rows = wait_until(lambda: (lambda a: a if len(a) >= 2 else None)(attempts(hub.bootstrap, sub["id"])),
                      timeout=5, what="2 attempt records")
    assert rows[0]["outcome"] == "retrying" and rows[0].get("status") is None, rows[0]
    assert "time" in rows[0]["error"].lower(), rows[0]
    assert 900 <= rows[0]["durationMs"] < 2000, rows[0]
    assert rows[1]["outcome"] == "delivered"


def test_connection_resets_are_retried(hub, receiver):
    receiver.set_responder(fail_first(2, Reply(0, reset=True)))
    topic = unique("reset")
    hub.create_topic(topic)
    sub = hub.subscribe(topic, receiver.url())
    hub.post_event(topic, {"r": 1}, ce_id="reset-1")
    receiver.wait_for(lambda r: r.delivered_ids() == {"reset-1"}, what="the delivery after two resets")
    tries = receiver.snapshot()
    assert [r.reset for r in tries] == [True, True, False], timeline(receiver)
    rows = wait_until(lambda: (lambda a: a if len(a) >= 3 else None)(attempts(hub.bootstrap, sub["id"])),
                      timeout=5, what="3 attempt records")
    assert [(a["attempt"], a["outcome"], a.get("status")) for a in rows] == [
        (1, "retrying", None), (2, "retrying", None), (3, "delivered", 204)], rows
    assert rows[0]["error"], rows[0]


def test_410_disables_the_subscription(hub, receiver):
    topic = unique("gone")
    hub.create_topic(topic)
    sub = hub.subscribe(topic, receiver.url())
    other = hub.subscribe(topic, receiver.url("/other"))
    receiver.set_responder(lambda r: Reply(410) if r.path == "/hook" else Reply(204))
    hub.post_event(topic, {"n": 1}, ce_id="gone-1")
    view = hub.wait_state(sub["id"], "disabled")
    assert view["stateReason"], view
    time.sleep(0.2)
    assert len(receiver.snapshot("/hook")) == 1, "a 410 was retried"
    # No more deliveries while disabled; other subscriptions go on.
    hub.post_event(topic, {"n": 2}, ce_id="gone-2")
    receiver.wait_for(lambda r: r.delivered_ids("/other") == {"gone-1", "gone-2"}, what="the other subscription")
    time.sleep(0.6)
    assert len(receiver.snapshot("/hook")) == 1, f"a disabled subscription got requests\n{timeline(receiver)}"
    events = wait_until(lambda: operational_events(hub.bootstrap, sub["id"]), timeout=5,
                        what="an operational event")
    types = [t for t, _, _ in events]
    assert "hooklog.subscription.disabled" in types, types
    ce_type, body, record = events[-1]
    assert body["state"] == "disabled" and body["topic"] == topic and body["url"] == sub["url"], body
    assert record.header("ce_id") and record.header("ce_source") and record.header("ce_specversion") == "1.0"
    rows = wait_until(lambda: attempts(hub.bootstrap, sub["id"]), timeout=5, what="the attempt record")
    assert [(a["outcome"], a.get("status")) for a in rows] == [("disabled", 410)], rows
    assert not operational_events(hub.bootstrap, other["id"])

    # Resumed by its owner (POST /subscriptions/{id}/resume): the events are not lost.
    receiver.set_responder(always(204))
    resumed = hub.call("POST", f"/subscriptions/{sub['id']}/resume")
    assert resumed["state"] == "active", resumed
    receiver.wait_for(lambda r: r.delivered_ids("/hook") == {"gone-1", "gone-2"}, timeout=10,
                      what="the events after resuming")
    assert hub.subscription(sub["id"])["state"] == "active"


def test_dead_letters_after_the_schedule_is_exhausted(hub, receiver):
    receiver.set_responder(lambda r: Reply(500, body=b"nope") if r.webhook_id == "dl-1" else Reply(204))
    topic = unique("dead")
    hub.create_topic(topic, partitions=2)
    sub = hub.subscribe(topic, receiver.url(), retrySchedule="100ms,100ms")
    placed = hub.post_event(topic, b'{"dead":"letter"}', ce_type="order.failed", ce_id="dl-1", key="k1",
                            extra={"ce-subject": "s"})
    hub.post_event(topic, {"after": 1}, ce_id="dl-2", partition=placed["partition"])
    receiver.wait_for(lambda r: "dl-2" in r.delivered_ids(), what="the next event")
    view = hub.wait_caught_up(sub["id"], timeout=10)
    assert view["counts"]["deadLettered"] == 1, view["counts"]
    assert len([r for r in receiver.snapshot() if r.webhook_id == "dl-1"]) == 3, timeline(receiver)
    letters = [r for r in read_topic(hub.bootstrap, "__deadletters") if r.header("hooklog_subscription") == sub["id"]]
    assert len(letters) == 1, letters
    letter = letters[0]
    assert letter.value == b'{"dead":"letter"}'
    assert letter.key == b"k1"
    assert letter.header("ce_id") == "dl-1" and letter.header("ce_type") == "order.failed"
    assert letter.header("ce_subject") == "s"
    assert letter.header("hooklog_topic") == topic
    assert letter.header("hooklog_partition") == str(placed["partition"])
    assert letter.header("hooklog_offset") == str(placed["offset"])
    assert letter.header("hooklog_attempts") == "3"
    assert "500" in (letter.header("hooklog_error") or ""), letter.headers
    rows = [a for a in attempts(hub.bootstrap, sub["id"]) if a["webhookId"] == "dl-1"]
    assert [a["outcome"] for a in rows] == ["retrying", "retrying", "deadLettered"], rows
    # Nothing more is tried for it.
    time.sleep(0.5)
    assert len([r for r in receiver.snapshot() if r.webhook_id == "dl-1"]) == 3


def test_failing_after_repeated_failures_then_recovers(hubs):
    hub = hubs.start("--retry-schedule", ",".join(["150ms"] * 30))
    with Receiver(always(500), name="failing") as receiver:
        topic = unique("failing")
        hub.create_topic(topic, partitions=2)
        sub = hub.subscribe(topic, receiver.url(), maxInFlight=8)
        for i in range(10):
            hub.post_event(topic, {"i": i}, ce_id=f"f-{i}", partition=i % 2)
        hub.wait_state(sub["id"], "failing", timeout=10)
        receiver.in_flight.reset_maximum()
        mark = len(receiver.snapshot())
        time.sleep(1.5)
        probing = receiver.snapshot()[mark:]
        probing_max_in_flight = receiver.in_flight.maximum
        events = operational_events(hub.bootstrap, sub["id"])
        assert [t for t, _, _ in events] == ["hooklog.subscription.failing"], events
        receiver.set_responder(always(204))
        hub.wait_state(sub["id"], "active", timeout=10)
        receiver.wait_for(lambda r: len(r.delivered_ids()) == 10, timeout=15, what="every event after recovery")
        events = wait_until(lambda: (lambda e: e if len(e) >= 2 else None)(operational_events(hub.bootstrap, sub["id"])),
                            timeout=5, what="the recovery event")
        assert [t for t, _, _ in events] == ["hooklog.subscription.failing", "hooklog.subscription.recovered"], (
            [(t, body) for t, body, _ in events])
        assert events[1][1]["state"] in ("recovered", "active"), events[1][1]
        # While failing: one probe at a time, at the backoff rate (one per 150 ms step), not every
        # due retry back to back.
        assert probing_max_in_flight <= 1, (
            f"a failing subscription had {probing_max_in_flight} requests open at once (probe one at a time)")
        assert len(probing) <= 1.5 / 0.12 + 2, (
            f"{len(probing)} requests in 1.5 s while failing with a 150 ms backoff: hammering the receiver")


def test_disabled_after_failing_for_disable_after(hubs):
    hub = hubs.start("--retry-schedule", ",".join(["200ms"] * 30), "--disable-after", "2s")
    with Receiver(always(503), name="down") as receiver:
        topic = unique("disable")
        hub.create_topic(topic)
        sub = hub.subscribe(topic, receiver.url())
        for i in range(6):
            hub.post_event(topic, {"i": i}, ce_id=f"d-{i}")
        failing = hub.wait_state(sub["id"], "failing", timeout=10)
        started = time.monotonic()
        disabled = hub.wait_state(sub["id"], "disabled", timeout=10)
        took = time.monotonic() - started
        assert 1.0 <= took <= 5, f"disabled {took:.1f}s after failing, with --disable-after 2s"
        assert disabled["stateReason"], disabled
        count = len(receiver.snapshot())
        time.sleep(0.8)
        assert len(receiver.snapshot()) == count, "a disabled subscription got requests"
        types = [t for t, _, _ in operational_events(hub.bootstrap, sub["id"])]
        assert types == ["hooklog.subscription.failing", "hooklog.subscription.disabled"], types
        assert failing["state"] == "failing"
        # Resumed with PATCH once the receiver is back: every event arrives.
        receiver.set_responder(always(204))
        hub.patch(sub["id"], {"state": "active"})
        receiver.wait_for(lambda r: len(r.delivered_ids()) == 6, timeout=10, what="every event after resuming")
        assert hub.subscription(sub["id"])["state"] == "active"


def test_a_down_endpoint_does_not_slow_another_subscription(hubs):
    """Subscriptions to a refused port, to an always-500 receiver and to one that answers after
    3 s (each at its own origin) do not delay a healthy subscription of the same topic."""
    hub = hubs.start("--retry-schedule", "100ms,100ms,100ms,100ms,100ms")
    with Receiver(always(500), name="broken") as broken, Receiver(always(204, delay=3), name="slow") as slow, \
            Receiver(always(204), name="healthy") as healthy:
        topic = unique("isolate")
        hub.create_topic(topic, partitions=2)
        hub.subscribe(topic, f"http://127.0.0.1:{closed_port()}/down", maxInFlight=4)
        hub.subscribe(topic, broken.url(), maxInFlight=4)
        hub.subscribe(topic, slow.url(), maxInFlight=4)
        good = hub.subscribe(topic, healthy.url(), maxInFlight=4)
        latencies = []
        for i in range(60):
            posted = time.monotonic()
            hub.post_event(topic, {"i": i}, ce_id=f"iso-{i}", partition=i % 2)
            healthy.wait_for(lambda r, i=i: f"iso-{i}" in r.delivered_ids(), timeout=5, what=f"iso-{i}")
            latencies.append(time.monotonic() - posted)
            time.sleep(0.02)
        latencies.sort()
        assert latencies[len(latencies) // 2] < 0.2, f"median post→delivery {latencies[len(latencies) // 2]:.3f}s"
        assert latencies[-1] < 1.5, f"slowest post→delivery {latencies[-1]:.3f}s"
        assert len(broken.snapshot()) > 0 and len(slow.snapshot()) > 0
        hub.wait_caught_up(good["id"], timeout=5)
        hub.server.kill()  # not a shutdown test: skip the drain of the slow requests


def test_redirects_are_not_followed(hub, receiver):
    """3xx is a failed attempt: the Location is never called."""
    with Receiver(always(204), name="elsewhere") as elsewhere:
        receiver.set_responder(fail_first(2, Reply(302, headers={"Location": elsewhere.url("/moved")})))
        topic = unique("redirect")
        hub.create_topic(topic)
        sub = hub.subscribe(topic, receiver.url())
        hub.post_event(topic, {}, ce_id="redir-1")
        receiver.wait_for(lambda r: r.delivered_ids() == {"redir-1"}, what="the delivery after two 302s")
        assert [r.status for r in receiver.snapshot()] == [302, 302, 204]
        assert elsewhere.snapshot() == [], "a redirect was followed"
        rows = wait_until(lambda: (lambda a: a if len(a) >= 3 else None)(attempts(hub.bootstrap, sub["id"])),
                          timeout=5, what="3 attempt records")
        assert [(a["outcome"], a.get("status")) for a in rows] == [
            ("retrying", 302), ("retrying", 302), ("delivered", 204)], rows


def test_large_response_bodies_are_capped(hub, receiver):
    """A receiver answering with megabytes: the attempt's outcome is right, the recorded error is
    short, and the deliveries that follow are not held up."""
    big = b"x" * (8 << 20)
    receiver.set_responder(lambda r: Reply(500, body=b"E" * (2 << 20)) if r.attempt_no == 1 and r.webhook_id == "big-0"
                           else Reply(200, body=big))
    topic = unique("bigbody")
    hub.create_topic(topic)
    sub = hub.subscribe(topic, receiver.url(), maxInFlight=2)
    for i in range(4):
        hub.post_event(topic, {"i": i}, ce_id=f"big-{i}")
    receiver.wait_for(lambda r: r.delivered_ids() == {f"big-{i}" for i in range(4)}, timeout=15,
                      what="4 deliveries answered with 8 MiB bodies")
    rows = wait_until(lambda: (lambda a: a if len(a) >= 5 else None)(attempts(hub.bootstrap, sub["id"])),
                      timeout=5, what="5 attempt records")
    failed = [a for a in rows if a["outcome"] == "retrying"]
    assert len(failed) == 1 and failed[0].get("status") == 500, rows
    assert len(failed[0]["error"]) <= 4096 + 100, f"the error kept {len(failed[0]['error'])} bytes of the body"
    assert all(a["outcome"] == "delivered" for a in rows if a is not failed[0])


def test_delivery_metrics(hub, receiver):
    """GET /metrics counts attempts by outcome."""
    receiver.set_responder(fail_first(1, Reply(500)))
    topic = unique("metrics")
    hub.create_topic(topic)
    sub = hub.subscribe(topic, receiver.url())
    hub.post_event(topic, {}, ce_id="m-1")
    receiver.wait_for(lambda r: r.delivered_ids() == {"m-1"}, what="the delivery")
    status, text = hub.request("GET", "/metrics")
    assert status == 200
    lines = [line for line in text.decode().splitlines() if line.startswith("hooklog_deliveries_total{")]
    assert any('outcome="delivered"' in line for line in lines), lines[:20]
    assert any('outcome="retrying"' in line for line in lines), lines[:20]
    assert sub["id"]


def test_connect_timeout(hub, receiver):
    """A receiver whose listen queue is full (connections never accepted): each attempt fails
    after about the connect timeout (--delivery-timeout 1s caps it), is recorded, and retried."""
    import socket
    tarpit = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tarpit.bind(("127.0.0.1", 0))
    tarpit.listen(0)
    port = tarpit.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):  # fill the accept queue so later SYNs are dropped
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.2)
        topic = unique("tarpit")
        hub.create_topic(topic)
        sub = hub.subscribe(topic, f"http://127.0.0.1:{port}/hook", retrySchedule="100ms,100ms,100ms")
        good = hub.subscribe(topic, receiver.url())
        started = time.monotonic()
        hub.post_event(topic, {}, ce_id="tarpit-1")
        receiver.wait_for(lambda r: r.delivered_ids() == {"tarpit-1"}, timeout=3, what="the healthy subscription")
        assert time.monotonic() - started < 1.0
        rows = wait_until(lambda: (lambda a: a if len(a) >= 2 else None)(attempts(hub.bootstrap, sub["id"])),
                          timeout=8, what="2 attempt records")
        for row in rows[:2]:
            assert row.get("status") is None and row["outcome"] == "retrying", row
            assert 800 <= row["durationMs"] <= 2500, f"a connect that never completes took {row['durationMs']} ms"
        assert good["id"]
    finally:
        for s in fillers:
            s.close()
        tarpit.close()
