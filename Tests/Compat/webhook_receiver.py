"""A real webhook receiver for the Dispatcher tests: a threaded HTTP/1.1 server on loopback.

It records every request (method, path, headers, body, arrival and answer times), answers as a
test scripts it (status, headers such as Retry-After, a body, a delay before answering, or a
connection reset without any answer), and counts the requests in flight, per path, per receiver
and across every receiver of the process, keeping the maximum each count reached.

Counting rule: a request is in flight from the moment its body has been read until just before
its answer is written (or the socket reset). The counter drops *before* the client can see the
answer, so a client that starts its next request as soon as it has the answer is never counted
twice: the maximum is a lower bound of what the client really had open, never an overestimate.

    receiver = Receiver(responder=lambda req: Reply(500) if req.attempt_no == 1 else Reply(204))
    url = receiver.url("/hooks/a")
    ...
    receiver.wait_for(lambda r: len(r.delivered_ids()) == 10)
    receiver.close()
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional


@dataclass
class Reply:
    """How to answer one request."""

    status: int = 204
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    # Seconds to wait (in flight) before answering.
    delay: float = 0.0
    # Close the socket with an RST instead of answering (after `delay`).
    reset: bool = False


@dataclass
class Request:
    """One request the receiver got."""

    seq: int
    method: str
    path: str
    headers: dict  # lower-case name -> value (the last one wins)
    header_list: list  # [(name, value)] as received
    body: bytes
    arrived: float  # time.time()
    arrived_mono: float  # time.monotonic()
    # Nth request with this webhook-id at this receiver path (1 = first).
    attempt_no: int = 1
    # Filled in when answered.
    status: Optional[int] = None
    reset: bool = False
    answered_mono: Optional[float] = None
    # The TCP connection it came on (numbered in accept order) and when that was accepted.
    connection: int = 0
    connection_accepted_mono: float = 0.0
    # In flight at this path / this receiver / globally, counting this one, when it arrived.
    in_flight_path: int = 0
    in_flight_receiver: int = 0
    in_flight_global: int = 0

    @property
    def webhook_id(self) -> Optional[str]:
        return self.headers.get("webhook-id")

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class InFlightMeter:
    """Concurrent requests: current and maximum, under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.current = 0
        self.maximum = 0

    def enter(self) -> int:
        with self.lock:
            self.current += 1
            self.maximum = max(self.maximum, self.current)
            return self.current

    def leave(self):
        with self.lock:
            self.current -= 1

    def reset_maximum(self):
        with self.lock:
            self.maximum = self.current


# Across every receiver of this process.
GLOBAL_IN_FLIGHT = InFlightMeter()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "webhook-receiver"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def do_POST(self):  # noqa: N802
        self.server.receiver._handle(self)

    do_PUT = do_POST
    do_GET = do_POST


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def process_request(self, request, client_address):
        # Stamped on the accepting thread, as soon as the connection is accepted: tells which
        # client process a connection came from when clients come and go (a killed hub).
        self.receiver._connection_accepted(request)
        super().process_request(request, client_address)


