"""Helpers shared by the Dispatcher tests (test_dispatcher_*.py); no tests of its own.

A `hooklog serve` per test or module (with `--callback-allow 127.0.0.0/8`, so loopback
receivers pass the SSRF guard), a small client of its HTTP API, Kafka read-back of the internal
topics (`__attempts`, `__deadletters`) and of `hooklog.operational`, a fast Kafka producer, and
Standard Webhooks verification with the PyPI `standardwebhooks` library.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import quote, urlsplit

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from conftest import HooklogServer
from test_http_common import read_partition

LOOPBACK_ALLOWED = ["--callback-allow", "127.0.0.0/8"]


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.05,
               what: str = "a condition"):
    """Polls predicate() until it returns something truthy (which is returned)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------
# The hub: a `hooklog serve` and its HTTP API
# --------------------------------------------------------------------------------------------


class ApiError(AssertionError):
    pass


class Hub:
    """A running `hooklog serve` and a client of its HTTP API."""

    def __init__(self, server: HooklogServer):
        self.server = server
        self.http_url = server.http_url
        parts = urlsplit(server.http_url)
        self.host, self.port = parts.hostname, parts.port
        self.bootstrap = server.bootstrap

    # -- raw requests --------------------------------------------------------------------------

    def request(self, method: str, path: str, json_body=None, body: Optional[bytes] = None,
                headers: Optional[dict] = None, timeout: float = 30.0):
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, data
        finally:
            connection.close()

    def call(self, method: str, path: str, json_body=None, expect=(200, 201, 204), **kw):
        status, data = self.request(method, path, json_body=json_body, **kw)
        if status not in expect:
            raise ApiError(f"{method} {path} answered {status}: {data[:500]!r}")
        return json.loads(data) if data else None

    # -- topics and events ---------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1, config: Optional[dict] = None) -> dict:
        body = {"name": name, "partitions": partitions}
        if config:
            body["config"] = config
        return self.call("POST", "/topics", body)

    def end_offsets(self, topic: str) -> list:
        detail = self.call("GET", f"/topics/{quote(topic)}")
        return [p["endOffset"] for p in sorted(detail["partitions"], key=lambda p: p["partition"])]

    def post_event(self, topic: str, data=b"{}", ce_type: Optional[str] = None, ce_id: Optional[str] = None,
                   key: Optional[str] = None, partition: Optional[int] = None,
                   content_type: Optional[str] = "application/json", source: Optional[str] = "/tests",
                   extra: Optional[dict] = None, cloud_event: bool = True) -> dict:
        """Appends one event in CloudEvents binary mode; returns {id, partition, offset}."""
        if isinstance(data, (dict, list)):
            data = json.dumps(data).encode()
        elif isinstance(data, str):
            data = data.encode()
        headers = {}
        if cloud_event:
            headers["ce-specversion"] = "1.0"
            headers["ce-id"] = ce_id or uuid.uuid4().hex
            if source:
                headers["ce-source"] = source
            if ce_type:
                headers["ce-type"] = ce_type
            if key is not None:
                headers["ce-partitionkey"] = key
        if content_type:
            headers["Content-Type"] = content_type
        headers.update(extra or {})
        path = f"/topics/{quote(topic)}/events" + (f"?partition={partition}" if partition is not None else "")
        return self.call("POST", path, body=data, headers=headers)

    # -- subscriptions -------------------------------------------------------------------------

    def subscribe(self, topic: str, url: str, **fields) -> dict:
        body = {"url": url, **fields}
        return self.call("POST", f"/topics/{quote(topic)}/subscribe", body)

    def subscription(self, sub_id: str) -> dict:
        return self.call("GET", f"/subscriptions/{sub_id}")

    def patch(self, sub_id: str, body: dict) -> dict:
        return self.call("PATCH", f"/subscriptions/{sub_id}", body)

    def replay(self, sub_id: str, body: dict) -> dict:
        return self.call("POST", f"/subscriptions/{sub_id}/replay", body)

    def wait_state(self, sub_id: str, state: str, timeout: float = 15.0) -> dict:
        return wait_until(lambda: (lambda s: s if s["state"] == state else None)(self.subscription(sub_id)),
                          timeout=timeout, what=f"subscription {sub_id} to be {state}")

    def wait_caught_up(self, sub_id: str, timeout: float = 20.0) -> dict:
        """Waits for lag 0 (the committed cursors at the end of every partition)."""
        return wait_until(lambda: (lambda s: s if s.get("lag") == 0 else None)(self.subscription(sub_id)),
                          timeout=timeout, what=f"subscription {sub_id} to reach lag 0")


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------


