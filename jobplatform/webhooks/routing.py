"""Which endpoints a job event (or a workflow's end) goes to: the delivery job to submit
for each.

Called on the job's own thread (through `on_job_event`) for every transition, so it must
cost nothing when no endpoint wants the event: the enabled endpoints' routes (id, events,
job types) are cached per process for `CACHE_SECONDS`, and an event of another kind, or
of a delivery job itself (no deliveries of deliveries), returns before even that. A
matching event costs one submission of all its deliveries (plugin.py: an idempotency
lookup, an insert and an enqueue); the HTTP request is a job of its own on the `webhooks`
queue, never made here.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from jobplatform.jobs.workflow_models import WORKFLOW_FINISHED
from jobplatform.webhooks.delivery import DELIVER, delivery_request, event_key
from jobplatform.webhooks.models import JOB_EVENTS, WebhookEndpoint, iso

log = logging.getLogger("jobplatform.webhooks")
CACHE_SECONDS = 5.0
EVENT_FIELDS = ("job_id", "job_type", "attempt", "error", "duration_ms")
WORKFLOW_FIELDS = ("workflow_id", "workflow_name", "state")
EVENT_NAMES = {**JOB_EVENTS, WORKFLOW_FINISHED: WORKFLOW_FINISHED}  # event kind -> webhook


@dataclass(frozen=True)
class Route:
    endpoint_id: ObjectId
    events: frozenset[str]
    job_types: frozenset[str]  # empty: every job type

    def wants(self, event: str, job_type: str | None) -> bool:
        """Whether the endpoint wants the event; `job_type` is None for a workflow's end,
        which the job types do not filter (a workflow has steps of many types)."""
        if event not in self.events:
            return False
        return job_type is None or not self.job_types or job_type in self.job_types


class RouteCache:
    """The enabled endpoints' routes, read at most once per `ttl` seconds. A failed read
    keeps the routes it had (and is tried again after `ttl`)."""

    def __init__(self, ttl: float = CACHE_SECONDS):
        self.ttl = ttl
        self._lock = threading.Lock()
        self._routes: tuple[Route, ...] = ()
        self._loaded = False
        self._read_at = float("-inf")

    def routes(self) -> tuple[Route, ...]:
        if time.monotonic() - self._read_at < self.ttl:
            return self._routes
        # The first read is waited for; while one thread reads again, the others go on
        # with the routes they have.
        if not self._lock.acquire(blocking=not self._loaded):
            return self._routes
        try:
            if time.monotonic() - self._read_at >= self.ttl:
                try:
                    self._routes = _read_routes()
                    self._loaded = True
                except Exception as exc:  # noqa: BLE001 - a job must not fail for its webhooks
                    log.warning("webhook endpoints not read (kept the last known): %s", exc)
                self._read_at = time.monotonic()  # after the routes: none sees them half-read
        finally:
            self._lock.release()
        return self._routes

    def forget(self) -> None:
        """Read the endpoints again at the next event (this process changed one)."""
        self._read_at = float("-inf")


def _read_routes() -> tuple[Route, ...]:
    rows = WebhookEndpoint.objects(enabled=True).only("id", "events", "job_types").as_pymongo()
    return tuple(
        Route(row["_id"], frozenset(row.get("events", ())), frozenset(row.get("job_types", ())))
        for row in rows
    )


ROUTES = RouteCache()


def event_deliveries(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The delivery jobs (as submissions) of a job event or a workflow's end: one per
    enabled endpoint that wants it."""
    name = EVENT_NAMES.get(event["kind"])
    if name is None or event.get("job_type") == DELIVER:
        return []
    of_workflow = name == WORKFLOW_FINISHED
    job_type = None if of_workflow else event.get("job_type")
    routes = [r for r in ROUTES.routes() if r.wants(name, job_type)]
    if not routes:
        return []
    fields = WORKFLOW_FIELDS if of_workflow else EVENT_FIELDS
    payload = {key: event[key] for key in fields if key in event}
    payload["at"] = iso(event["at"])
    return [
        delivery_request(
            r.endpoint_id, name, payload, idempotency_key=event_key(r.endpoint_id, name, event)
        )
        for r in routes
    ]
