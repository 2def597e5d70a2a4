"""The platform at a glance, for the API and the admin app alike: the stats (`jobs.stats`)
with the queue lengths, the live workers (`jobs.heartbeat`), whether Redis and MongoDB
answer, and a marker that changes whenever a job does."""

from __future__ import annotations

from typing import Any

from mongoengine.connection import get_db

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


def queue_lengths(services: Services) -> dict[str, dict[str, int]]:
    """Messages on each queue that a job type or a live worker uses."""
    names = {t.queue for t in services.host.job_types.values()} | {"default"}
    for worker in workers_online(services):
        names.update(worker.get("queues", []))
    return {name: services.queue.lengths(name) for name in sorted(names)}


def figures(services: Services, range_name: str = DEFAULT_RANGE) -> dict[str, Any]:
    """What GET /api/stats?range= answers: counts by state, the attempts over the range
    (UnknownRange for another), queues, workers."""
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
