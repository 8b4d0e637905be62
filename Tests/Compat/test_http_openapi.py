"""docs/openapi.yaml against the server: every route documented, every documented route routed,
real responses valid against the documented schemas (jsonschema, OpenAPI 3.1 = JSON Schema 2020-12).

The server's routes are read from the Swift sources (`router.get/post/patch/delete("...")` in
Sources/HubServer/HTTP), so a route added without documentation fails here.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from conftest import REPO_ROOT, start_hooklog_server, served
from test_http_common import Http, Resp, routes_in_sources, unique

SPEC_PATH = REPO_ROOT / "docs" / "openapi.yaml"
SPEC_URI = "urn:hooklog:openapi"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@pytest.fixture(scope="module")
def spec() -> dict:
    assert SPEC_PATH.is_file(), f"{SPEC_PATH} is missing"
    document = yaml.safe_load(SPEC_PATH.read_text())
    assert str(document.get("openapi", "")).startswith("3.1"), document.get("openapi")
    return document


@pytest.fixture(scope="module")
def registry(spec) -> Registry:
    return Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012))


def documented_operations(spec) -> set:
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item if method in METHODS}


@pytest.fixture(scope="module")
def hub(hooklog_bin, tmp_path_factory):
    server = start_hooklog_server(hooklog_bin, tmp_path_factory.mktemp("http-openapi"), ["--num-partitions", "2"])
    with served(server):
        yield server


@pytest.fixture(scope="module")
def api(hub) -> Http:
    return Http(hub.http_url)


def pointer(*parts) -> str:
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def resolve(spec, node):
    while isinstance(node, dict) and "$ref" in node and len(node) == 1:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def validate(spec, registry, resp: Resp, method: str, path: str):
    """Checks `resp` against the documented response of (method, path) for its status."""
    operation = spec["paths"][path][method.lower()]
    responses = operation["responses"]
    key = str(resp.status)
    assert key in responses or "default" in responses, (
        f"{method} {path} answered {resp.status}, which docs/openapi.yaml does not list: {resp}")
    response = resolve(spec, responses.get(key, responses.get("default")))
    content = response.get("content")
    if not content:
        assert resp.body == b"", f"{method} {path} {resp.status} should have no body: {resp}"
        return
    media = resp.headers.get("content-type", "").split(";")[0].strip()
    assert media in content, f"{method} {path} {resp.status} answered {media}, documented {list(content)}"
    if media != "application/json":
        return
    ref = response_pointer(spec, path, method.lower(), key if key in responses else "default", media)
    validator = Draft202012Validator({"$ref": SPEC_URI + ref}, registry=registry)
    errors = sorted(validator.iter_errors(resp.json()), key=lambda e: list(e.absolute_path))
    assert not errors, f"{method} {path} {resp.status} does not match docs/openapi.yaml:\n" + "\n".join(
        f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:10]) + f"\n{resp}"


def response_pointer(spec, path, method, status, media) -> str:
    response = spec["paths"][path][method]["responses"][status]
    if "$ref" in response:
        return response["$ref"] + pointer("content", media, "schema")[1:]
    return pointer("paths", path, method, "responses", status, "content", media, "schema")


# --------------------------------------------------------------------------


def test_spec_is_well_formed(spec, registry):
    assert spec["info"]["title"] and spec["info"]["version"]
    schemes = spec["components"]["securitySchemes"]
    assert {(s["type"], s["scheme"]) for s in schemes.values()} == {("http", "bearer"), ("http", "basic")}
    assert {next(iter(r)) for r in spec["security"]} == set(schemes)
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"] and set(error["properties"]["error"]["required"]) == {"code", "message"}
    # Every $ref resolves.
    def walk(node, where):
        if isinstance(node, dict):
            if "$ref" in node:
                try:
                    resolve(spec, {"$ref": node["$ref"]})
                except KeyError:
                    raise AssertionError(f"unresolvable $ref {node['$ref']} at {where}")
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")
    walk(spec, "")
    # Every schema is valid JSON Schema 2020-12.
    for name, schema in spec["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
    for method, path in documented_operations(spec):
        operation = spec["paths"][path][method.lower()]
        assert operation.get("summary"), f"{method} {path} has no summary"
        statuses = set(operation["responses"])
        assert any(s.startswith("2") for s in statuses), f"{method} {path} documents no success"
        if path != "/healthz":
            assert {"401", "403", "429"} <= statuses, f"{method} {path} lacks 401/403/429: {sorted(statuses)}"
        for status, response in operation["responses"].items():
            response = resolve(spec, response)
            for media, body in (response.get("content") or {}).items():
                assert "schema" in body, f"{method} {path} {status} {media} has no schema"
            if status.startswith("4") or status.startswith("5"):
                if path == "/healthz":
                    continue
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, f"{method} {path} {status}: {schema}"


def test_every_server_route_is_documented_and_vice_versa(spec):
    in_sources = routes_in_sources(REPO_ROOT)
    assert ("GET", "/healthz") in in_sources and ("POST", "/topics/{topic}/events") in in_sources, in_sources
    documented = documented_operations(spec)
    undocumented = sorted(in_sources - documented)
    unrouted = sorted(documented - in_sources)
    assert not undocumented, f"routes in Sources/HubServer/HTTP missing from docs/openapi.yaml: {undocumented}"
    assert not unrouted, f"routes in docs/openapi.yaml that the sources do not declare: {unrouted}"


def test_every_documented_route_is_routed(spec, registry, api):
    """Each documented method+path reaches a handler (any answer but the router's `no such route`)."""
    probe = "openapi-probe-" + uuid.uuid4().hex[:6]
    no_route = {}
    for method in ("GET", "POST", "PATCH", "DELETE"):
        no_route[method] = api.request(method, f"/no-such-route-{probe}", body=b"{}" if method in ("POST", "PATCH") else None)
        assert no_route[method].status == 404, no_route[method]
    for method, path in sorted(documented_operations(spec), key=lambda op: (op[1], op[0] != "POST")):
        concrete = path.replace("{topic}", probe).replace("{id}", probe)
        body = b"{}" if method in ("POST", "PATCH") else None
        resp = api.request(method, concrete, body=body, headers={"Content-Type": "application/json"} if body else {})
        assert not (resp.status == no_route[method].status and resp.body == no_route[method].body), (
            f"{method} {path} is documented but not routed: {resp}")
        validate(spec, registry, resp, method, path)


def test_real_responses_match_the_schemas(spec, registry, hub, api):
    topic = unique("schema")
    check = lambda resp, method, path: validate(spec, registry, resp, method, path)  # noqa: E731

    check(api.post("/topics", {"name": topic, "partitions": 2, "config": {"retention.ms": "60000"}}), "POST", "/topics")
    check(api.post("/topics", {"name": topic}), "POST", "/topics")  # 409
    check(api.post("/topics", {"name": 7}), "POST", "/topics")  # 400
    check(api.get("/topics"), "GET", "/topics")
    check(api.get(f"/topics/{topic}"), "GET", "/topics/{topic}")
    check(api.get("/topics/__subscriptions"), "GET", "/topics/{topic}")
    check(api.get(f"/topics/{unique('absent')}"), "GET", "/topics/{topic}")  # 404

    events = "/topics/{topic}/events"
    check(api.post(f"/topics/{topic}/events", body=b'{"a":1}', headers={"ce-type": "t", "ce-partitionkey": "k"}),
          "POST", events)
    batch = [{"specversion": "1.0", "id": f"e{n}", "source": "/s", "type": "t", "data": n} for n in range(3)]
    check(api.post(f"/topics/{topic}/events", body=json.dumps(batch),
                   headers={"Content-Type": "application/cloudevents-batch+json"}), "POST", events)
    check(api.post(f"/topics/{topic}/events", body=b"{}", headers={"Content-Type": "application/cloudevents+json"}),
          "POST", events)  # 400
    check(api.post(f"/topics/{topic}/events", body=b"x" * ((1 << 20) + 1)), "POST", events)  # 413
    key = {"Idempotency-Key": uuid.uuid4().hex}
    check(api.post(f"/topics/{topic}/events", body=b"once", headers=key), "POST", events)
    replayed = api.post(f"/topics/{topic}/events", body=b"once", headers=key)
    assert replayed.headers.get("idempotent-replayed") == "true"
    check(replayed, "POST", events)
    check(api.post(f"/topics/{topic}/events", body=b"other", headers=key), "POST", events)  # 409

    sub = api.post(f"/topics/{topic}/subscribe", {"url": "https://hooks.example.invalid/s", "eventTypes": ["t"],
                                                  "retrySchedule": "5s,1m", "description": "d", "startFrom": "earliest"})
    check(sub, "POST", "/topics/{topic}/subscribe")
    sub_id = sub.json()["id"]
    check(api.post(f"/topics/{topic}/subscribe", {"url": "http://127.0.0.1/"}), "POST", "/topics/{topic}/subscribe")
    check(api.get("/subscriptions"), "GET", "/subscriptions")
    check(api.get(f"/subscriptions?topic={topic}"), "GET", "/subscriptions")
    check(api.get(f"/subscriptions/{sub_id}"), "GET", "/subscriptions/{id}")
    check(api.patch(f"/subscriptions/{sub_id}", {"state": "paused", "rotateSecret": True}), "PATCH", "/subscriptions/{id}")
    check(api.patch(f"/subscriptions/{sub_id}", {"state": "disabled"}), "PATCH", "/subscriptions/{id}")  # 400
    check(api.post(f"/subscriptions/{sub_id}/replay", {"fromOffsets": {"0": 0}}), "POST", "/subscriptions/{id}/replay")
    check(api.post(f"/topics/{topic}/unsubscribe", {"id": sub_id}), "POST", "/topics/{topic}/unsubscribe")
    check(api.delete(f"/subscriptions/{sub_id}"), "DELETE", "/subscriptions/{id}")  # 404 now
    other = api.subscribe(topic, {"url": "https://hooks.example.invalid/t"})
    check(api.delete(f"/subscriptions/{other['id']}"), "DELETE", "/subscriptions/{id}")  # 204

    group = unique("schema-group")
    consumer = Consumer({"bootstrap.servers": hub.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    finally:
        consumer.close()
    check(api.get("/groups"), "GET", "/groups")
    check(api.get(f"/groups/{group}"), "GET", "/groups/{id}")
    check(api.get(f"/groups/{unique('absent')}"), "GET", "/groups/{id}")  # 404

    compacted = unique("schema-compacted")
    api.post("/topics", {"name": compacted, "config": {"cleanup.policy": "compact", "segment.bytes": "1024"}})
    for n in range(40):
        api.post(f"/topics/{compacted}/events", body=b"v" * 100, headers={"ce-type": "t", "ce-partitionkey": f"k{n % 3}"})
    compact = "/admin/topics/{topic}/compact"
    answer = api.post(f"/admin/topics/{compacted}/compact", {})
    check(answer, "POST", compact)
    assert sum(p["recordsRemoved"] for p in answer.json()["partitions"]) > 0, answer.json()
    check(api.post(f"/admin/topics/{unique('absent')}/compact", {}), "POST", compact)  # 404

    check(api.get("/healthz"), "GET", "/healthz")
    check(api.get("/metrics"), "GET", "/metrics")
    check(api.delete(f"/topics/{topic}"), "DELETE", "/topics/{topic}")


def curl_commands(markdown: str) -> list:
    """(METHOD, path) of every `curl … $HOOKLOG/…` command in the document (continuations joined)."""
    text = markdown.replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("curl "):
            continue
        method = re.search(r"-X\s+([A-Z]+)", line)
        url = re.search(r'\$HOOKLOG(/[^\s"\'?]*)', line)
        assert url, f"a curl example without $HOOKLOG: {line}"
        commands.append(((method.group(1) if method else "GET"), url.group(1)))
    return commands


def test_http_api_md_has_a_curl_example_for_every_route(spec):
    doc = REPO_ROOT / "docs" / "http-api.md"
    assert doc.is_file(), f"{doc} is missing"
    markdown = doc.read_text()
    assert "http://127.0.0.1:8080" in markdown and "Authorization: Bearer" in markdown
    commands = curl_commands(markdown)
    missing = []
    for method, path in sorted(documented_operations(spec)):
        pattern = re.compile("^" + re.sub(r"\\\{[a-z]+\\\}", r"[^/]+", re.escape(path)) + "$")
        if not any(m == method and pattern.match(p) for m, p in commands):
            missing.append(f"{method} {path}")
        assert f"`{method} {path}" in markdown, f"{method} {path} is not in the route table of docs/http-api.md"
    assert not missing, f"docs/http-api.md has no curl example for: {missing}"
    for code in ("invalid_json", "unauthorized", "forbidden", "not_found", "idempotency_key_reused",
                 "payload_too_large", "event_too_large", "rate_limited", "callback_forbidden"):
        assert f"`{code}`" in markdown, f"error code {code} is not documented"
