"""Dispatcher, end to end: changing a running subscription — maxInFlight up and down, a new URL,
a new event-type filter, deletion — and the cursor of a subscription whose filter drops
everything; CloudEvents attributes that need percent-encoding in headers."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest

from test_dispatcher_common import Hub, module_hubs, timeline, unique, wait_until  # noqa: F401
from webhook_receiver import Receiver, Reply, always


@pytest.fixture(scope="module")
def hub(module_hubs) -> Hub:
    return module_hubs.start("--retry-schedule", "100ms,100ms", name="changes")


def test_max_in_flight_changed_while_running(hub):
    with Receiver(always(204, delay=0.2), name="mif-change") as receiver:
        topic = unique("mif-change")
        hub.create_topic(topic, partitions=2)
        sub = hub.subscribe(topic, receiver.url(), maxInFlight=2)
        for i in range(50):
            hub.post_event(topic, {"i": i}, ce_id=f"mc-{i}", partition=i % 2)
        receiver.wait_for(lambda r: len(r.delivered()) >= 4, what="a few deliveries at maxInFlight 2")
        assert receiver.in_flight.maximum == 2
        hub.patch(sub["id"], {"maxInFlight": 8})
        receiver.wait_for(lambda r: r.in_flight.maximum == 8, timeout=5, what="8 requests in flight after raising")
        assert receiver.in_flight.maximum == 8
        hub.patch(sub["id"], {"maxInFlight": 3})
        time.sleep(0.35)  # the requests already open finish
        receiver.in_flight.reset_maximum()
        receiver.wait_for(lambda r: len(r.delivered()) >= 35, timeout=15, what="more deliveries")
        assert receiver.in_flight.maximum <= 3, f"{receiver.in_flight.maximum} in flight after lowering to 3"
        receiver.wait_for(lambda r: len(r.delivered_ids()) == 50, timeout=15, what="every event")


def test_url_and_filter_changed_while_running(hub):
    with Receiver(name="first") as first, Receiver(name="second") as second:
        topic = unique("change")
        hub.create_topic(topic)
        sub = hub.subscribe(topic, first.url(), eventTypes=["a"])
        hub.post_event(topic, {}, ce_type="a", ce_id="ch-1")
        hub.post_event(topic, {}, ce_type="b", ce_id="ch-2")
        first.wait_for(lambda r: r.delivered_ids() == {"ch-1"}, what="ch-1")
        hub.patch(sub["id"], {"url": second.url("/new"), "eventTypes": ["b"]})
        hub.post_event(topic, {}, ce_type="a", ce_id="ch-3")
        hub.post_event(topic, {}, ce_type="b", ce_id="ch-4")
        second.wait_for(lambda r: "ch-4" in r.delivered_ids(), what="ch-4 at the new URL")
        time.sleep(0.4)
        assert first.delivered_ids() == {"ch-1"}, timeline(first)
        assert second.delivered_ids() == {"ch-4"}, timeline(second)


def test_deleted_subscription_gets_nothing_more(hub):
    with Receiver(always(500), name="deleted") as receiver:
        topic = unique("delete")
        hub.create_topic(topic)
        sub = hub.subscribe(topic, receiver.url(), retrySchedule="200ms,200ms,200ms,200ms,200ms")
        hub.post_event(topic, {}, ce_id="del-1")
        receiver.wait_for(lambda r: len(r.snapshot()) >= 1, what="the first attempt")
        status, _ = hub.request("DELETE", f"/subscriptions/{sub['id']}")
        assert status == 204
        time.sleep(0.3)
        count = len(receiver.snapshot())
        hub.post_event(topic, {}, ce_id="del-2")
        time.sleep(1.0)
        assert len(receiver.snapshot()) == count, f"a deleted subscription got requests\n{timeline(receiver)}"


def test_cursor_moves_past_events_the_filter_drops(hub):
    with Receiver(name="filtered") as receiver:
        topic = unique("filtered")
        hub.create_topic(topic, partitions=2)
        sub = hub.subscribe(topic, receiver.url(), eventTypes=["wanted"])
        for i in range(20):
            hub.post_event(topic, {"i": i}, ce_type="unwanted", ce_id=f"fd-{i}", partition=i % 2)
        hub.post_event(topic, {}, ce_id="fd-untyped", partition=0)
        view = hub.wait_caught_up(sub["id"], timeout=10)
        assert view["lag"] == 0 and [p["cursor"] for p in view["partitions"]] == [11, 10], view["partitions"]
        assert receiver.snapshot() == []


def test_ce_attributes_needing_percent_encoding(hub):
    """Non-ASCII and '%' in a CloudEvents attribute travel percent-encoded in the ce-* header
    (the CloudEvents HTTP binding), as the producer sent them."""
    with Receiver(name="encoded") as receiver:
        topic = unique("encoded")
        hub.create_topic(topic)
        hub.subscribe(topic, receiver.url())
        subject = "héllo 100% sûr"
        encoded = quote(subject, safe=" ")
        hub.post_event(topic, {}, ce_id="enc-1", extra={"ce-subject": encoded})
        receiver.wait_for(lambda r: r.delivered_ids() == {"enc-1"}, what="the delivery")
        got = receiver.delivered()[0].headers["ce-subject"]
        from urllib.parse import unquote
        assert unquote(got) == subject, f"ce-subject arrived as {got!r}"
        assert all(32 <= ord(c) < 127 for c in got), got


def test_pause_and_quick_resume_while_requests_are_open(hub):
    """Pause and resume at once while 4 slow requests are open: the open requests finish and
    count, the reopened window waits for them (maxInFlight never exceeded), nothing is sent twice
    and everything arrives."""
    with Receiver(always(204, delay=1.0), name="quick-resume") as receiver:
        topic = unique("quick-resume")
        hub.create_topic(topic, partitions=2)
        sub = hub.subscribe(topic, receiver.url(), maxInFlight=4)
        ids = {hub.post_event(topic, {"i": i}, ce_id=f"qr-{i}", partition=i % 2)["id"] for i in range(12)}
        receiver.wait_for(lambda r: r.in_flight.current == 4, timeout=5, what="4 open requests")
        hub.patch(sub["id"], {"state": "paused"})
        hub.patch(sub["id"], {"state": "active"})
        receiver.wait_for(lambda r: r.delivered_ids() >= ids, timeout=15, what="every event")
        assert receiver.in_flight.maximum <= 4, f"maxInFlight 4 exceeded around a pause: {receiver.in_flight.maximum}\n{timeline(receiver)}"
        sent = [r.webhook_id for r in receiver.snapshot()]
        assert len(sent) == len(set(sent)), f"events sent twice around a pause\n{timeline(receiver)}"
        hub.wait_caught_up(sub["id"], timeout=5)
