"""Hostile HTTP input: the server answers 4xx, keeps serving others, and its memory stays bounded.

Malformed and deeply nested JSON (100,000 '['), bad UTF-8, a huge Content-Length with a small
body, bodies shorter than their Content-Length, clients sending headers byte by byte, many
stalled connections at once, garbage request lines, oversized headers and malformed chunked
bodies. One server with `--http-idle-timeout 1` serves the module; every test ends by checking
it is still up and answering.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from conftest import start_hooklog_server, served
from test_http_common import Http, Resp, assert_error, rss_kib, unique, wait_healthy

IDLE_TIMEOUT_S = 1
SLACK_S = 3  # on top of the idle timeout, for a busy 2-core machine


@pytest.fixture(scope="module")
def hostile(hooklog_bin, tmp_path_factory):
    server = start_hooklog_server(hooklog_bin, tmp_path_factory.mktemp("http-hostile"),
                                  ["--num-partitions", "1", "--http-idle-timeout", str(IDLE_TIMEOUT_S)])
    with served(server):
        yield server


@pytest.fixture(scope="module")
def api(hostile) -> Http:
    return Http(hostile.http_url)


@pytest.fixture(scope="module")
def sub_id(api) -> str:
    topic = unique("hostile")
    api.create_topic(topic, partitions=1)
    return api.subscribe(topic, {"url": "https://hooks.example.invalid/h"})["id"]


@pytest.fixture(autouse=True)
def still_serving(hostile, api):
    yield
    assert hostile.running, "hooklog serve died:\n" + "\n".join(hostile.log_lines()[-30:])
    wait_healthy(api)


def connect(api: Http, timeout=10.0) -> socket.socket:
    sock = socket.create_connection((api.host, api.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    except socket.timeout:
        raise AssertionError(f"the server kept the connection open for {timeout} s; got {data[:200]!r}")
    except ConnectionResetError:
        return data


def status_of(raw: bytes) -> int:
    assert raw.startswith(b"HTTP/1.1 "), f"not an HTTP response: {raw[:200]!r}"
    return int(raw[9:12])


def raw_request(api: Http, data: bytes, timeout=10.0) -> bytes:
    """Sends raw bytes, then reads one response (or until the server closes)."""
    sock = connect(api)
    try:
        sock.sendall(data)
        sock.settimeout(timeout)
        response = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            response += chunk
            head, sep, body = response.partition(b"\r\n\r\n")
            if sep:
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
        return response
    finally:
        sock.close()


def as_resp(raw: bytes) -> Resp:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Resp(status_of(raw), headers, body)


JSON_BOMBS = {
    "unclosed": b"{",
    "deep-arrays": b"[" * 100_000,
    "deep-objects": b'{"a":' * 100_000,
    "trailing-comma": b'{"name": "trailing-comma",}',
    "control-bytes": b"\x00\x01\x02",
    "bad-literal": b"nul",
    "unterminated-string": b'"unterminated',
    "not-utf8": b"\xff\xfe\xfd",
    "bad-utf8-in-string": b'{"name": "\xc3\x28"}',
    "encoded-surrogate": b'{"url": "https://a.invalid/\xed\xa0\x80"}',
    "huge-exponent": b"1e999999",
}
CE_BOMBS = {
    "deep-data": b'{"specversion":"1.0","id":"a","source":"/s","type":"t","data":' + b"[" * 100_000,
    "deep-balanced-data": b'{"specversion":"1.0","id":"a","source":"/s","type":"t","data":'
                          + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "deep-batch-element": b'[{"specversion":"1.0","id":"a","source":"/s","type":"t","data":'
                          + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}]",
}


@pytest.mark.parametrize("bomb", list(JSON_BOMBS), ids=list(JSON_BOMBS))
def test_malformed_deep_and_non_utf8_json_is_400(api, sub_id, bomb):
    topic = unique("bombs")
    api.create_topic(topic, partitions=1)
    routes = [("POST", "/topics"), ("POST", f"/topics/{topic}/subscribe"), ("POST", f"/topics/{topic}/unsubscribe"),
              ("PATCH", f"/subscriptions/{sub_id}"), ("POST", f"/subscriptions/{sub_id}/replay")]
    for method, path in routes:
        resp = api.request(method, path, body=JSON_BOMBS[bomb], headers={"Content-Type": "application/json"})
        try:
            assert_error(resp, 400)
        except AssertionError as error:
            raise AssertionError(f"{method} {path}: {error}") from None
    assert bomb not in [t["name"] for t in api.get("/topics").json()["topics"]]


@pytest.mark.parametrize("bomb", list(JSON_BOMBS) + list(CE_BOMBS))
def test_malformed_deep_and_non_utf8_cloudevents_are_400(api, bomb):
    topic = unique("ce-bombs")
    api.create_topic(topic, partitions=1)
    body = JSON_BOMBS.get(bomb) or CE_BOMBS[bomb]
    for content_type in ("application/cloudevents+json", "application/cloudevents-batch+json"):
        resp = api.request("POST", f"/topics/{topic}/events", body=body, headers={"Content-Type": content_type})
        assert_error(resp, 400, "invalid_cloudevent")
    assert api.end_offsets(topic) == [0]


def test_huge_content_length_is_413_at_once(api):
    topic = unique("hugecl")
    for path in (f"/topics/{topic}/events", "/topics", f"/topics/{topic}/subscribe"):
        started = time.monotonic()
        raw = raw_request(api, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n"
                               "Content-Type: application/json\r\n\r\n{}".encode())
        assert time.monotonic() - started < 2, "413 came only after waiting for the body"
        assert_error(as_resp(raw), 413, "payload_too_large")


@pytest.mark.parametrize("length", [b"99999999999999999999999999", b"-1", b"12abc", b"1, 2"])
def test_invalid_content_length_is_400(api, length):
    raw = raw_request(api, b"POST /topics HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}")
    assert status_of(raw) == 400, raw[:200]


def test_body_shorter_than_content_length_times_out_while_others_are_served(api):
    sock = connect(api)
    try:
        started = time.monotonic()
        sock.sendall(b"POST /topics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 5000\r\n\r\n{\"na")
        for _ in range(5):
            t = time.monotonic()
            assert api.get("/healthz", timeout=5).status == 200
            assert time.monotonic() - t < 1, "a stalled upload holds up other clients"
        leftover = read_until_closed(sock, IDLE_TIMEOUT_S + SLACK_S)
        assert time.monotonic() - started <= IDLE_TIMEOUT_S + SLACK_S
        assert leftover == b"" or 400 <= status_of(leftover) < 500, leftover[:200]
    finally:
        sock.close()


def test_headers_sent_byte_by_byte_are_cut_off(api):
    """A client trickling its headers one byte at a time (slowloris) is closed, others are served."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 400 + b"\r\n\r\n"
    outcome = {}

    def trickle():
        sock = connect(api)
        started = time.monotonic()
        try:
            sock.settimeout(0.01)
            for byte in request:
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    outcome["closed_after"] = time.monotonic() - started
                    return
                try:
                    data = sock.recv(4096)
                    outcome["closed_after"] = time.monotonic() - started
                    outcome["data"] = data
                    return
                except socket.timeout:
                    pass
                except OSError:
                    outcome["closed_after"] = time.monotonic() - started
                    return
                time.sleep(0.2)
                if time.monotonic() - started > IDLE_TIMEOUT_S + SLACK_S + 2:
                    return
        finally:
            sock.close()

    thread = threading.Thread(target=trickle, name="slowloris")
    thread.start()
    served = []
    while thread.is_alive() and len(served) < 40:
        t = time.monotonic()
        assert api.get("/healthz", timeout=5).status == 200
        served.append(time.monotonic() - t)
        time.sleep(0.05)
    thread.join(IDLE_TIMEOUT_S + SLACK_S + 5)
    assert max(served) < 1, f"healthz took up to {max(served):.2f} s while a client trickled headers"
    assert "closed_after" in outcome, "the server kept a connection that sent one header byte every 0.2 s"
    assert outcome["closed_after"] <= IDLE_TIMEOUT_S + SLACK_S, outcome
    assert not outcome.get("data") or 400 <= status_of(outcome["data"]) < 500, outcome


