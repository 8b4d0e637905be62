"""Dispatcher, end to end: a clean restart (SIGTERM) of `hooklog serve` on the same data
directory. Cursors are committed on shutdown, so nothing finished is delivered again; a delivery
waiting for its retry keeps its attempt count and its next attempt time; subscriptions (headers,
secret, state) and derived webhook-ids survive."""

from __future__ import annotations

import time

from test_dispatcher_common import attempts, hubs, produce, unique, verify, wait_until  # noqa: F401
from webhook_receiver import Receiver, Reply


def test_clean_restart_resumes_exactly(hubs, tmp_path):
    def responder(request):
        if request.webhook_id == "rs-retry" and request.attempt_no <= 2:
            return Reply(500)
        return Reply(204)

    receiver = Receiver(responder, name="restart")
    data_dir = tmp_path / "restart-data"
    hub = hubs.start("--retry-schedule", "100ms", data_dir=data_dir, name="restart")
    try:
        topic = unique("restart")
        hub.create_topic(topic, partitions=3)
        sub = hub.subscribe(topic, receiver.url(), headers={"X-Tenant": "t1"},
                            retrySchedule="100ms,2500ms,100ms")
        paused = hub.subscribe(topic, receiver.url("/paused"))
        hub.patch(paused["id"], {"state": "paused"})
        for i in range(150):
            hub.post_event(topic, {"i": i}, ce_id=f"rs-{i}", partition=i % 3)
        hub.post_event(topic, {"retry": True}, ce_id="rs-retry", partition=0)
        produce(hub.bootstrap, topic, [{"partition": 1, "value": b'{"bare":true}'}])
        receiver.wait_for(lambda r: len(r.delivered_ids("/hook")) == 151, timeout=15, what="151 deliveries")
        # rs-retry failed twice and now waits 2-2.5 s for attempt 3.
        receiver.wait_for(lambda r: len([q for q in r.snapshot() if q.webhook_id == "rs-retry"]) == 2,
                          timeout=5, what="rs-retry's second attempt")
        second_attempt = [q for q in receiver.snapshot() if q.webhook_id == "rs-retry"][1].arrived_mono
        bare_id = [q for q in receiver.delivered("/hook") if q.body == b'{"bare":true}'][0].webhook_id
        new_secret = hub.patch(sub["id"], {"rotateSecret": True})["secret"]
        hub.server.assert_stops_cleanly()
        before = len(receiver.snapshot())

        hub = hubs.start("--retry-schedule", "100ms", data_dir=data_dir, name="restart")
        receiver.wait_for(lambda r: "rs-retry" in r.delivered_ids(), timeout=10, what="rs-retry after the restart")
        tries = [q for q in receiver.snapshot() if q.webhook_id == "rs-retry"]
        assert len(tries) == 3, f"rs-retry was tried {len(tries)} times (the schedule restarted?)"
        waited = tries[2].arrived_mono - second_attempt
        assert waited >= 1.95, f"attempt 3 came {waited:.2f}s after attempt 2, not after the 2.5 s step"
        time.sleep(0.5)
        after = receiver.snapshot()[before:]
        assert [q.webhook_id for q in after] == ["rs-retry"], (
            f"a clean restart delivered finished events again: {[q.webhook_id for q in after][:20]}")
        rows = wait_until(lambda: [a for a in attempts(hub.bootstrap, sub["id"]) if a["webhookId"] == "rs-retry"
                                   and a["outcome"] == "delivered"], timeout=5, what="rs-retry's delivered record")
        assert rows[-1]["attempt"] == 3, rows

        # The subscription is intact: new events carry its headers and secret; the paused one
        # stays paused.
        hub.post_event(topic, {"new": 1}, ce_id="rs-new")
        receiver.wait_for(lambda r: "rs-new" in r.delivered_ids("/hook"), what="a new event")
        new = [q for q in receiver.delivered("/hook") if q.webhook_id == "rs-new"][0]
        assert new.headers.get("x-tenant") == "t1"
        # The rotation survives the restart: both secrets still sign.
        assert len(new.headers["webhook-signature"].split(" ")) == 2, new.headers["webhook-signature"]
        verify(sub["secret"], new)
        verify(new_secret, new)
        assert hub.subscription(paused["id"])["state"] == "paused"
        assert receiver.snapshot("/paused") == []
        # A record without ce_id keeps its derived webhook-id across the restart.
        hub.replay(sub["id"], {"fromOffsets": {"1": 0}})
        receiver.wait_for(lambda r: len([q for q in r.delivered("/hook") if q.body == b'{"bare":true}']) == 2,
                          what="the bare record again")
        again = [q for q in receiver.delivered("/hook") if q.body == b'{"bare":true}'][1].webhook_id
        assert again == bare_id, f"derived webhook-id changed across a restart: {bare_id} → {again}"
        hub.server.assert_stops_cleanly()
    finally:
        receiver.close()


