"""What the admin app reads, through the same functions as the API: pages of jobs
(`jobs.query`), stats (`jobs.stats`), live workers (`jobs.heartbeat`), and whether Redis and
MongoDB answer. Every change to a job goes through `JobService` (see `ui.actions`)."""

from __future__ import annotations

from typing import Any

from mongoengine.connection import get_db

from jobplatform.api.stats import queue_lengths
from jobplatform.jobs.attempt_series import DEFAULT_RANGE
from jobplatform.jobs.heartbeat import live_workers
from jobplatform.jobs.stats import COUNTS, read_stats
from jobplatform.services import Services


def _check(probe) -> str | None:
    """None when the probe works, else the error in one line."""
    try:
        probe()
    except Exception as exc:  # noqa: BLE001 - any failure means the dependency is down
        return f"{type(exc).__name__}: {exc}"
    return None


def dependency_status(services: Services) -> dict[str, str | None]:
    """{"redis": error or None, "mongodb": error or None}."""
    return {
        "redis": _check(services.queue.ping),
        "mongodb": _check(lambda: get_db().command("ping")),
    }


def workers_online(services: Services) -> list[dict[str, Any]]:
    """Live workers: id, host, pid, queues, concurrency, jobs (running ids), seen_at."""
    return live_workers(services.settings.heartbeat_seconds)


def dashboard_figures(services: Services, range_name: str = DEFAULT_RANGE) -> dict[str, Any]:
    """What GET /api/stats?range= answers: counts by state, the attempts, queues, workers."""
    return read_stats(queue_lengths(services), workers_online(services), range_name=range_name)


def change_marker() -> tuple:
    """Something that changes whenever a job is created, changes state or is removed: the
    engine's per-type state counters (a few small documents, unlike a query of the jobs)."""
    return tuple(
        sorted(
            (doc["_id"], tuple(sorted(doc.get("states", {}).items())))
            for doc in get_db()[COUNTS].find()
        )
    )
