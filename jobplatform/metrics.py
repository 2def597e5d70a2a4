"""Prometheus metrics: what each process counts, and where it is scraped.

Each process counts only what happens in it, and is scraped on its own, so nothing is
counted twice or missed: the web process serves `/metrics` (jobs submitted, HTTP
requests, queue depth, live workers); each worker serves its own on WORKER_METRICS_PORT
(jobs succeeded, failed, retried, dead and attempt durations). Both need
`Authorization: Bearer $METRICS_TOKEN` when METRICS_TOKEN is set; without it they are
open, except the web process's in production. As a built-in plugin, this module counts
job transitions through `on_job_event`, the hook every plugin can implement.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobplatform.config import Settings, SettingsError
from jobplatform.db import COMMANDS
from jobplatform.jobs.heartbeat import live_workers
from jobplatform.plugins.hookspecs import hookimpl

log = logging.getLogger("jobplatform.metrics")

JOBS_SUBMITTED = Counter(
    "jobplatform_jobs_submitted", "Jobs submitted (web process).", ["type"], registry=None
)
JOBS_SUCCEEDED = Counter(
    "jobplatform_jobs_succeeded", "Jobs that succeeded (worker).", ["type"], registry=None
)
JOBS_FAILED = Counter(
    "jobplatform_jobs_failed",
    "Failed attempts, retried or not (worker; the reconciler's lost attempts where it runs).",
    ["type"],
    registry=None,
)
JOBS_RETRIED = Counter(
    "jobplatform_jobs_retried",
    "Jobs queued again for another attempt: after a failed attempt, by "
    "hand, or put back by a stopping worker.",
    ["type"],
    registry=None,
)
JOBS_DEAD = Counter(
    "jobplatform_jobs_dead",
    "Jobs that ran out of attempts or failed permanently (worker).",
    ["type"],
    registry=None,
)
ATTEMPT_SECONDS = Histogram(
    "jobplatform_job_attempt_duration_seconds",
    "How long attempts ran, by outcome (worker).",
    ["type", "outcome"],
    registry=None,
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
HTTP_REQUESTS = Counter(
    "jobplatform_http_requests",
    "HTTP requests answered (web process).",
    ["method", "route", "status"],
    registry=None,
)
HTTP_SECONDS = Histogram(
    "jobplatform_http_request_duration_seconds",
    "Time to answer an HTTP request (web process).",
    ["method", "route"],
    registry=None,
)
JOB_METRICS = (
    JOBS_SUBMITTED,
    JOBS_SUCCEEDED,
    JOBS_FAILED,
    JOBS_RETRIED,
    JOBS_DEAD,
    ATTEMPT_SECONDS,
)


@hookimpl
def on_job_event(event: dict[str, Any]) -> None:
    """Count one job transition in the process where it happened."""
    job_type, kind = event["job_type"], event["kind"]
    if kind == "queued":
        # attempt 0: a new job; later: retried by hand, or put back by a stopping worker
        (JOBS_SUBMITTED if event["attempt"] == 0 else JOBS_RETRIED).labels(job_type).inc()
    elif kind == "succeeded":
        JOBS_SUCCEEDED.labels(job_type).inc()
    elif kind == "failed":
        JOBS_FAILED.labels(job_type).inc()
    elif kind == "retrying":
        JOBS_RETRIED.labels(job_type).inc()
    elif kind == "dead":
        JOBS_DEAD.labels(job_type).inc()
    if "duration_ms" in event:
        ATTEMPT_SECONDS.labels(job_type, kind).observe(event["duration_ms"] / 1000)


class MongoCommandCollector(Collector):
    """The MongoDB commands this process has sent, by command name."""

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "jobplatform_mongodb_commands", "MongoDB commands sent, by name.", labels=["command"]
        )
        for command, count in sorted(COMMANDS.counts().items()):
            family.add_metric([command], count)
        yield family


class LiveCollector(Collector):
    """Levels read when scraped: queue depth by queue and live workers (web process only)."""

    def __init__(
        self, queue_depths: Callable[[], dict[str, int]], count_live_workers: Callable[[], int]
    ):
        self.queue_depths = queue_depths
        self.count_live_workers = count_live_workers

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily(
            "jobplatform_queue_depth", "Jobs waiting on a queue, ready to run.", labels=["queue"]
        )
        try:
            for queue, count in self.queue_depths().items():
                depth.add_metric([queue], count)
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because Redis did
            log.warning("queue depth unavailable: %s", exc)
        yield depth
        workers = GaugeMetricFamily(
            "jobplatform_workers_alive", "Worker processes that sent a heartbeat lately."
        )
        try:
            workers.add_metric([], self.count_live_workers())
        except Exception as exc:  # noqa: BLE001 - nor because MongoDB did
            log.warning("live workers unavailable: %s", exc)
        yield workers


def _registry(*collectors: Collector) -> CollectorRegistry:
    registry = CollectorRegistry()  # no auto-describe: LiveCollector reads Redis only on scrape
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    for collector in collectors:
        registry.register(collector)
    return registry


def token_accepted(settings: Settings, authorization: str | None) -> bool:
    """Whether a scrape may read the metrics (see the module docstring)."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if not token:  # unset, or set empty (as in a copied .env.example)
        return settings.app_env != "production"
    expected = f"Bearer {token}"
    return hmac.compare_digest((authorization or "").encode(), expected.encode())


