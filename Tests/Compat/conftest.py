"""Shared fixtures for the Kafka compatibility tests.

Run from the repository root:
    Scripts/python-venv.sh && .venv/bin/python -m pytest Tests/Compat -q

The hooklog binary comes from $HOOKLOG_BIN, or <repo>/.build/debug/hooklog
(build it with `swift build`). A missing binary is a test failure, not a skip:
these tests exist to prove the segment format, and silently skipping them
would hide that nothing was checked.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HOOKLOG_BIN = REPO_ROOT / ".build" / "debug" / "hooklog"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def hooklog_bin() -> Path:
    """Absolute path of the hooklog executable under test."""
    configured = os.environ.get("HOOKLOG_BIN")
    path = Path(configured).expanduser() if configured else DEFAULT_HOOKLOG_BIN
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    source = "HOOKLOG_BIN" if configured else "default location"
    if not path.is_file():
        pytest.fail(
            f"hooklog binary not found at {path} ({source}). "
            "Build it first (`swift build` in the repository root) "
            "or point HOOKLOG_BIN at it.",
            pytrace=False,
        )
    if not os.access(path, os.X_OK):
        pytest.fail(f"hooklog binary at {path} ({source}) is not executable", pytrace=False)
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh, not-yet-existing data directory for one test.

    It is deliberately not created: `hooklog append` must create it.
    """
    return tmp_path / "data"


# --------------------------------------------------------------------------
# A running `hooklog serve` for the real-client tests (test_kafka_clients.py)
# --------------------------------------------------------------------------

SERVE_START_TIMEOUT_S = 30
SERVE_STOP_TIMEOUT_S = 20
_SERVING = re.compile(r"\bkafka=(\S+)")
_SERVING_HTTP = re.compile(r"\bhttp=(\S+)")


class HooklogServer:
    """One `hooklog serve` process on a free port, its stderr kept in a file.

    `mark()` / `log_since(mark)` give the server log lines one test caused, so a
    test can show the server's side of a client failure (the `closing Kafka
    connection` lines carry the reason the server dropped a client).
    """

    def __init__(self, hooklog_bin: Path, data_dir: Path, log_path: Path, args=(), listen="127.0.0.1:0",
                 http_listen="127.0.0.1:0"):
        self.data_dir = data_dir
        self.log_path = log_path
        self.command = [
            str(hooklog_bin), "serve",
            "--data-dir", str(data_dir),
            "--kafka-listen", listen,
            "--http-listen", http_listen,
            *args,
        ]
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.host, self.port, self.http_url = self._wait_ready()
        self.bootstrap = f"{self.host}:{self.port}"
        self.returncode = None

    def _wait_ready(self):
        deadline = time.monotonic() + SERVE_START_TIMEOUT_S
        while time.monotonic() < deadline:
            for line in self.log_lines():
                if "hooklog serving" in line:
                    match = _SERVING.search(line)
                    assert match, f"no kafka=HOST:PORT in the ready line: {line!r}"
                    host, _, port = match.group(1).rpartition(":")
                    http = _SERVING_HTTP.search(line)
                    http_url = None
                    if http and http.group(1) != "off":
                        http_host, _, http_port = http.group(1).rpartition(":")
                        if http_host in ("0.0.0.0", "::"):
                            http_host = "127.0.0.1"
                        http_url = f"http://{http_host}:{http_port}"
                    return host.strip("[]"), int(port), http_url
            if self.process.poll() is not None:
                raise AssertionError(
                    f"`{' '.join(self.command)}` exited {self.process.returncode} before it was "
                    f"ready; its log:\n{self.log_text()}"
                )
            time.sleep(0.02)
        self.process.kill()
        self.process.wait()
        raise AssertionError(
            f"`{' '.join(self.command)}` did not log 'hooklog serving' within "
            f"{SERVE_START_TIMEOUT_S} s; its log:\n{self.log_text()}"
        )

    def log_text(self) -> str:
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_lines(self) -> list:
        return self.log_text().splitlines()

    def mark(self) -> int:
        return len(self.log_lines())

    def log_since(self, mark: int) -> list:
        return self.log_lines()[mark:]

    def connection_closes_since(self, mark: int) -> list:
        """Server log lines saying the server dropped a client, with the reason."""
        return [line for line in self.log_since(mark) if "closing Kafka connection" in line]

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        """SIGTERM, then wait; returns the exit status (kills after the timeout)."""
        if self.returncode is not None:
            return self.returncode
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=SERVE_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self._log.close()
                raise AssertionError(
                    f"hooklog serve did not stop within {SERVE_STOP_TIMEOUT_S} s of SIGTERM; "
                    f"log tail:\n" + "\n".join(self.log_lines()[-20:])
                )
        self._log.close()
        self.returncode = self.process.returncode
        return self.returncode

    def kill(self, signum=signal.SIGKILL) -> int:
        """Sends `signum` (SIGKILL by default) and waits for the exit; returns the exit status
        (negative: the signal that ended it)."""
        if self.returncode is not None:
            return self.returncode
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=SERVE_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self._log.close()
                raise AssertionError(f"hooklog serve did not exit within {SERVE_STOP_TIMEOUT_S} s of signal {signum}")
        self._log.close()
        self.returncode = self.process.returncode
        return self.returncode

    def assert_stops_cleanly(self):
        status = self.stop()
        tail = "\n".join(self.log_lines()[-20:])
        assert status == 0, f"hooklog serve exited {status} after SIGTERM; log tail:\n{tail}"
        assert "stopped cleanly" in self.log_text(), f"no 'stopped cleanly' in the log; tail:\n{tail}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (for servers restarted on the same port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start_hooklog_server(hooklog_bin: Path, directory: Path, args=()) -> HooklogServer:
    """Starts `hooklog serve` with its data in directory/data and its log in directory/serve.log."""
    directory.mkdir(parents=True, exist_ok=True)
    return HooklogServer(hooklog_bin, directory / "data", directory / "serve.log", args)


