"""Helpers shared by the HTTP API tests (test_http_*.py); no tests of its own.

A small HTTP client on http.client (one connection per request, raw bytes in and out, so a
test sees exactly what the server sent), the check of the API's error body, a Kafka read-back
with confluent-kafka, Kafka's murmur2 partitioner in Python, and the server's RSS.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from confluent_kafka import Consumer, KafkaError, TopicPartition

from conftest import HooklogServer

ERROR_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class Resp:
    status: int
    headers: dict  # lower-case name -> value (last one wins)
    body: bytes
    header_list: list = field(default_factory=list)

    def json(self):
        assert self.headers.get("content-type", "").startswith("application/json"), (
            f"{self.status} answered content-type {self.headers.get('content-type')!r}: {self.body[:300]!r}")
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise AssertionError(f"{self.status} answered invalid JSON ({error}): {self.body[:300]!r}")

    def __repr__(self):
        return f"<{self.status} {self.body[:400]!r}>"


class Http:
    """Requests to one base URL, optionally with an Authorization header on every request."""

    def __init__(self, base_url: str, authorization: Optional[str] = None):
        parts = urlsplit(base_url)
        self.base_url = base_url
        self.host = parts.hostname
        self.port = parts.port
        self.authorization = authorization

    def with_auth(self, authorization: Optional[str]) -> "Http":
        return Http(self.base_url, authorization)

    def request(self, method: str, path: str, body=None, headers=None, json_body=None, timeout=30.0,
                auth=True) -> Resp:
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        if auth and self.authorization and "Authorization" not in headers:
            headers["Authorization"] = self.authorization
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            header_list = response.getheaders()
        finally:
            connection.close()
        return Resp(response.status, {k.lower(): v for k, v in header_list}, data, header_list)

    def get(self, path, **kw) -> Resp:
        return self.request("GET", path, **kw)

    def post(self, path, json_body=None, **kw) -> Resp:
        return self.request("POST", path, json_body=json_body, **kw)

    def patch(self, path, json_body=None, **kw) -> Resp:
        return self.request("PATCH", path, json_body=json_body, **kw)

    def delete(self, path, **kw) -> Resp:
        return self.request("DELETE", path, **kw)

    # Shortcuts that also check the happy answer.

    def create_topic(self, name: str, partitions: int = 3, config: Optional[dict] = None) -> dict:
        body = {"name": name, "partitions": partitions}
        if config is not None:
            body["config"] = config
        resp = self.post("/topics", body)
        assert resp.status == 201, f"POST /topics {body}: {resp}"
        return resp.json()

    def topic(self, name: str) -> dict:
        resp = self.get(f"/topics/{name}")
        assert resp.status == 200, f"GET /topics/{name}: {resp}"
        return resp.json()

    def end_offsets(self, name: str) -> list:
        return [p["endOffset"] for p in self.topic(name)["partitions"]]

    def subscribe(self, topic: str, body: dict) -> dict:
        resp = self.post(f"/topics/{topic}/subscribe", body)
        assert resp.status == 201, f"subscribe {body}: {resp}"
        return resp.json()

    def subscription(self, sub_id: str) -> dict:
        resp = self.get(f"/subscriptions/{sub_id}")
        assert resp.status == 200, f"GET /subscriptions/{sub_id}: {resp}"
        return resp.json()


def assert_error(resp: Resp, status: int, code=None, message_contains: Optional[str] = None) -> dict:
    """The API's error answer: `status`, JSON `{"error": {"code", "message"}}` and nothing else."""
    assert resp.status == status, f"expected {status} ({code}), got {resp}"
    assert resp.headers.get("content-type", "").startswith("application/json"), (
        f"error {resp.status} has content-type {resp.headers.get('content-type')!r}: {resp.body[:200]!r}")
    body = resp.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"error body is not {{'error': ...}}: {body}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, f"error object keys: {error}"
    assert isinstance(error["code"], str) and ERROR_CODE.match(error["code"]), f"error code {error['code']!r}"
    assert isinstance(error["message"], str) and error["message"].strip(), f"empty error message: {error}"
    if code is not None:
        codes = (code,) if isinstance(code, str) else tuple(code)
        assert error["code"] in codes, f"expected code {codes}, got {error}"
    if message_contains is not None:
        assert message_contains in error["message"], f"message {error['message']!r} lacks {message_contains!r}"
    return error


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def bearer(key_id: str, secret: str) -> str:
    return f"Bearer {key_id}:{secret}"


