"""HTTP API authentication, roles and rate limits, against `hooklog serve` with an API-key file.

Keys are made with `hooklog apikeys create` (the secret is printed once). Missing or wrong
credentials get 401 with WWW-Authenticate; a key without the route's role gets 403 (produce can't
subscribe, subscribe can't produce, consume can't create topics, only admin sees internal
topics and /metrics); Basic auth works; /healthz is open; a key over its rate limit gets 429 with
Retry-After, and so does any key over the server's --http-rate-limit.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HooklogServer, start_hooklog_server, served
from test_http_common import Http, assert_error, basic, bearer, unique

INVALID_URL = "https://hooks.example.invalid/auth"
KEYS = {
    "admin-key": "admin",
    "producer": "produce",
    "consumer": "consume",
    "subscriber": "subscribe",
    "prod-cons": "produce,consume",
}


def create_key(hooklog_bin: Path, data_dir: Path, key_id: str, roles: str, rate_limit=None) -> str:
    command = [str(hooklog_bin), "apikeys", "create", key_id, "--roles", roles, "--data-dir", str(data_dir)]
    if rate_limit is not None:
        command += ["--rate-limit", str(rate_limit)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    match = re.search(r"^secret: (\S+)$", result.stdout, re.M)
    assert match, f"no 'secret:' line in {result.stdout!r}"
    return match.group(1)


@pytest.fixture(scope="module")
def keyed(hooklog_bin, tmp_path_factory):
    """A server with five keys plus 'limited' (produce, --rate-limit 1); yields (server, {id: secret})."""
    root = tmp_path_factory.mktemp("http-auth")
    data_dir = root / "data"
    secrets = {key_id: create_key(hooklog_bin, data_dir, key_id, roles) for key_id, roles in KEYS.items()}
    secrets["limited"] = create_key(hooklog_bin, data_dir, "limited", "produce", rate_limit=1)
    server = HooklogServer(hooklog_bin, data_dir, root / "serve.log", ["--num-partitions", "1"])
    with served(server):
        yield server, secrets


@pytest.fixture(scope="module")
def anonymous(keyed) -> Http:
    return Http(keyed[0].http_url)


def as_key(keyed, key_id: str) -> Http:
    server, secrets = keyed
    return Http(server.http_url, bearer(key_id, secrets[key_id]))


@pytest.fixture(scope="module")
def admin(keyed) -> Http:
    return as_key(keyed, "admin-key")


def test_keys_are_stored_hashed(keyed):
    server, secrets = keyed
    stored = (server.data_dir / "api-keys.json").read_text()
    for key_id, secret in secrets.items():
        assert key_id in stored and secret not in stored, f"the secret of {key_id} is in api-keys.json"


def test_missing_or_wrong_credentials_are_401(keyed, anonymous, admin):
    server, secrets = keyed
    topic = unique("auth401")
    admin.create_topic(topic, partitions=1)
    wrong = [
        None,  # no Authorization header
        bearer("admin-key", secrets["admin-key"] + "x"),
        bearer("admin-key", secrets["producer"]),  # another key's secret
        bearer("nobody", secrets["admin-key"]),
        "Bearer",
        "Bearer ",
        f"Token {secrets['admin-key']}",
        basic("admin-key", "wrong"),
        "Basic !!!not-base64!!!",
        secrets["admin-key"],  # no scheme
    ]
    for authorization in wrong:
        headers = {} if authorization is None else {"Authorization": authorization}
        for method, path, body in (("GET", "/topics", None), ("POST", f"/topics/{topic}/events", b"x"),
                                   ("GET", "/metrics", None), ("GET", "/subscriptions", None),
                                   ("GET", "/no/such/route", None)):
            resp = anonymous.request(method, path, body=body, headers=headers)
            assert_error(resp, 401, "unauthorized")
            assert "bearer" in resp.headers.get("www-authenticate", "").lower(), (authorization, resp.headers)
    assert admin.end_offsets(topic) == [0], "an unauthenticated POST appended"


def test_healthz_is_open(anonymous):
    resp = anonymous.get("/healthz")
    assert resp.status == 200 and resp.json()["status"] == "ok", resp


def test_bearer_with_or_without_id_and_basic(keyed, anonymous):
    server, secrets = keyed
    for authorization in (bearer("consumer", secrets["consumer"]), f"Bearer {secrets['consumer']}",
                          basic("consumer", secrets["consumer"]), f"bearer {secrets['consumer']}"):
        resp = anonymous.get("/topics", headers={"Authorization": authorization})
        assert resp.status == 200, (authorization, resp)
        assert isinstance(resp.json()["topics"], list)


def test_roles(keyed, admin):
    topic = unique("roles")
    admin.create_topic(topic, partitions=1)
    assert admin.post(f"/topics/{topic}/events", body=b"seed").status == 201
    sub = admin.subscribe(topic, {"url": INVALID_URL})
    routes = [  # (method, path, body, role needed)
        ("POST", "/topics", lambda: {"name": unique("by-role"), "partitions": 1}, "admin"),
        ("GET", "/topics", None, "consume"),
        ("GET", f"/topics/{topic}", None, "consume"),
        ("DELETE", f"/topics/{unique('absent')}", None, "admin"),
        ("POST", f"/topics/{topic}/events", lambda: b"by role", "produce"),
        ("POST", f"/topics/{topic}/subscribe", lambda: {"url": INVALID_URL}, "subscribe"),
        ("POST", f"/topics/{topic}/unsubscribe", lambda: {"url": "https://never.example.invalid/"}, "subscribe"),
        ("GET", "/subscriptions", None, "subscribe"),
        ("GET", f"/subscriptions/{sub['id']}", None, "subscribe"),
        ("PATCH", f"/subscriptions/{sub['id']}", lambda: {"description": "patched"}, "subscribe"),
        ("POST", f"/subscriptions/{sub['id']}/replay", lambda: {"fromOffset": 0}, "subscribe"),
        ("DELETE", "/subscriptions/sub_absent", None, "subscribe"),
        ("GET", "/groups", None, "consume"),
        ("GET", f"/groups/{unique('absent')}", None, "consume"),
        ("GET", "/metrics", None, "admin"),
    ]
    problems = []
    for key_id, roles in KEYS.items():
        client = as_key(keyed, key_id)
        granted = set(roles.split(","))
        for method, path, make_body, needed in routes:
            body = make_body() if make_body else None
            if isinstance(body, dict):
                resp = client.request(method, path, json_body=body)
            else:
                resp = client.request(method, path, body=body)
            allowed = "admin" in granted or needed in granted
            if allowed and resp.status in (401, 403):
                problems.append(f"{key_id} ({roles}) {method} {path}: {resp}")
            if not allowed:
                try:
                    assert_error(resp, 403, "forbidden")
                except AssertionError as error:
                    problems.append(f"{key_id} ({roles}) {method} {path}: {error}")
    assert not problems, "\n".join(problems)
    # The forbidden attempts changed nothing.
    assert admin.end_offsets(topic) == [4]  # seed + admin-key + producer + prod-cons
    assert {s["topic"] for s in admin.get("/subscriptions").json()["subscriptions"]} == {topic}
    assert len(admin.get(f"/subscriptions?topic={topic}").json()["subscriptions"]) == 3  # seed + subscriber + admin


def test_only_admin_sees_internal_topics(keyed, admin):
    consumer = as_key(keyed, "consumer")
    names = [t["name"] for t in consumer.get("/topics").json()["topics"]]
    assert not [n for n in names if n.startswith("__")], names
    for internal in ("__subscriptions", "__cursors"):
        assert_error(consumer.get(f"/topics/{internal}"), 404, "not_found")
        assert admin.get(f"/topics/{internal}").json()["internal"] is True
    admin_names = [t["name"] for t in admin.get("/topics").json()["topics"]]
    assert "__subscriptions" in admin_names and "__cursors" in admin_names
    # Nobody may post to or delete an internal topic, admin included.
    assert_error(admin.post("/topics/__subscriptions/events", body=b"x"), 403)
    assert_error(as_key(keyed, "producer").post("/topics/__cursors/events", body=b"x"), 403)


def test_key_rate_limit_is_429_with_retry_after(keyed, admin):
    limited = as_key(keyed, "limited")
    topic = unique("limited")
    admin.create_topic(topic, partitions=1)
    time.sleep(1.1)  # a full bucket
    first = limited.post(f"/topics/{topic}/events", body=b"one")
    assert first.status == 201, first
    second = limited.post(f"/topics/{topic}/events", body=b"two")
    assert_error(second, 429, "rate_limited")
    retry_after = second.headers.get("retry-after")
    assert retry_after and retry_after.isdigit() and 1 <= int(retry_after) <= 2, second.headers
    # Per key: others are not held back.
    assert as_key(keyed, "producer").post(f"/topics/{topic}/events", body=b"other").status == 201
    assert admin.end_offsets(topic) == [2], "a rate-limited request appended"
    time.sleep(int(retry_after))
    third = limited.post(f"/topics/{topic}/events", body=b"three")
    assert third.status == 201, third


def test_server_rate_limit(hooklog_bin, tmp_path, keyed):
    """--http-rate-limit 2 --http-rate-burst 2: two at once, the third waits; /healthz is not limited."""
    server, secrets = keyed
    limited_server = HooklogServer(hooklog_bin, tmp_path / "data", tmp_path / "serve.log",
                                   ["--api-keys", str(server.data_dir / "api-keys.json"),
                                    "--http-rate-limit", "2", "--http-rate-burst", "2"])
    try:
        consumer = Http(limited_server.http_url, bearer("consumer", secrets["consumer"]))
        statuses = [consumer.get("/topics").status for _ in range(2)]
        assert statuses == [200, 200], statuses
        third = consumer.get("/topics")
        assert_error(third, 429, "rate_limited")
        assert third.headers.get("retry-after", "").isdigit() and int(third.headers["retry-after"]) >= 1
        # Another key has its own bucket.
        assert Http(limited_server.http_url, bearer("subscriber", secrets["subscriber"])).get(
            "/subscriptions").status == 200
        assert [Http(limited_server.http_url).get("/healthz").status for _ in range(6)] == [200] * 6
        time.sleep(0.6)  # 2 tokens a second: one is back
        assert consumer.get("/topics").status == 200
    finally:
        limited_server.assert_stops_cleanly()
