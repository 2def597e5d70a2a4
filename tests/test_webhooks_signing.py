"""Webhook signing and secrets, without services: `verify` accepts what the platform signs
and refuses a changed body, another secret, an old or missing timestamp; a secret sealed
under one JWT_SECRET opens under it only."""

from __future__ import annotations

import time

import pytest

from jobplatform.webhooks.crypto import SecretBox, SecretUnreadable, new_secret
from jobplatform.webhooks.signing import signed_headers, verify

BODY = b'{"id":"d1","event":"job.succeeded","data":{"job_id":"j1"}}'


def test_a_signed_request_verifies_with_any_header_case():
    secret = new_secret()
    headers = signed_headers(secret, "d1", BODY, int(time.time()))
    assert verify(secret, headers, BODY)
    assert verify(secret, {k.lower(): v for k, v in headers.items()}, BODY.decode())
    assert headers["Webhook-Id"] == "d1"
    assert headers["Webhook-Signature"].startswith("v1=")


@pytest.mark.parametrize(
    "change",
    [
        "body",
        "secret",
        "old timestamp",
        "future timestamp",
        "no timestamp",
        "no signature",
        "timestamp not digits",
    ],
)
def test_verify_refuses_what_was_not_signed_so(change):
    secret, now = new_secret(), int(time.time())
    sent_at = {"old timestamp": now - 301, "future timestamp": now + 301}.get(change, now)
    headers = signed_headers(secret, "d1", BODY, sent_at)
    body = BODY
    if change == "body":
        body = BODY.replace(b"j1", b"j2")
    elif change == "secret":
        secret = new_secret()
    elif change == "no timestamp":
        del headers["Webhook-Timestamp"]
    elif change == "no signature":
        del headers["Webhook-Signature"]
    elif change == "timestamp not digits":
        headers["Webhook-Timestamp"] = f"{now}.0"
    assert not verify(secret, headers, body)


def test_an_old_request_verifies_within_a_wider_tolerance():
    secret = new_secret()
    headers = signed_headers(secret, "d1", BODY, int(time.time()) - 600)
    assert not verify(secret, headers, BODY)
    assert verify(secret, headers, BODY, tolerance=900)


def test_a_sealed_secret_opens_only_with_its_jwt_secret():
    secret = new_secret()
    sealed = SecretBox("jwt-secret-one-" + "a" * 40).seal(secret)
    assert secret not in sealed
    assert SecretBox("jwt-secret-one-" + "a" * 40).open(sealed) == secret
    with pytest.raises(SecretUnreadable, match="rotate the endpoint's secret"):
        SecretBox("jwt-secret-two-" + "b" * 40).open(sealed)
    assert new_secret() != new_secret() and secret.startswith("whsec_")
