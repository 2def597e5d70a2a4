"""Cleaning: deleting finished jobs (succeeded, dead, cancelled) in bulk, by state, job type
and how long ago they finished; or, as a dry run, counting how many would go.

The API, the admin app and history retention all go through `clean_finished`. It reads the
matching jobs one state at a time (an equality FerretDB narrows through its `{state, _id}`
index), a page at a time in `_id` order, and deletes each page's jobs of one type
`DELETE_BATCH` at a time: one `delete_many` whose `$in` of ids FerretDB narrows through
the `_id` index, guarded by the filter again, so a job retried meanwhile stays. Each
command answers how many it deleted of one type and state, which is what the counters
are decreased by, so they stay equal to a recount.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jobplatform.jobs.batching import MAX_BATCH
from jobplatform.jobs.errors import InvalidJobData
from jobplatform.jobs.models import FINAL, STATES, Job, utcnow
from jobplatform.jobs.query import id_near
from jobplatform.jobs.stats import StatsRecorder

CLEANABLE = FINAL  # the states whose jobs may be deleted
DELETE_BATCH = MAX_BATCH  # ids in one delete command
PAGE = 1000  # jobs read at a time
MAX_AGE_SECONDS = 100 * 365 * 86400


@dataclass(frozen=True)
class CleanFilter:
    """Which finished jobs: in `states`, of `job_type` (any if None), finished before
    `finished_before` (whenever if None)."""

    states: tuple[str, ...] = FINAL
    job_type: str | None = None
    finished_before: datetime | None = None

    def query(self, state: str) -> dict[str, Any]:
        query: dict[str, Any] = {"state": state}
        if self.job_type is not None:
            query["type"] = self.job_type
        if self.finished_before is not None:
            query["finished_at"] = {"$lt": self.finished_before}
            # a job finishes after it is created, and its id holds its creation second:
            # only older ids can match, a range the store narrows in its index (FerretDB
            # filters `finished_at` row by row, so without it retention read every
            # finished job each hour)
            query["_id"] = {"$lt": id_near(self.finished_before, 1)}
        return query


def clean_filter(
    state: str | None = None,
    job_type: str | None = None,
    older_than_seconds: float | None = None,
    now: datetime | None = None,
) -> CleanFilter:
    """The filter of a clean request; `InvalidJobData` naming the field if it is not one."""
    problems: dict[str, list[str]] = {}
    if state is not None and state not in CLEANABLE:
        why = "is not finished" if state in STATES else "is not a job state"
        problems["state"] = [
            f"must be {', '.join(CLEANABLE)} or none (any of them): '{state}' {why}, "
            "and only finished jobs can be cleaned"
        ]
    if job_type is not None and not (isinstance(job_type, str) and 0 < len(job_type) <= 64):
        problems["type"] = ["must be a job type's name (1 to 64 characters)"]
    if older_than_seconds is not None and not (
        isinstance(older_than_seconds, int | float)
        and math.isfinite(older_than_seconds)
        and 0 <= older_than_seconds <= MAX_AGE_SECONDS
    ):
        problems["older_than_seconds"] = [f"must be a number from 0 to {MAX_AGE_SECONDS}"]
    if problems:
        first = "; ".join(f"{field} {messages[0]}" for field, messages in problems.items())
        raise InvalidJobData(f"nothing was cleaned: {first}", problems)
    before = None
    if older_than_seconds is not None:
        before = (now or utcnow()) - timedelta(seconds=older_than_seconds)
    return CleanFilter((state,) if state else CLEANABLE, job_type, before)


def clean_finished(job_filter: CleanFilter, stats: StatsRecorder, *, dry_run: bool = False) -> int:
    """Delete the finished jobs `job_filter` matches, or count them with `dry_run`; return
    how many were (or would be) deleted."""
    jobs = Job._get_collection()
    if dry_run:
        return sum(jobs.count_documents(job_filter.query(state)) for state in job_filter.states)
    return sum(_delete_state(jobs, job_filter, state, stats) for state in job_filter.states)


def _delete_state(jobs, job_filter: CleanFilter, state: str, stats: StatsRecorder) -> int:
    query, deleted, after = job_filter.query(state), 0, None
    while True:
        page = list(jobs.find(_after(query, after), {"type": 1}).sort("_id", 1).limit(PAGE))
        if not page:
            return deleted
        after = page[-1]["_id"]
        by_type: dict[str, list] = defaultdict(list)
        for row in page:
            by_type[row["type"]].append(row["_id"])
        for job_type, ids in by_type.items():
            for start in range(0, len(ids), DELETE_BATCH):
                batch = ids[start : start + DELETE_BATCH]
                guard = {**query, "type": job_type, "_id": {"$in": batch}}
                n = jobs.delete_many(guard).deleted_count
                if n:
                    stats.moved(job_type, state, None, n)
                deleted += n
        if len(page) < PAGE:
            return deleted


def _after(query: dict[str, Any], after: Any) -> dict[str, Any]:
    """`query` narrowed to ids after `after` (None: from the first)."""
    if after is None:
        return query
    return {**query, "_id": {**query.get("_id", {}), "$gt": after}}
