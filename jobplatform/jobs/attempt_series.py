"""Attempt outcomes over time: how many attempts ended how, per minute and per quarter hour,
and the ranges the dashboard and `GET /api/stats?range=` read from them.

Two levels of buckets live in `job_outcomes`, each in documents that span a fixed period:

| level | bucket | one document spans | documents dropped |
|---|---|---|---|
| `minutes` | 1 minute | 1 hour (60 buckets) | 2 hours after they begin |
| `quarters` | 15 minutes | 1 day, UTC (96 buckets) | 8 days after they begin |

A document belongs to one level, period, job type and process (`_id` is
`level|start|type|owner`): FerretDB applies an update by reading the document and writing it
back, so each process adds only to documents of its own and readers add them up. A bucket
is `counts.<index>.<outcome>`, incremented with `$inc`, so one flush of a process writes
two statements a job type (its hour, its day) whatever the number of attempts, and a range
reads a few documents a type and process: two for the last hour, two for 24 hours, eight
for 7 days (hourly buckets of four quarters each).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mongoengine.connection import get_db
from pymongo import UpdateOne

from jobplatform.errors import InvalidInput

COLLECTION = "job_outcomes"
OUTCOMES = ("succeeded", "failed", "dead", "cancelled")
EPOCH = datetime(1970, 1, 1)  # buckets and documents start at whole multiples from here


def floor(at: datetime, span: timedelta) -> datetime:
    """The start of the `span`-long period (counted from the epoch, UTC) holding `at`."""
    return EPOCH + (at - EPOCH) // span * span


@dataclass(frozen=True)
class Level:
    """Buckets of one size, kept in documents of `document` length for `keep`."""

    name: str
    bucket: timedelta
    document: timedelta
    keep: timedelta

    def place(self, at: datetime) -> tuple[datetime, int]:
        """The start of the document that holds `at`, and the index of its bucket there."""
        start = floor(at, self.document)
        return start, (at - start) // self.bucket


MINUTES = Level("minutes", timedelta(minutes=1), timedelta(hours=1), timedelta(hours=2))
QUARTERS = Level("quarters", timedelta(minutes=15), timedelta(days=1), timedelta(days=8))
LEVELS = (MINUTES, QUARTERS)


@dataclass(frozen=True)
class Range:
    """The last `buckets` buckets of `bucket` length, added up from `level`'s buckets."""

    name: str
    level: Level
    bucket: timedelta
    buckets: int


RANGES = {
    r.name: r
    for r in (
        Range("1h", MINUTES, timedelta(minutes=1), 60),
        Range("24h", QUARTERS, timedelta(minutes=15), 96),
        Range("7d", QUARTERS, timedelta(hours=1), 168),
    )
}
DEFAULT_RANGE = "1h"


class UnknownRange(InvalidInput):
    """A range other than those of `RANGES`; `details` names the `range` field."""

    def __init__(self, name: str):
        message = f"unknown range {name[:20]!r}; use one of {', '.join(RANGES)}"
        super().__init__(message, details={"range": [message]})


def range_named(name: str) -> Range:
    try:
        return RANGES[name]
    except KeyError:
        raise UnknownRange(name) from None


def upserts(owner: str, outcomes: Mapping[tuple[datetime, str, str], int]) -> list[UpdateOne]:
    """The `$inc` statements that add `outcomes` ({(minute, type, outcome): n}) to `owner`'s
    documents of every level: one statement a document, however many buckets it gets."""
    documents: dict[str, tuple[dict[str, Any], Counter[str]]] = {}
    for (at, job_type, outcome), n in outcomes.items():
        for level in LEVELS:
            start, index = level.place(at)
            key = f"{level.name}|{start.isoformat(timespec='minutes')}|{job_type}|{owner}"
            fields = {"level": level.name, "start": start, "type": job_type}
            documents.setdefault(key, (fields, Counter()))[1][f"counts.{index:02d}.{outcome}"] += n
    return [
        UpdateOne({"_id": key}, {"$inc": dict(inc), "$set": fields}, upsert=True)
        for key, (fields, inc) in documents.items()
        if any(inc.values())
    ]


def read_series(name: str, now: datetime) -> dict[str, Any]:
    """The range `name` up to `now`: its buckets oldest first (start, count of each outcome),
    totals and failure rate (failed attempts over succeeded and failed ones)."""
    span = range_named(name)
    level = span.level
    first = floor(now, span.bucket) - span.bucket * (span.buckets - 1)
    buckets = [dict.fromkeys(OUTCOMES, 0) for _ in range(span.buckets)]
    query = {"level": level.name, "start": {"$gte": floor(first, level.document)}}
    for doc in get_db()[COLLECTION].find(query, {"start": 1, "counts": 1}):
        for index, counts in doc.get("counts", {}).items():
            slot = (doc["start"] + level.bucket * int(index) - first) // span.bucket
            if 0 <= slot < span.buckets:
                for outcome in OUTCOMES:
                    buckets[slot][outcome] += counts.get(outcome, 0)
    totals = {o: sum(b[o] for b in buckets) for o in OUTCOMES}
    attempts = totals["succeeded"] + totals["failed"]
    return {
        "range": span.name,
        "bucket_seconds": int(span.bucket.total_seconds()),
        "buckets": [
            {"start": (first + span.bucket * i).isoformat(timespec="minutes") + "Z", **b}
            for i, b in enumerate(buckets)
        ],
        "totals": totals,
        "failure_rate": round(totals["failed"] / attempts, 4) if attempts else 0.0,
    }


def trim(now: datetime) -> int:
    """Drop every level's documents that began longer ago than it keeps them; how many."""
    removed = 0
    for level in LEVELS:
        older = {"level": level.name, "start": {"$lt": now - level.keep}}
        removed += get_db()[COLLECTION].delete_many(older).deleted_count
    return removed