def test_shutdown_is_prompt_with_requests_in_flight(hubs, tmp_path):
    """SIGTERM while 16 requests wait on a receiver that answers after 10 s: the server stops
    once its 5 s shutdown drain is over (the attempts still open are abandoned), and after a
    restart those events are delivered (nothing lost)."""
    slow = {"on": True}
    receiver = Receiver(lambda r: Reply(204, delay=10 if slow["on"] else 0), name="slow-shutdown")
    data_dir = tmp_path / "shutdown-data"
    hub = hubs.start(data_dir=data_dir, name="shutdown")
    try:
        topic = unique("shutdown")
        hub.create_topic(topic, partitions=2)
        hub.subscribe(topic, receiver.url(), maxInFlight=16)
        for i in range(20):
            hub.post_event(topic, {"i": i}, ce_id=f"sd-{i}", partition=i % 2)
        receiver.wait_for(lambda r: r.in_flight.current == 16, timeout=5, what="16 requests in flight")
        started = time.monotonic()
        hub.server.assert_stops_cleanly()
        took = time.monotonic() - started
        assert took < 5 + 2, f"SIGTERM took {took:.1f}s with requests in flight; log tail:\n" + "\n".join(hub.server.log_lines()[-12:])
        slow["on"] = False
        hub = hubs.start(data_dir=data_dir, name="shutdown")
        receiver.wait_for(lambda r: r.delivered_ids() >= {f"sd-{i}" for i in range(20)}, timeout=15,
                          what="every event after the restart")
        hub.server.assert_stops_cleanly()
    finally:
        receiver.close()


def test_redrive_survives_a_sigkill(hubs, tmp_path):
    """A redrive of 20 dead letters interrupted by SIGKILL goes on after the restart: every dead
    letter is delivered at least once, with its original webhook-id."""
    import signal
    mode = {"fail": True}
    receiver = Receiver(lambda r: Reply(500) if mode["fail"] else Reply(204, delay=0.25), name="redrive-kill")
    data_dir = tmp_path / "redrive-data"
    hub = hubs.start(data_dir=data_dir, name="redrive")
    try:
        topic = unique("redrive-kill")
        hub.create_topic(topic, partitions=2)
        sub = hub.subscribe(topic, receiver.url(), retrySchedule="50ms", maxInFlight=2)
        ids = {hub.post_event(topic, {"i": i}, ce_id=f"rk-{i}", partition=i % 2)["id"] for i in range(20)}
        wait_until(lambda: hub.subscription(sub["id"])["counts"]["deadLettered"] == 20, timeout=15,
                   what="20 dead letters")
        mode["fail"] = False
        status, body = hub.request("POST", f"/subscriptions/{sub['id']}/dead-letters/redrive", json_body={})
        assert status in (200, 202), f"redrive answered {status}: {body[:300]!r}"
        receiver.wait_for(lambda r: len(r.delivered_ids()) >= 6, timeout=10, what="part of the redrive")
        time.sleep(1.2)  # let a cursor commit cover part of it
        hub.server.kill(signal.SIGKILL)
        at_kill = len(receiver.delivered_ids())
        assert at_kill < 20, "the redrive finished before the kill; the test proves nothing"
        hub = hubs.start(data_dir=data_dir, name="redrive")
        receiver.wait_for(lambda r: r.delivered_ids() >= ids, timeout=20, what="every dead letter after the restart")
        delivered = [r.webhook_id for r in receiver.delivered()]
        duplicates = len(delivered) - len(set(delivered))
        # At most what finished since the last commit (1 s at ~8/s) plus the 2 open requests.
        assert duplicates <= 12, f"{duplicates} duplicates after one kill during a redrive"
        hub.server.assert_stops_cleanly()
    finally:
        receiver.close()
