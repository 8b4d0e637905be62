"""Signatures made by Hooklog's WebhookSigner, verified with the reference Standard Webhooks
library (PyPI `standardwebhooks`), as a receiver would.

The Swift signer is reached through `hooklog webhooks sign`, which prints the
`webhook-signature` header value for the body it reads from stdin; no server is needed.
Timestamps are the current time: the library refuses anything more than 5 minutes away.
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError


def make_secret(size: int = 32) -> str:
    return "whsec_" + base64.b64encode(os.urandom(size)).decode()


def hooklog_sign(hooklog_bin, secrets, msg_id: str, timestamp: int, body: bytes) -> str:
    command = [str(hooklog_bin), "webhooks", "sign", "--id", msg_id, "--timestamp", str(timestamp)]
    for secret in secrets:
        command += ["--secret", secret]
    result = subprocess.run(command, input=body, capture_output=True, timeout=30)
    assert result.returncode == 0, f"{command} exited {result.returncode}: {result.stderr.decode(errors='replace')}"
    header = result.stdout.decode()
    assert header.endswith("\n") and header.count("\n") == 1, f"expected one line, got {header!r}"
    return header.rstrip("\n")


def headers(msg_id: str, timestamp: int, signature: str) -> dict:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


BODIES = {
    "json": json.dumps({"type": "order.created", "data": {"id": 42, "total": "9.99"}}).encode(),
    "utf8": "{\"name\": \"Zoë Ångström\", \"note\": \"日本語 ✓ 🚀\"}".encode(),
    # Bytes a JSON parser would choke on, but valid UTF-8 (the library decodes the body as UTF-8).
    "binary-utf8": bytes(range(0, 128)) + b"\r\n\x00\x00trailing\n",
    "empty": b"",
    "large": (b"0123456789abcdef" * 65536),  # 1 MiB
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_library_verifies_hooklog_signature(hooklog_bin, name):
    body = BODIES[name]
    secret = make_secret()
    msg_id = f"orders-0-{len(body)}"
    timestamp = int(time.time())
    signature = hooklog_sign(hooklog_bin, [secret], msg_id, timestamp, body)

    assert signature.startswith("v1,") and " " not in signature
    Webhook(secret).verify(body, headers(msg_id, timestamp, signature), json_parse=False)

    # The check is real: a changed body, id or secret fails.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b"x", headers(msg_id, timestamp, signature), json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers(msg_id + "x", timestamp, signature), json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(make_secret()).verify(body, headers(msg_id, timestamp, signature), json_parse=False)


@pytest.mark.parametrize("size", [24, 32, 64])
def test_every_secret_size(hooklog_bin, size):
    body = BODIES["json"]
    secret = make_secret(size)
    timestamp = int(time.time())
    signature = hooklog_sign(hooklog_bin, [secret], "evt_size", timestamp, body)
    assert Webhook(secret).verify(body, headers("evt_size", timestamp, signature)) == json.loads(body)


def test_rotation_signs_with_both_secrets(hooklog_bin):
    new, old = make_secret(), make_secret(24)
    body = BODIES["utf8"]
    timestamp = int(time.time())
    signature = hooklog_sign(hooklog_bin, [new, old], "evt_rotation", timestamp, body)

    entries = signature.split(" ")
    assert len(entries) == 2 and all(entry.startswith("v1,") for entry in entries)
    # A receiver that still has the old secret and one that already has the new one both accept it.
    for secret in (new, old):
        Webhook(secret).verify(body, headers("evt_rotation", timestamp, signature), json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(make_secret()).verify(body, headers("evt_rotation", timestamp, signature), json_parse=False)
    # Each entry on its own is the single-secret signature, new first.
    assert entries == [
        hooklog_sign(hooklog_bin, [new], "evt_rotation", timestamp, body),
        hooklog_sign(hooklog_bin, [old], "evt_rotation", timestamp, body),
    ]


def test_non_utf8_body_matches_an_independent_hmac(hooklog_bin):
    # standardwebhooks 1.1.0 decodes the body as UTF-8 before verifying, so it cannot check a body
    # that is not UTF-8; the signature is over the raw bytes, as the specification says. Check it
    # with the specification's algorithm directly.
    body = bytes(range(256)) * 4
    secret = make_secret()
    timestamp = int(time.time())
    signature = hooklog_sign(hooklog_bin, [secret], "evt_binary", timestamp, body)
    key = base64.b64decode(secret[len("whsec_"):])
    digest = hmac.new(key, f"evt_binary.{timestamp}.".encode() + body, hashlib.sha256).digest()
    assert signature == "v1," + base64.b64encode(digest).decode()


def test_specification_example(hooklog_bin):
    # The example in the Standard Webhooks specification (an old timestamp, so compare the value
    # with the library's own signing instead of calling verify).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = hooklog_sign(hooklog_bin, [secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    from datetime import datetime, timezone

    expected = Webhook(secret).sign(
        "msg_p5jXN8AQM9LWM0D4loKWxJek", datetime.fromtimestamp(1614265330, tz=timezone.utc), body.decode()
    )
    assert signature == expected


@pytest.mark.parametrize(
    "secret, problem",
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 'does not start with "whsec_"'),
        ("whsec_not*base64", "is not valid base64"),
        ("whsec_" + base64.b64encode(b"x" * 16).decode(), "its key is 16 bytes"),
    ],
)
def test_bad_secrets_are_refused(hooklog_bin, secret, problem):
    result = subprocess.run(
        [str(hooklog_bin), "webhooks", "sign", "--id", "x", "--secret", secret],
        input=b"{}",
        capture_output=True,
        timeout=30,
    )
    assert result.returncode != 0
    stderr = result.stderr.decode()
    assert problem in stderr, stderr
    assert result.stdout == b""