def basic(key_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()


# --------------------------------------------------------------------------
# Reading records back over the Kafka protocol (confluent-kafka / librdkafka)
# --------------------------------------------------------------------------


@dataclass
class Record:
    partition: int
    offset: int
    key: Optional[bytes]
    value: Optional[bytes]
    headers: list  # [(name, bytes)]
    timestamp: int

    def header(self, name: str) -> Optional[bytes]:
        values = [v for k, v in self.headers if k == name]
        assert len(values) <= 1, f"header {name} appears {len(values)} times: {self.headers}"
        return values[0] if values else None

    @property
    def header_dict(self) -> dict:
        return {k: v for k, v in self.headers}


def read_partition(bootstrap: str, topic: str, partition: int, start: int = 0, timeout: float = 20.0) -> list:
    """Every record of topic-partition from `start` to the high watermark, via librdkafka."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "http-tests-readback-" + uuid.uuid4().hex[:8],
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "api.version.request": True,
        "fetch.max.bytes": 50 << 20,
        "max.partition.fetch.bytes": 20 << 20,
        "receive.message.max.bytes": 60 << 20,
    })
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        start = max(start, low)  # retention may have moved the log start past `start`
        records = []
        if high <= start:
            return records
        consumer.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    if records and records[-1].offset >= high - 1:
                        break
                    continue
                raise AssertionError(f"reading {topic}-{partition}: {message.error()}")
            records.append(Record(message.partition(), message.offset(), message.key(), message.value(),
                                  list(message.headers() or []), message.timestamp()[1]))
            if message.offset() >= high - 1:
                break
        assert records and records[-1].offset == high - 1, (
            f"read {len(records)} records of {topic}-{partition} from {start}, high watermark {high}")
        return records
    finally:
        consumer.close()


def read_one(bootstrap: str, topic: str, partition: int, offset: int) -> Record:
    records = [r for r in read_partition(bootstrap, topic, partition, offset) if r.offset == offset]
    assert records, f"no record at {topic}-{partition}@{offset}"
    return records[0]


# --------------------------------------------------------------------------
# Kafka's default partitioner (Java: Utils.murmur2, toPositive(hash) % partitions)
# --------------------------------------------------------------------------


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as a signed 32-bit int."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(length // 4):
        i4 = i * 4
        k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r  # Java's >>> on an int
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length & ~3
    extra = length % 4
    if extra == 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def kafka_partition(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# --------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------


def rss_kib(server: HooklogServer) -> int:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/PID/status")


def wait_healthy(http: Http, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = http.get("/healthz", timeout=2)
            if last.status == 200:
                return last
        except OSError as error:
            last = error
        time.sleep(0.05)
    raise AssertionError(f"/healthz not 200 within {timeout} s: {last}")


def routes_in_sources(repo_root: Path) -> set:
    """(METHOD, /path/{param}) of every route the HTTP API declares in Sources/HubServer/HTTP:
    `router.get("...")` (Hummingbird's helpers) or `router.route(.get, "...", in: routes)`."""
    patterns = [
        re.compile(r'\brouter\.(get|post|put|patch|delete|head)\(\s*"([^"]+)"'),
        re.compile(r'\brouter\.route\(\s*\.(get|post|put|patch|delete|head)\s*,\s*"([^"]+)"'),
    ]
    routes = set()
    for source in sorted((repo_root / "Sources" / "HubServer" / "HTTP").glob("*.swift")):
        text = source.read_text()
        for pattern in patterns:
            for method, path in pattern.findall(text):
                routes.add((method.upper(), re.sub(r":([A-Za-z_][A-Za-z0-9_]*)", r"{\1}", path)))
    return routes
