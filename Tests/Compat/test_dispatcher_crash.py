"""Dispatcher, end to end: at least once across crashes.

3,000 events over 3 partitions are produced up front; one subscription delivers them to a flaky
receiver (random 500s, 429s with Retry-After, slow answers, connection resets). `hooklog serve`
is SIGKILLed five times while it dispatches (once soon after a restart) and restarted on the same data directory each time.
At the end every event has been delivered (2xx) at least once, duplicates stay within what
finished since the last cursor commit before each kill, and retry schedules resumed rather than
restarted: a few "late" events that fail until the very end carry attempt numbers in
`__attempts` that keep growing across the restarts (allowing for the attempts made after the
last commit before a kill), so the receiver saw about as many requests for each as its last
attempt number says. The duplicate count is reported in the run's summary.

A second subscription (`key` ordering, keys spread over each partition) gets the same events and
the same flaky answers (without the late events): within each server lifetime no record of a key
is sent before the key's earlier record succeeded, and everything arrives.
"""

from __future__ import annotations

import bisect
import json
import random
import signal
import threading
import time
from collections import Counter, defaultdict

from test_dispatcher_common import Hub, attempts, hubs, produce, verify, wait_until  # noqa: F401
from webhook_receiver import Receiver, Reply

PARTITIONS = 3
PER_PARTITION = 1000
KILL_AT_DELIVERED = (300, 900, 1500, 2200)  # at the `none` subscription
KEYS = 40  # kill once this many distinct events are delivered
LATE = {"c-0-20", "c-1-35", "c-2-50"}  # fail until the end (early offsets: tried from the start)
# Short steps first (flaky events recover quickly), then 2 s steps: the late events span the
# whole test without being dead-lettered (30 retries).
SCHEDULE = ["100ms", "200ms", "400ms", "800ms", "1s"] + ["2s"] * 25
COMMIT_INTERVAL = 0.25  # Dispatcher.Configuration.commitInterval


def lifetime(request, kill_times) -> int:
    """Which server process sent a request (0 = the first): told by the connection it came on,
    which the receiver stamped when it accepted it (a killed server's connections all predate
    its kill; a restarted one opens new ones)."""
    return bisect.bisect_right(kill_times, request.connection_accepted_mono)


