"""The SSRF guard at subscribe time (design: Dispatcher → SSRF guard), over real HTTP.

Callback URLs whose host is, or resolves now to, a loopback, private (RFC 1918, fc00::/7), CGNAT,
link-local (incl. cloud metadata), multicast, unspecified or broadcast address, or an IPv4-mapped
IPv6 form of one, are refused with 400 `callback_forbidden` by POST /topics/{t}/subscribe and
PATCH /subscriptions/{id}; public literals and names that do not resolve are accepted;
`--callback-allow CIDR` lets a refused range through.

No request is ever sent to any of these addresses: the subscriptions accepted here are on a
topic without events and are deleted at once.
"""

from __future__ import annotations

import subprocess

import pytest

from conftest import start_hooklog_server, served
from test_http_common import Http, assert_error, unique

REFUSED_IPV4 = [
    "http://127.0.0.1/hook", "http://127.255.255.254:8080/x", "https://127.0.0.1/",
    "http://10.1.2.3/", "http://10.255.255.255/",
    "http://172.16.0.1/", "http://172.31.255.255/",
    "http://192.168.1.1/", "http://192.168.0.0/",
    "http://100.64.0.1/", "http://100.127.255.255/",
    "http://169.254.169.254/latest/meta-data/", "http://169.254.0.1/",
    "http://224.0.0.1/", "http://239.255.255.255/",
    "http://0.0.0.0/", "http://0.1.2.3/",
    "http://255.255.255.255/",
]
REFUSED_IPV6 = [
    "http://[::1]/", "http://[::1]:9000/hook", "http://[fc00::1]/", "http://[fd12::1]/", "http://[fe80::1]/",
    "http://[ff02::1]/", "http://[::]/",
]
REFUSED_MAPPED = [
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:10.0.0.1]/", "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/", "http://[::ffff:192.168.1.1]:8443/",
]
REFUSED_NAMES = ["http://localhost/", "http://localhost:9092/hook", "http://LOCALHOST/"]
# Numeric hosts that resolvers read as 127.0.0.1: refused as forbidden or as malformed.
NON_CANONICAL_LOOPBACK = ["http://127.1/", "http://2130706433/", "http://0x7f.0.0.1/", "http://0177.0.0.1/"]
ACCEPTED = [
    "http://93.184.215.14/hook", "http://[2606:4700::1111]/", "https://hooks.example.invalid/x",
    "http://does-not-exist.invalid:8080/hook", "http://172.32.0.1/", "http://100.128.0.1/", "http://11.0.0.1/",
]


@pytest.fixture(scope="module")
def guarded(hooklog_bin, tmp_path_factory):
    server = start_hooklog_server(hooklog_bin, tmp_path_factory.mktemp("http-ssrf"), ["--num-partitions", "1"])
    with served(server):
        yield server


@pytest.fixture(scope="module")
def api(guarded) -> Http:
    return Http(guarded.http_url)


@pytest.fixture(scope="module")
def topic(api) -> str:
    name = unique("ssrf")
    api.create_topic(name, partitions=1)
    return name


def refused(api, topic, url, codes=("callback_forbidden",)):
    resp = api.post(f"/topics/{topic}/subscribe", {"url": url})
    if resp.status == 201:
        api.delete(f"/subscriptions/{resp.json()['id']}")
    return assert_error(resp, 400, codes)


@pytest.mark.parametrize("url", REFUSED_IPV4)
def test_refused_ipv4_literals(api, topic, url):
    refused(api, topic, url)


@pytest.mark.parametrize("url", REFUSED_IPV6)
def test_refused_ipv6_literals(api, topic, url):
    refused(api, topic, url)


@pytest.mark.parametrize("url", REFUSED_MAPPED)
def test_refused_ipv4_mapped_ipv6(api, topic, url):
    refused(api, topic, url)


@pytest.mark.parametrize("url", REFUSED_NAMES)
def test_refused_names_resolving_to_loopback(api, topic, url):
    refused(api, topic, url)


@pytest.mark.parametrize("url", NON_CANONICAL_LOOPBACK)
def test_refused_non_canonical_numeric_hosts(api, topic, url):
    refused(api, topic, url, codes=("callback_forbidden", "invalid_callback_url"))


def test_accepted_public_literals_and_unresolvable_names(api, topic):
    for url in ACCEPTED:
        resp = api.post(f"/topics/{topic}/subscribe", {"url": url})
        assert resp.status == 201, f"{url}: {resp}"
        assert resp.json()["url"] == url
        assert api.delete(f"/subscriptions/{resp.json()['id']}").status == 204


def test_nothing_refused_was_stored(api, topic):
    urls = {s["url"] for s in api.get(f"/subscriptions?topic={topic}").json()["subscriptions"]}
    assert not urls & set(REFUSED_IPV4 + REFUSED_IPV6 + REFUSED_MAPPED + REFUSED_NAMES), urls


def test_patch_to_a_refused_url_is_refused(api, topic):
    sub = api.subscribe(topic, {"url": "https://hooks.example.invalid/patch"})
    try:
        for url in ("http://169.254.169.254/", "http://[::ffff:127.0.0.1]/", "http://localhost/"):
            assert_error(api.patch(f"/subscriptions/{sub['id']}", {"url": url}), 400, "callback_forbidden")
        assert api.subscription(sub["id"])["url"] == "https://hooks.example.invalid/patch"
        resp = api.patch(f"/subscriptions/{sub['id']}", {"url": "https://other.example.invalid/"})
        assert resp.status == 200 and resp.json()["url"] == "https://other.example.invalid/", resp
    finally:
        api.delete(f"/subscriptions/{sub['id']}")


def test_callback_allow_lets_a_range_through(hooklog_bin, tmp_path):
    server = start_hooklog_server(hooklog_bin, tmp_path, ["--callback-allow", "127.0.0.0/8"])
    try:
        api = Http(server.http_url)
        name = unique("allow")
        api.create_topic(name, partitions=1)
        for url in ("http://127.0.0.1/hook", "http://127.0.0.2:9999/x", "http://[::ffff:127.0.0.1]/"):
            resp = api.post(f"/topics/{name}/subscribe", {"url": url})
            assert resp.status == 201, f"{url} with --callback-allow 127.0.0.0/8: {resp}"
            assert api.delete(f"/subscriptions/{resp.json()['id']}").status == 204
        for url in ("http://10.1.2.3/", "http://[::1]/", "http://169.254.169.254/"):
            refused(api, name, url)
    finally:
        server.assert_stops_cleanly()


def test_bad_callback_allow_refuses_to_start(hooklog_bin, tmp_path):
    result = subprocess.run(
        [str(hooklog_bin), "serve", "--data-dir", str(tmp_path / "d"), "--kafka-listen", "127.0.0.1:0",
         "--http-listen", "127.0.0.1:0", "--callback-allow", "not-a-cidr"],
        capture_output=True, timeout=30)
    assert result.returncode != 0, "serve started with --callback-allow not-a-cidr"
    assert b"not-a-cidr" in result.stdout + result.stderr
