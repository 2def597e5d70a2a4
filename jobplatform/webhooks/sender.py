"""The processor of `webhook.deliver`: one attempt is one signed POST to the endpoint.

A 2xx answer ends the job with `{"status_code", "latency_ms"}`. Any other answer
(`EndpointRefused`), or none (`NoAnswer`: refused connection, timeout, TLS), fails the
attempt and the engine retries it with the plugin's backoff; the error keeps the status,
the latency and the start of the answer. A 4xx is retried too: the usual ones (401 or 403
from a receiver still checking signatures with the secret before a rotation, 404 while
it is being deployed) pass, and giving up at once would lose the event for good. What no
retry can change fails at once (`NotSent`, a PermanentError): the endpoint was deleted or
disabled, its secret cannot be decrypted, or the job was not made by the webhooks plugin.

Each send has `timeout` seconds for each of connecting, writing and each read; a redirect
is not followed; at most `ERROR_TEXT_LIMIT` bytes of a refusal are read. One endpoint has
at most `per_endpoint` sends in flight in a worker process (`EndpointSlots`), so an
endpoint that never answers holds that many of the `webhooks` queue's consumer threads and
leaves the others to other endpoints.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from bson import ObjectId

from jobplatform.jobs.models import Job
from jobplatform.plugins.context import JobContext, PermanentError
from jobplatform.plugins.hook_context import PluginContext
from jobplatform.webhooks import delivery
from jobplatform.webhooks.crypto import SecretBox, SecretUnreadable
from jobplatform.webhooks.models import WebhookEndpoint
from jobplatform.webhooks.signing import signed_headers

ERROR_TEXT_LIMIT = 300  # bytes of a refusing endpoint's answer kept in the error
USER_AGENT = "jobplatform-webhooks/1"
BUSY_WAIT_SECONDS = 1.0  # how long a send waits for its endpoint's slot before giving up
# the start of EndpointRefused's and NoAnswer's messages, read back by `attempt_outcome`
OUTCOME = re.compile(r"(?:HTTP (?P<status>\d{3}) in|no answer after) (?P<latency>[\d.]+) ms")


class NotSent(PermanentError):
    """The delivery cannot be sent as it stands; trying again cannot help."""


class EndpointRefused(Exception):
    """The endpoint answered, but not with a 2xx status."""

    def __init__(self, status: int, latency_ms: float, text: str):
        head = f"HTTP {status} in {latency_ms} ms"
        super().__init__(f"{head}: {text}" if text else head)


class NoAnswer(Exception):
    """No HTTP answer came: the connection failed or timed out."""

    def __init__(self, latency_ms: float, error: httpx.HTTPError):
        text = f"no answer after {latency_ms} ms: {type(error).__name__}: {error}"
        super().__init__(text[:ERROR_TEXT_LIMIT])


class EndpointBusy(Exception):
    """The endpoint already has as many sends in flight in this process as it may."""


def attempt_outcome(error_type: str | None, message: str | None) -> tuple[int | None, float | None]:
    """The status code and latency a failed attempt's error records, as far as it does."""
    if error_type not in (EndpointRefused.__name__, NoAnswer.__name__) or not message:
        return None, None
    found = OUTCOME.match(message)
    if found is None:
        return None, None
    status = found["status"]
    return (int(status) if status else None), float(found["latency"])


class EndpointSlots:
    """Sends in flight per endpoint in this process, at most `limit` each."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._sending: Counter[str] = Counter()

    @contextmanager
    def hold(self, endpoint_id: str, limit: int, wait: float) -> Iterator[None]:
        """Hold one of the endpoint's slots while the block runs; wait up to `wait`
        seconds for one, then raise EndpointBusy."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._sending[endpoint_id] < limit, wait):
                raise EndpointBusy(
                    f"not sent: {limit} sends to this endpoint already wait for its answer "
                    "in this worker; tried again later"
                )
            self._sending[endpoint_id] += 1
        try:
            yield
        finally:
            with self._changed:
                self._sending[endpoint_id] -= 1
                if self._sending[endpoint_id] <= 0:
                    del self._sending[endpoint_id]
                self._changed.notify_all()


def post(
    client: httpx.Client, url: str, secret: str, job_id: str, body: bytes, timeout: float
) -> dict[str, Any]:
    """POST `body` signed; the result of a 2xx answer, else raise EndpointRefused or
    NoAnswer. Only the start of a refusal is read."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signed_headers(secret, job_id, body, int(time.time())),
    }
    started = time.perf_counter()
    head = b""
    try:
        with client.stream("POST", url, content=body, headers=headers, timeout=timeout) as answer:
            if not answer.is_success:
                for chunk in answer.iter_bytes():
                    head += chunk
                    if len(head) >= ERROR_TEXT_LIMIT:
                        break
    except httpx.HTTPError as exc:
        raise NoAnswer(_since(started), exc) from None
    latency = _since(started)
    if answer.is_success:
        return {"status_code": answer.status_code, "latency_ms": latency}
    text = head[:ERROR_TEXT_LIMIT].decode(errors="replace").strip()
    raise EndpointRefused(answer.status_code, latency, text)


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


class Sender:
    """`webhook.deliver`'s processor. It reads the process's JWT_SECRET (the key of the
    endpoints' secrets) through `context.jobs` when it first sends, and keeps one HTTP
    client for the process."""

    def __init__(self, context: PluginContext):
        self.context = context
        self.slots = EndpointSlots()
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._box: SecretBox | None = None

    def __call__(self, ctx: JobContext) -> dict[str, Any]:
        endpoint = self._endpoint(ctx)
        secret = self._secret(endpoint)
        body = delivery.body(ctx.job_id, ctx.data)
        settings = ctx.settings
        with self.slots.hold(str(endpoint.id), settings["per_endpoint"], BUSY_WAIT_SECONDS):
            return post(self._http(), endpoint.url, secret, ctx.job_id, body, settings["timeout"])

    def _endpoint(self, ctx: JobContext) -> WebhookEndpoint:
        endpoint_id = ctx.data["endpoint_id"]
        job = Job.objects(id=ObjectId(ctx.job_id)).only("created_by").first()
        made_by = job.created_by if job else None
        if made_by != delivery.made_by(endpoint_id):
            raise NotSent(
                f"a {delivery.DELIVER} job is made by the webhooks plugin only; this one was "
                f"submitted by {made_by or 'nobody known'}"
            )
        endpoint = WebhookEndpoint.objects(id=ObjectId(endpoint_id)).first()
        if endpoint is None:
            raise NotSent("the endpoint was deleted")
        if not endpoint.enabled:
            raise NotSent("the endpoint is disabled")
        return endpoint

    def _secret(self, endpoint: WebhookEndpoint) -> str:
        if self._box is None:
            settings = self.context.jobs.queue.settings
            self._box = SecretBox(settings.resolved_jwt_secret())
        try:
            return self._box.open(endpoint.sealed_secret)
        except SecretUnreadable as exc:
            raise NotSent(str(exc)) from None

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(follow_redirects=False)
            return self._client