def test_at_least_once_across_sigkills(hubs, compat_report, tmp_path):
    rng = random.Random(20261129)
    lock = threading.Lock()
    final_phase = threading.Event()

    def responder(request):
        if request.webhook_id in LATE and request.path == "/none":
            return Reply(204) if final_phase.is_set() else Reply(500, body=b"not yet")
        with lock:
            roll = rng.random()
            slow = rng.uniform(0.1, 0.4)
        if roll < 0.08:
            return Reply(500, body=b"flaky")
        if roll < 0.12:
            return Reply(429, headers={"Retry-After": "1"})
        if roll < 0.14:
            return Reply(0, reset=True)
        if roll < 0.22:
            return Reply(204, delay=slow)
        return Reply(200, body=b"ok")

    receiver = Receiver(responder, name="flaky")
    data_dir = tmp_path / "crash-data"
    hub = hubs.start("--retry-schedule", "100ms", data_dir=data_dir, name="crash")
    try:
        topic = "crash-events"
        hub.create_topic(topic, partitions=PARTITIONS)
        all_ids = set()
        records = []
        for p in range(PARTITIONS):
            for n in range(PER_PARTITION):
                ce_id = f"c-{p}-{n}"
                all_ids.add(ce_id)
                value = json.dumps({"p": p, "n": n, "pad": "x" * 160}).encode()
                records.append({"partition": p, "value": value, "key": f"k{n % KEYS}".encode(),
                                "headers": [("ce_id", ce_id.encode()), ("ce_type", b"crash.test"),
                                            ("ce_specversion", b"1.0"), ("ce_source", b"/crash")]})
        produce(hub.bootstrap, topic, records)
        assert hub.end_offsets(topic) == [PER_PARTITION] * PARTITIONS
        sub = hub.subscribe(topic, receiver.url("/none"), startFrom="earliest", maxInFlight=24, retrySchedule=SCHEDULE)
        keyed = hub.subscribe(topic, receiver.url("/key"), startFrom="earliest", maxInFlight=24, ordering="key",
                              retrySchedule=SCHEDULE)
        secret = sub["secret"]
        offset_of = {f"c-{p}-{n}": (p, n) for p in range(PARTITIONS) for n in range(PER_PARTITION)}

        started = time.monotonic()
        kills = []  # (monotonic time, distinct delivered at the kill)
        lifetimes = [started]
        for threshold in KILL_AT_DELIVERED:
            receiver.wait_for(lambda r: len(r.delivered_ids("/none")) >= threshold or len(kills) and
                              time.monotonic() - lifetimes[-1] > 4, timeout=30,
                              what=f"{threshold} deliveries before a kill")
            time.sleep(rng.uniform(0.05, 0.3))
            delivered_now = len(receiver.delivered_ids("/none"))
            status = hub.server.kill(signal.SIGKILL)
            assert status == -signal.SIGKILL, f"hooklog serve exited {status}, not by SIGKILL"
            kills.append((time.monotonic(), delivered_now))
            hub = hubs.start("--retry-schedule", "100ms", data_dir=data_dir, name="crash")
            lifetimes.append(time.monotonic())
        # One more, soon after a restart (before its first cursor commit).
        time.sleep(rng.uniform(0.3, 0.7))
        delivered_now = len(receiver.delivered_ids("/none"))
        hub.server.kill(signal.SIGKILL)
        kills.append((time.monotonic(), delivered_now))
        hub = hubs.start("--retry-schedule", "100ms", data_dir=data_dir, name="crash")
        lifetimes.append(time.monotonic())
        mid_dispatch = [d for _, d in kills if d < len(all_ids) - len(LATE)]
        assert len(mid_dispatch) >= 3, f"only {len(mid_dispatch)} kills landed while events were still undelivered: {kills}"

        # Everything but the late events arrives; then the late ones are let through.
        receiver.wait_for(lambda r: len(r.delivered_ids("/none") & all_ids) >= len(all_ids) - len(LATE), timeout=40,
                          what="every ordinary event")
        ordinary_done = time.monotonic() - started
        print(f"ordinary events done after {ordinary_done:.1f}s; kills {[(round(t - started, 1), d) for t, d in kills]}")
        late_requests_before = {i: len([r for r in receiver.snapshot("/none") if r.webhook_id == i]) for i in LATE}
        final_phase.set()
        receiver.wait_for(lambda r: r.delivered_ids("/none") >= all_ids, timeout=15, what="the late events")
        receiver.wait_for(lambda r: r.delivered_ids("/key") >= all_ids, timeout=20, what="every event under key ordering")
        elapsed = time.monotonic() - started

        # Key ordering, per server lifetime: for each key (in its partition), a record's first
        # attempt in that lifetime comes after the success of the key's earlier record in it.
        # (Across a kill, records that finished after the last commit come again: at least once.)
        keyed_requests = receiver.snapshot("/key")
        kill_times = [at for at, _ in kills]
        order_violations = []
        for life in range(len(kills) + 1):
            in_life = [r for r in keyed_requests if lifetime(r, kill_times) == life]
            first_try, success = {}, {}
            for r in in_life:
                first_try.setdefault(r.webhook_id, r)
                if r.ok:
                    success.setdefault(r.webhook_id, r)
            by_key = defaultdict(list)
            for ce_id in first_try:
                p, n = offset_of[ce_id]
                by_key[(p, n % KEYS)].append(n)
            for (p, k), numbers in by_key.items():
                numbers.sort()
                for earlier, later in zip(numbers, numbers[1:]):
                    e, l_ = f"c-{p}-{earlier}", f"c-{p}-{later}"
                    done = success.get(e)
                    if done is None or first_try[l_].arrived_mono < done.answered_mono:
                        order_violations.append((life, e, l_))
        keyed_delivered = Counter(r.webhook_id for r in keyed_requests if r.ok)
        keyed_duplicates = sum(c - 1 for c in keyed_delivered.values())
        print(f"key ordering: {len(keyed_requests)} requests, {keyed_duplicates} duplicates, "
              f"{len(order_violations)} order violations {order_violations[:5]}")

        requests = receiver.snapshot("/none")
        delivered = Counter(r.webhook_id for r in requests if r.ok)
        missing = all_ids - set(delivered)
        assert not missing, f"{len(missing)} events never delivered, e.g. {sorted(missing)[:10]}"
        unknown = set(delivered) - all_ids
        assert not unknown, f"deliveries of unknown events: {sorted(unknown)[:10]}"
        duplicates = sum(c - 1 for c in delivered.values())
        unverified = []
        for request in requests:
            if request.ok:
                try:
                    verify(secret, request)
                except Exception as error:
                    unverified.append((request.webhook_id, str(error), request.headers, request.body[:80]))
        assert not unverified, f"{len(unverified)} deliveries fail signature verification: {unverified[:3]}"

        # Duplicates are bounded by what finished since the last commit before each kill, plus
        # what was in flight then (answered after the server died): successes that arrived in the
        # 2 s before each kill.
        bound = sum(sum(1 for r in requests if r.ok and at - 2 * COMMIT_INTERVAL <= r.arrived_mono <= at)
                    for at in kill_times)
        # Each duplicate's earlier success was sent shortly before a kill (after the last commit,
        # or still in flight): an event that finished well before a crash is not delivered again,
        # and none is delivered twice by one server lifetime.
        stale = []
        ages = []  # seconds from a duplicate's earlier success to the kill
        successes = defaultdict(list)
        for r in requests:
            if r.ok:
                successes[r.webhook_id].append(r)
        for ce_id, items in successes.items():
            items.sort(key=lambda r: (lifetime(r, kill_times), r.arrived_mono))
            for earlier, later in zip(items, items[1:]):
                first_life, second_life = lifetime(earlier, kill_times), lifetime(later, kill_times)
                kills_between = kill_times[first_life:second_life]
                if not kills_between:
                    stale.append((ce_id, "twice in one server lifetime",
                                  round(earlier.arrived_mono - started, 2), round(later.arrived_mono - started, 2)))
                else:
                    ages.append(kills_between[0] - earlier.answered_mono)
                if kills_between and kills_between[0] - earlier.answered_mono > 2 * COMMIT_INTERVAL:
                    stale.append((ce_id, "finished long before the kill", round(kills_between[0] - earlier.answered_mono, 2)))
        ages.sort()
        print(f"duplicates: {duplicates}; redeliveries not explained by a recent kill: {len(stale)} {stale[:5]}; "
              f"success→kill of duplicates: median {ages[len(ages) // 2] if ages else 0:.2f}s, "
              f"max {ages[-1] if ages else 0:.2f}s")

        # Retry schedules resumed: attempt numbers of the late events.
        wait_until(lambda: LATE <= {a["webhookId"] for a in attempts(hub.bootstrap, sub["id"])
                                    if a["outcome"] == "delivered"}, timeout=10,
                   what="the late events' delivered attempts in __attempts")
        rows = attempts(hub.bootstrap, sub["id"])
        by_id = defaultdict(list)
        for row in rows:
            if row["webhookId"] in LATE:
                by_id[row["webhookId"]].append(row)
        report = []
        for late in sorted(LATE):
            numbers = [row["attempt"] for row in sorted(by_id[late], key=lambda a: a["at"])]
            received = len([r for r in requests if r.webhook_id == late])
            final = max(numbers)
            drops = [a - b for a, b in zip(numbers, numbers[1:]) if b <= a]
            report.append(f"{late}: {received} requests, attempt numbers {numbers}")
            print(report[-1])
            # (__attempts is appended in batches: the records of the last second before a kill
            # may be lost, so the first recorded number can be above 1.)
            # Across 5 restarts the numbers go on; at a restart they may step back by the attempts
            # made after the last commit (at most 1-2 with 2 s steps and 1 s commits), never to 1.
            assert all(d <= 2 for d in drops), f"{late}: attempt numbers stepped back by {drops}: {numbers}"
            assert received - final <= 2 * len(kills), (
                f"{late}: the receiver got {received} requests but the last attempt is number {final}: "
                f"the retry schedule restarted after a crash ({numbers})")
            assert final >= 8, f"{late}: only {final} attempts — the event did not live across the restarts"
            assert late_requests_before[late] >= 6
        # The late events' attempts span several server lifetimes.
        late_times = sorted(r.arrived_mono for r in requests if r.webhook_id in LATE)
        spanned = sum(1 for i, t0 in enumerate(lifetimes)
                      if any(t0 <= t < (lifetimes[i + 1] if i + 1 < len(lifetimes) else float("inf"))
                             for t in late_times))
        assert spanned >= 4, f"the late events were tried in only {spanned} server lifetimes"

        view = hub.wait_caught_up(sub["id"], timeout=10)
        assert view["counts"]["deadLettered"] == 0
        hub.wait_caught_up(keyed["id"], timeout=10)
        summary = (f"at-least-once across {len(kills)} SIGKILLs: {len(all_ids)} events, {len(requests)} requests, "
                   f"{sum(delivered.values())} deliveries, {duplicates} duplicates (bound {bound}), "
                   f"{elapsed:.1f}s; kills at {[d for _, d in kills]} delivered; key ordering: "
                   f"{keyed_duplicates} duplicates, {len(order_violations)} order violations")
        compat_report.append(summary)
        for line in report:
            compat_report.append("  " + line)
        print(summary)
        print("\n".join(report))
        assert duplicates <= bound, f"{duplicates} duplicates, more than finished before the kills ({bound})"
        assert not stale, (f"{len(stale)} events delivered again though they had finished well before a crash "
                           f"(more than {2 * COMMIT_INTERVAL:.0f} s, the cursors are committed every "
                           f"{COMMIT_INTERVAL:.0f} s) or without one: {stale[:10]}")
        assert not order_violations, (
            f"key ordering: a record was sent before the earlier record of its key succeeded in the same "
            f"server lifetime (lifetime, earlier, later): {order_violations[:10]}")
        hub.server.assert_stops_cleanly()
    finally:
        receiver.close()