def test_many_stalled_connections(api):
    socks = []
    try:
        for n in range(64):
            sock = connect(api)
            sock.sendall(b"GET /topics HTTP/1.1\r\nHost: x\r\nX-Part: " + b"b" * n)
            socks.append(sock)
        for _ in range(5):
            t = time.monotonic()
            assert api.get("/topics", timeout=5).status == 200
            assert time.monotonic() - t < 1
        deadline = time.monotonic() + IDLE_TIMEOUT_S + SLACK_S
        for sock in socks:
            read_until_closed(sock, max(0.1, deadline - time.monotonic()))
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello
    b"POST /topics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
])
def test_garbage_requests_get_4xx_or_close(api, raw):
    response = raw_request(api, raw)
    assert response == b"" or 400 <= status_of(response) < 500, response[:200]


def test_malformed_chunked_body_is_a_400(api):
    raw = raw_request(api, b"POST /topics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
    assert raw == b"" or 400 <= status_of(raw) < 500, raw[:300]


def test_bad_bytes_in_cloudevents_headers(api):
    topic = unique("hdr")
    api.create_topic(topic, partitions=1)
    for value in (b"\xff\xfe", b"%FF%FE", b"caf\xc3\xa9"):
        raw = raw_request(api, f"POST /topics/{topic}/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n".encode()
                          + b"ce-subject: " + value + b"\r\n\r\nx")
        assert status_of(raw) in (201, 400), raw[:300]


def test_memory_stays_bounded(hostile, api, compat_report):
    """Refused big and hostile bodies are not kept: RSS grows little, and not again on a second round."""
    topic = unique("rss")
    api.create_topic(topic, partitions=1)
    almost = b'{"specversion":"1.0","id":"a","source":"/s","type":"t","data":"' + b"x" * (10 * (1 << 20) - 200)
    over = b"x" * (10 * (1 << 20) + 1)
    deep = b"[" * 1_000_000

    def barrage():
        for _ in range(5):
            assert_error(api.post(f"/topics/{topic}/events", body=almost,
                                  headers={"Content-Type": "application/cloudevents+json"}), 400)
            assert_error(api.post(f"/topics/{topic}/events", body=over), 413)
            assert_error(api.post("/topics", body=deep, headers={"Content-Type": "application/json"}), 400)
            assert_error(api.post(f"/topics/{topic}/events", body=deep,
                                  headers={"Content-Type": "application/cloudevents-batch+json"}), 400)

    baseline = rss_kib(hostile)
    barrage()
    first = rss_kib(hostile)
    barrage()
    barrage()
    second = rss_kib(hostile)
    mib = lambda kib: kib / 1024  # noqa: E731
    compat_report.append(f"HTTP hostile bodies: hooklog serve RSS {mib(baseline):.0f} MiB -> {mib(first):.0f} MiB "
                         f"(1 round) -> {mib(second):.0f} MiB (3 rounds of ~105 MB refused bodies)")
    assert first - baseline < 120 * 1024, f"RSS {mib(baseline):.0f} -> {mib(first):.0f} MiB after ~105 MB of refused bodies"
    assert second - first < 32 * 1024, f"RSS kept growing: {mib(baseline):.0f} -> {mib(first):.0f} -> {mib(second):.0f} MiB"
    assert api.end_offsets(topic) == [0]