class Receiver:
    """A webhook receiver on 127.0.0.1 (a free port unless `port` is given).

    `responder(request) -> Reply` decides each answer (default: 204 at once); it runs on the
    request's thread, may sleep, and may be swapped at any time with `set_responder`.
    """

    def __init__(self, responder: Optional[Callable[[Request], Reply]] = None, port: int = 0,
                 name: str = "receiver"):
        self.name = name
        self.responder = responder or (lambda request: Reply(204))
        self.lock = threading.Condition()
        self.requests: list[Request] = []
        self.in_flight = InFlightMeter()
        self.by_path: dict[str, InFlightMeter] = {}
        self._attempts: dict[tuple, int] = {}
        self._seq = 0
        self._closed = False
        # Requests whose body did not arrive in full (not recorded as requests).
        self.truncated = 0
        self._connections: dict = {}  # socket -> (number, accepted monotonic time)
        self._connection_count = 0
        self.server = _Server(("127.0.0.1", port), _Handler)
        self.server.receiver = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name=f"{name}:{self.port}", daemon=True)
        self.thread.start()

    # -- set-up -----------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/hook") -> str:
        return self.origin + path

    def set_responder(self, responder: Callable[[Request], Reply]):
        self.responder = responder

    def meter(self, path: str) -> InFlightMeter:
        with self.lock:
            return self.by_path.setdefault(path, InFlightMeter())

    def close(self):
        if self._closed:
            return
        self._closed = True
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- what arrived -----------------------------------------------------------------------

    def snapshot(self, path: Optional[str] = None) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def delivered(self, path: Optional[str] = None) -> list[Request]:
        """Requests answered 2xx."""
        return [r for r in self.snapshot(path) if r.ok]

    def delivered_ids(self, path: Optional[str] = None) -> set:
        return {r.webhook_id for r in self.delivered(path)}

    def wait_for(self, predicate: Callable[["Receiver"], bool], timeout: float = 20.0, what: str = "") -> None:
        """Waits until predicate(self) holds; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate(self):
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        answered = [r for r in self.snapshot() if r.status is not None or r.reset]
        raise AssertionError(
            f"{self.name}: timed out after {timeout:.1f}s waiting for {what or 'a condition'}; "
            f"{len(self.snapshot())} requests arrived, {sum(1 for r in answered if r.ok)} answered 2xx")

    # -- serving ----------------------------------------------------------------------------

    def _connection_accepted(self, sock):
        with self.lock:
            self._connection_count += 1
            self._connections[sock] = (self._connection_count, time.monotonic())

    def _handle(self, handler: _Handler):
        length = int(handler.headers.get("Content-Length") or 0)
        try:
            body = handler.rfile.read(length) if length else b""
        except OSError:
            body = b""
        if len(body) < length:
            # The sender went away mid-request (a killed hub): nothing to answer, nothing delivered.
            with self.lock:
                self.truncated += 1
            handler.close_connection = True
            return
        header_list = list(handler.headers.items())
        headers = {k.lower(): v for k, v in header_list}
        path = handler.path
        path_meter = self.meter(path)
        now, mono = time.time(), time.monotonic()
        with self.lock:
            self._seq += 1
            key = (path, headers.get("webhook-id"))
            self._attempts[key] = self._attempts.get(key, 0) + 1
            connection, accepted = self._connections.get(handler.connection, (0, mono))
            request = Request(self._seq, handler.command, path, headers, header_list, body, now, mono,
                              attempt_no=self._attempts[key], connection=connection,
                              connection_accepted_mono=accepted)
            request.in_flight_path = path_meter.enter()
            request.in_flight_receiver = self.in_flight.enter()
            request.in_flight_global = GLOBAL_IN_FLIGHT.enter()
            self.requests.append(request)
            self.lock.notify_all()
        left = False

        def leave():
            nonlocal left
            if not left:
                left = True
                path_meter.leave()
                self.in_flight.leave()
                GLOBAL_IN_FLIGHT.leave()

        try:
            try:
                reply = self.responder(request)
            except Exception as error:  # a broken script answers 599 rather than hanging
                reply = Reply(599, body=f"responder failed: {error!r}".encode())
            if reply.delay > 0:
                time.sleep(reply.delay)
            if reply.reset:
                leave()
                with self.lock:
                    request.reset = True
                    request.answered_mono = time.monotonic()
                    self.lock.notify_all()
                sock = handler.connection
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
                handler.close_connection = True
                try:
                    sock.close()
                except OSError:
                    pass
                return
            leave()
            with self.lock:
                request.status = reply.status
                request.answered_mono = time.monotonic()
                self.lock.notify_all()
            try:
                handler.send_response(reply.status)
                for name, value in reply.headers.items():
                    handler.send_header(name, str(value))
                handler.send_header("Content-Length", str(len(reply.body)))
                handler.end_headers()
                if reply.body:
                    handler.wfile.write(reply.body)
                handler.wfile.flush()
            except OSError:
                handler.close_connection = True
        finally:
            leave()


# ------------------------------------------------------------------------------------------
# Common scripts
# ------------------------------------------------------------------------------------------

def always(status: int = 204, delay: float = 0.0, headers: Optional[dict] = None) -> Callable[[Request], Reply]:
    return lambda request: Reply(status, headers=dict(headers or {}), delay=delay)


def fail_first(n: int, failure: Reply, success: Optional[Reply] = None) -> Callable[[Request], Reply]:
    """Answers `failure` to the first n attempts of each webhook-id, then `success` (204)."""
    success = success or Reply(204)
    return lambda request: failure if request.attempt_no <= n else success