REFUSED = (
    "metrics need 'Authorization: Bearer <METRICS_TOKEN>'; in production set "
    "METRICS_TOKEN to serve them\n"
)


# -- the web process ---------------------------------------------------------------------


class HttpMetricsMiddleware:
    """Counts requests by method, route template and status, with their latency."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            HTTP_SECONDS.labels(scope["method"], route).observe(time.perf_counter() - started)


def install(app: FastAPI, services: Any) -> None:
    """Serve the web process's metrics at `/metrics` (the app adds HttpMetricsMiddleware)."""
    settings: Settings = services.settings
    names = sorted({t.queue for t in services.host.job_types.values()} | {"default"})
    registry = _registry(
        *JOB_METRICS,
        MongoCommandCollector(),
        HTTP_REQUESTS,
        HTTP_SECONDS,
        LiveCollector(
            lambda: {name: services.queue.pending(name) for name in names},
            lambda: len(live_workers(settings.heartbeat_seconds)),
        ),
    )

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        if not token_accepted(settings, request.headers.get("authorization")):
            return PlainTextResponse(REFUSED, status_code=401)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


# -- a worker process --------------------------------------------------------------------


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Scrapes are not worth a log line each."""


def serve_worker_metrics(settings: Settings) -> WSGIServer | None:
    """Serve this worker's metrics (and `/health`) on WORKER_METRICS_PORT, if it is set."""
    if settings.worker_metrics_port is None:
        return None
    registry = _registry(*JOB_METRICS, MongoCommandCollector())

    def app(environ: dict[str, Any], start_response: Callable) -> Iterator[bytes]:
        if environ["PATH_INFO"] == "/health":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return iter([b"ok\n"])
        if environ["PATH_INFO"] != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return iter([b"try /metrics or /health\n"])
        if not token_accepted(settings, environ.get("HTTP_AUTHORIZATION")):
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return iter([REFUSED.encode()])
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return iter([generate_latest(registry)])

    try:
        server = make_server(
            settings.host,
            settings.worker_metrics_port,
            app,
            server_class=_ThreadingServer,
            handler_class=_QuietHandler,
        )
    except OSError as exc:
        raise SettingsError(
            f"WORKER_METRICS_PORT: cannot listen on {settings.host}:"
            f"{settings.worker_metrics_port} ({exc.strerror}); give each worker on one "
            "machine its own port"
        ) from None
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("worker metrics on http://%s:%d/metrics", settings.host, settings.worker_metrics_port)
    return server