class HubFactory:
    """Starts `hooklog serve` processes for a test and stops them all at the end."""

    def __init__(self, hooklog_bin: Path, base: Path):
        self.hooklog_bin = hooklog_bin
        self.base = base
        self.servers: list[HooklogServer] = []
        self.count = 0

    def start(self, *args, data_dir: Optional[Path] = None, name: Optional[str] = None) -> Hub:
        self.count += 1
        directory = self.base / (name or f"hub{self.count}")
        directory.mkdir(parents=True, exist_ok=True)
        data_dir = data_dir or directory / "data"
        log_path = directory / f"serve-{self.count}.log"
        server = HooklogServer(self.hooklog_bin, data_dir, log_path, [*LOOPBACK_ALLOWED, *args])
        self.servers.append(server)
        return Hub(server)

    def stop_all(self):
        errors = []
        for server in self.servers:
            if server.returncode is None:
                try:
                    server.stop()
                except AssertionError as error:
                    errors.append(str(error))
        return errors


@pytest.fixture
def hubs(hooklog_bin, tmp_path):
    factory = HubFactory(hooklog_bin, tmp_path)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="module")
def module_hubs(hooklog_bin, tmp_path_factory):
    factory = HubFactory(hooklog_bin, tmp_path_factory.mktemp("dispatcher"))
    yield factory
    factory.stop_all()


# --------------------------------------------------------------------------------------------
# Kafka: read-back and a fast producer
# --------------------------------------------------------------------------------------------


@dataclass
class KRecord:
    partition: int
    offset: int
    key: Optional[bytes]
    value: Optional[bytes]
    headers: list  # [(name, bytes)]
    timestamp: int

    def header(self, name: str) -> Optional[str]:
        for key, value in self.headers:
            if key == name:
                return value.decode() if value is not None else None
        return None

    @property
    def json(self):
        return json.loads(self.value)


def read_topic(bootstrap: str, topic: str, partition: int = 0, start: int = 0, timeout: float = 15.0) -> list:
    """Every record of topic-partition from `start` to its high watermark now."""
    return [KRecord(r.partition, r.offset, r.key, r.value, r.headers, r.timestamp)
            for r in read_partition(bootstrap, topic, partition, start, timeout)]


def attempts(bootstrap: str, subscription_id: Optional[str] = None) -> list:
    """The `__attempts` records (parsed JSON), oldest first, optionally of one subscription."""
    rows = [r.json for r in read_topic(bootstrap, "__attempts")]
    return [a for a in rows if subscription_id is None or a["subscriptionId"] == subscription_id]


def operational_events(bootstrap: str, subscription_id: Optional[str] = None) -> list:
    """`hooklog.operational` records as (ce_type, JSON body), optionally of one subscription."""
    try:
        records = read_topic(bootstrap, "hooklog.operational")
    except Exception as error:  # the topic does not exist before the first state change
        if "UNKNOWN_TOPIC" in str(error) or "Unknown topic" in str(error):
            return []
        raise
    rows = [(r.header("ce_type"), r.json, r) for r in records]
    return [row for row in rows if subscription_id is None or row[1].get("subscriptionId") == subscription_id]


def produce(bootstrap: str, topic: str, records, timeout: float = 60.0):
    """Produces records (dicts with partition, key, value, headers, timestamp) with acks=all."""
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "linger.ms": 5,
        "acks": "all",
        "enable.idempotence": False,
        "compression.type": "none",
        "batch.num.messages": 1000,
    })
    failures = []

    def report(error, message):
        if error is not None:
            failures.append(error)

    for record in records:
        while True:
            try:
                producer.produce(topic, value=record.get("value"), key=record.get("key"),
                                 partition=record.get("partition", -1), headers=record.get("headers"),
                                 timestamp=record.get("timestamp", 0), on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(timeout)
    assert left == 0, f"{left} records not acknowledged within {timeout}s"
    assert not failures, f"produce failures: {failures[:5]}"


# --------------------------------------------------------------------------------------------
# Standard Webhooks
# --------------------------------------------------------------------------------------------


def verify(secret: str, request) -> None:
    """Verifies a received request with the reference library (raises on failure)."""
    Webhook(secret).verify(request.body, request.headers, json_parse=False)


def verifies(secret: str, request) -> bool:
    try:
        verify(secret, request)
        return True
    except WebhookVerificationError:
        return False


def timeline(receiver, path=None) -> str:
    """The requests a receiver got, one line each, for failure messages."""
    lines = []
    start = None
    for r in receiver.snapshot(path):
        start = start if start is not None else r.arrived_mono
        end = f"{r.answered_mono - start:7.3f}" if r.answered_mono else "   -   "
        lines.append(f"#{r.seq:<4} {r.arrived_mono - start:7.3f}→{end} {r.path} id={r.webhook_id} "
                     f"try={r.attempt_no} status={'RST' if r.reset else r.status} inflight={r.in_flight_path}")
    return "\n".join(lines[-80:])
