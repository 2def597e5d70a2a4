"""The dispatcher: a thread of each worker process that sends due deliveries.

Each round it reads the due pending deliveries, claims a try of each it has room for
(`delivery.claim`: two processes never send the same try) and hands it to a pool of
`concurrency` sending threads; one endpoint gets at most half of them, so an endpoint
that never answers holds two sends, not all. A round runs every `POLL_SECONDS`, at once
when this process stored a delivery, and when a send ends. Nothing here runs on a job's
thread: a job's event was stored as a pending delivery, and the job went on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from bson import ObjectId

from jobplatform.config import Settings, SettingsError
from jobplatform.jobs.models import utcnow
from jobplatform.plugins.host import PluginHost
from jobplatform.webhooks import retention
from jobplatform.webhooks.crypto import SecretBox
from jobplatform.webhooks.delivery import attempt, claim, lease_seconds
from jobplatform.webhooks.models import PENDING, WebhookDelivery
from jobplatform.webhooks.plugin import retry_policy, webhook_settings
from jobplatform.webhooks.routing import wake

log = logging.getLogger("jobplatform.webhooks")
POLL_SECONDS = 1.0
TRIM_EVERY_SECONDS = 3600.0


class Dispatcher:
    def __init__(self, box: SecretBox, settings: dict[str, Any], sender: str):
        self.box = box
        self.settings = settings
        self.sender = sender
        self.policy = retry_policy(settings)
        self.concurrency = settings["concurrency"]
        self.per_endpoint = max(1, self.concurrency // 2)
        self.lease = lease_seconds(settings["timeout"])
        self.client = httpx.Client(
            follow_redirects=False, limits=httpx.Limits(max_connections=self.concurrency)
        )
        self.pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="webhook-send")
        self._lock = threading.Lock()
        self._sending: Counter[ObjectId] = Counter()  # endpoint id -> sends in flight
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-dispatcher", daemon=True)
        self._trim_at = time.monotonic() + 60  # not while the worker is starting

    def start(self) -> Dispatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop claiming; let the sends in flight end (each within its timeout)."""
        self._stop.set()
        wake.set()
        self._thread.join()
        self.pool.shutdown(wait=True)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            wake.clear()
            try:
                self.dispatch_due()
                self._trim_when_due()
            except Exception:  # noqa: BLE001 - MongoDB away, say: the next round tries again
                log.exception("webhook dispatch round failed")
            wake.wait(POLL_SECONDS)

    def dispatch_due(self) -> int:
        """Claim and start as many due tries as there is room for; how many started."""
        with self._lock:
            free = self.concurrency - sum(self._sending.values())
        if free <= 0:
            return 0
        due = (
            WebhookDelivery.objects(state=PENDING, next_attempt_at__lte=utcnow())
            .order_by("next_attempt_at")
            .limit(free * 4)
        )
        started = 0
        for delivery in due:
            if started >= free or self._stop.is_set():
                break
            with self._lock:
                if self._sending[delivery.endpoint_id] >= self.per_endpoint:
                    continue
            number = claim(delivery, self.sender, self.lease)
            if number is None:
                continue
            with self._lock:
                self._sending[delivery.endpoint_id] += 1
            self.pool.submit(self._send, delivery, number)
            started += 1
        return started

    def _send(self, delivery: WebhookDelivery, number: int) -> None:
        try:
            outcome = attempt(delivery, number, self.client, self.box, self.settings, self.policy)
            if not outcome.ok:
                log.info("webhook delivery %s try %d: %s", delivery.id, number, outcome.error)
        except Exception:  # noqa: BLE001 - the lease ends and another try follows
            log.exception("webhook delivery %s try %d not recorded", delivery.id, number)
        finally:
            with self._lock:
                self._sending[delivery.endpoint_id] -= 1
                if self._sending[delivery.endpoint_id] <= 0:
                    del self._sending[delivery.endpoint_id]
            wake.set()  # a sending thread is free

    def _trim_when_due(self) -> None:
        if time.monotonic() < self._trim_at:
            return
        self._trim_at = time.monotonic() + TRIM_EVERY_SECONDS
        retention.trim(self.settings["retention_days"], self.settings["keep_per_endpoint"])


def start_dispatcher(settings: Settings, host: PluginHost, sender: str) -> Dispatcher | None:
    """Start the worker's dispatcher; None when the webhooks plugin is not loaded, or
    when this process lacks the JWT_SECRET the endpoints' secrets are encrypted with (the
    worker runs its jobs all the same; deliveries wait for a worker that has it)."""
    plugin_settings = webhook_settings(host)
    if plugin_settings is None:
        return None
    try:
        box = SecretBox(settings.resolved_jwt_secret())
    except SettingsError as exc:
        log.error("this worker sends no webhooks: %s", exc)
        return None
    return Dispatcher(box, plugin_settings, sender).start()