@contextlib.contextmanager
def served(server: HooklogServer):
    """Yields `server`; afterwards, unless a test already stopped it, stops it with SIGTERM, which
    must exit 0. For fixtures: `with served(server): yield server`."""
    try:
        yield server
    finally:
        if server.returncode is None:
            server.assert_stops_cleanly()


@pytest.fixture(scope="module")
def kafka_server(hooklog_bin, tmp_path_factory):
    """A `hooklog serve --num-partitions 3` shared by one test module.

    Stopped with SIGTERM at the end of the module, which must exit 0.
    """
    server = start_hooklog_server(
        hooklog_bin, tmp_path_factory.mktemp("hooklog-serve"), ["--num-partitions", "3"]
    )
    with served(server):
        yield server


@pytest.fixture(scope="module")
def advertised(kafka_server) -> dict:
    """The server's ApiVersions table {api_key: (min, max)}, read with a raw v0 request."""
    return kafka_api_versions(kafka_server.host, kafka_server.port)


@pytest.fixture(scope="session")
def kcat_bin() -> str:
    """kcat is a test dependency (Scripts/install-deps.sh installs it): missing fails."""
    path = shutil.which("kcat")
    if path is None:
        pytest.fail("kcat not found on PATH; install it (apt-get install -y kcat)", pytrace=False)
    return path


# --------------------------------------------------------------------------
# ApiVersions straight off the wire, and what each client negotiated
# --------------------------------------------------------------------------


def kafka_api_versions(host: str, port: int, timeout: float = 5.0) -> dict:
    """The server's ApiVersions table {api_key: (min, max)}, from a raw v0 request."""
    client_id = b"hooklog-compat"
    body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _recv_exactly(sock, 4))[0]
        data = _recv_exactly(sock, size)
    correlation_id, error_code, count = struct.unpack_from(">ihi", data, 0)
    assert correlation_id == 1, f"ApiVersions answered correlation id {correlation_id}"
    assert error_code == 0, f"ApiVersions v0 answered error {error_code}"
    table = {}
    for i in range(count):
        key, low, high = struct.unpack_from(">hhh", data, 10 + 6 * i)
        table[key] = (low, high)
    return table


def _recv_exactly(sock, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise AssertionError("server closed the connection mid-response")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


# client label -> {"advertised": {api: [min, max]}, "used": {api: sorted versions}}
_NEGOTIATED: dict = {}


@pytest.fixture(scope="session")
def negotiated_versions(tmp_path_factory):
    """Collects the API versions each client used; written to a JSON file at the end
    of the session and summarised in the terminal report."""
    path = tmp_path_factory.getbasetemp() / "negotiated-api-versions.json"
    yield _NEGOTIATED
    if _NEGOTIATED:
        path.write_text(json.dumps(_NEGOTIATED, indent=2, sort_keys=True) + "\n")
        _NEGOTIATED["__file__"] = str(path)


# Lines tests add to the run's summary (counts, observed client behaviour).
_REPORT: list = []


@pytest.fixture(scope="session")
def compat_report() -> list:
    """A list a test appends summary lines to; printed at the end of the run."""
    return _REPORT


def pytest_terminal_summary(terminalreporter):
    if _REPORT:
        terminalreporter.section("Hooklog compatibility results")
        for line in _REPORT:
            terminalreporter.write_line(line)
    if not _NEGOTIATED:
        return
    terminalreporter.section("Kafka API versions the clients used against hooklog")
    for client, info in sorted((k, v) for k, v in _NEGOTIATED.items() if k != "__file__"):
        used = ", ".join(
            f"{api} v{'/'.join(str(v) for v in versions)}" for api, versions in sorted(info["used"].items())
        )
        terminalreporter.write_line(f"{client}: {used}")
    if "__file__" in _NEGOTIATED:
        terminalreporter.write_line(f"(details: {_NEGOTIATED['__file__']})")
