"""How a delivery is signed, and `verify`, which a receiver can copy as it stands.

Each delivery is a JSON POST with three headers:

- `Webhook-Id`: the delivery's id, the same on every try (drop one you have processed);
- `Webhook-Timestamp`: when this try was sent, in unix seconds;
- `Webhook-Signature`: `v1=` and the hex HMAC-SHA256, keyed with the endpoint's secret
  (the whole `whsec_...` text as UTF-8), of `<timestamp>.<body>` (the raw body bytes).

Only the standard library is used here, so `verify` works outside the platform.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SCHEME = "v1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `Webhook-Signature` value for `body` sent at `timestamp`."""
    signed = str(timestamp).encode() + b"." + body
    return f"{SCHEME}=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signed_headers(secret: str, delivery_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    return {
        "Webhook-Id": delivery_id,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": signature(secret, timestamp, body),
    }


def verify(
    secret: str, headers: Mapping[str, str], body: bytes | str, tolerance: float = 300
) -> bool:
    """Whether a webhook request is genuine: signed with `secret`, sent within `tolerance`
    seconds of now (which refuses replays of old requests). Pass the raw body, before any
    JSON parsing. Copy this function into your receiver, e.g. with FastAPI:

        import hashlib, hmac, time

        @app.post("/hooks/jobplatform")
        async def receive(request: Request):
            body = await request.body()
            if not verify(SECRET, request.headers, body):
                raise HTTPException(400, "bad webhook signature")
            event = json.loads(body)  # {"id", "event", "created_at", "data": {...}}
            ...  # a redelivery has the Webhook-Id you saw before: skip it
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    timestamp = lowered.get("webhook-timestamp", "")
    given = lowered.get("webhook-signature", "")
    if not (timestamp.isascii() and timestamp.isdigit()):
        return False
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    signed = timestamp.encode() + b"." + raw
    expected = "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)
