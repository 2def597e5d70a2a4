"""One try of one delivery: claim it, send it signed, record what happened.

Claiming moves the delivery's `attempts` on and its `next_attempt_at` out by a lease, then
inserts the try's record with the id `<delivery id>:<number>`: of two processes that read
the same due delivery only one can insert that id, so no try is sent twice. A process that
dies after claiming leaves the delivery due again when the lease ends; the next try then
has the next number (the lost one counts as a try, recorded without an outcome).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from mongoengine.errors import NotUniqueError

from jobplatform.jobs.models import utcnow
from jobplatform.plugins.jobtype import RetryPolicy
from jobplatform.webhooks.crypto import SecretBox, SecretUnreadable
from jobplatform.webhooks.models import (
    DELIVERED,
    FAILED,
    PENDING,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookTry,
)
from jobplatform.webhooks.signing import signed_headers

ERROR_TEXT_LIMIT = 300  # characters of a refusing endpoint's answer kept as the error
USER_AGENT = "jobplatform-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: float | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def lease_seconds(timeout: float) -> float:
    """How long a claimed try keeps its delivery from being claimed again: well past the
    longest a send may take (connect, write and read each get `timeout`)."""
    return timeout * 4 + 5


def claim(delivery: WebhookDelivery, sender: str, lease: float) -> int | None:
    """Claim the delivery's next try for `sender`; its number, or None if another process
    took it (or it is no longer due)."""
    number = delivery.attempts + 1
    now = utcnow()
    if number > delivery.max_attempts:  # the last try's sender died before recording it
        WebhookDelivery.objects(
            id=delivery.id, state=PENDING, attempts=delivery.attempts
        ).update_one(
            set__state=FAILED,
            set__next_attempt_at=None,
            set__finished_at=now,
            set__error="the last try's sender stopped before recording its outcome",
        )
        return None
    moved = WebhookDelivery.objects(
        id=delivery.id, state=PENDING, attempts=number - 1, next_attempt_at__lte=now
    ).update_one(set__attempts=number, set__next_attempt_at=now + timedelta(seconds=lease))
    if not moved:
        return None
    try:
        WebhookTry(
            id=f"{delivery.id}:{number}",
            delivery_id=delivery.id,
            number=number,
            sender=sender,
            started_at=now,
        ).save(force_insert=True)
    except NotUniqueError:
        return None  # another process read the same attempts and claimed this try
    delivery.attempts = number
    return number


def post(client: httpx.Client, url: str, secret: str, delivery: WebhookDelivery, timeout: float):
    """POST the delivery's body, signed; the outcome (2xx is success; a redirect is not
    followed). Only the start of the answer is read."""
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signed_headers(secret, str(delivery.id), body, int(time.time())),
    }
    started = time.perf_counter()
    try:
        with client.stream("POST", url, content=body, headers=headers, timeout=timeout) as answer:
            head = b""
            if not answer.is_success:
                for chunk in answer.iter_bytes():
                    head += chunk
                    if len(head) >= ERROR_TEXT_LIMIT:
                        break
    except httpx.HTTPError as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return Outcome(None, round(elapsed, 1), f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_LIMIT])
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    if answer.is_success:
        return Outcome(answer.status_code, elapsed, None)
    text = head[:ERROR_TEXT_LIMIT].decode(errors="replace").strip()
    return Outcome(answer.status_code, elapsed, f"HTTP {answer.status_code}: {text}".strip(": "))


def record(
    delivery: WebhookDelivery,
    number: int,
    outcome: Outcome,
    policy: RetryPolicy,
    *,
    final: bool = False,
) -> None:
    """Store try `number`'s outcome and the delivery's new state: delivered, due again
    after the policy's delay, or failed after its last try (or at once when `final`)."""
    now = utcnow()
    if outcome.ok:
        state, due = DELIVERED, None
    elif final or number >= delivery.max_attempts:
        state, due = FAILED, None
    else:
        state, due = PENDING, now + timedelta(seconds=policy.delay_after(number))
    fields = {
        "status_code": outcome.status_code,
        "latency_ms": outcome.latency_ms,
        "error": outcome.error,
        "next_attempt_at": due,
    }
    WebhookTry.objects(id=f"{delivery.id}:{number}").update_one(
        set__finished_at=now, **{f"set__{k}": v for k, v in fields.items()}
    )
    final = {"set__finished_at": now} if state != PENDING else {}
    WebhookDelivery.objects(id=delivery.id, attempts=number).update_one(
        set__state=state, **{f"set__{k}": v for k, v in fields.items()}, **final
    )
    delivery.state = state


def attempt(
    delivery: WebhookDelivery,
    number: int,
    client: httpx.Client,
    box: SecretBox,
    settings: dict[str, Any],
    policy: RetryPolicy,
) -> Outcome:
    """Send claimed try `number` to the delivery's endpoint and record it. An endpoint
    disabled meanwhile, or whose secret cannot be read, fails the delivery unsent."""
    endpoint = WebhookEndpoint.objects(id=delivery.endpoint_id).first()
    if endpoint is None:
        WebhookDelivery.objects(id=delivery.id).delete()  # deleted with its endpoint
        WebhookTry.objects(delivery_id=delivery.id).delete()
        return Outcome(None, None, "the endpoint was deleted")
    if not endpoint.enabled:
        outcome = Outcome(None, None, "not sent: the endpoint is disabled")
        record(delivery, number, outcome, policy, final=True)
        return outcome
    try:
        secret = box.open(endpoint.sealed_secret)
    except SecretUnreadable as exc:
        outcome = Outcome(None, None, f"not sent: {exc}")
        record(delivery, number, outcome, policy, final=True)
        return outcome
    outcome = post(client, endpoint.url, secret, delivery, settings["timeout"])
    record(delivery, number, outcome, policy)
    return outcome
