"""Job statistics from counters kept on every transition, not from counting the collection.

Each process buffers the transitions it makes in a `StatsRecorder` and adds them to
MongoDB about once a second with `$inc`, in one command a collection:

- `job_counts`: per job type, the change each process made to the number of jobs in
  each state;
- `job_outcomes`: how many attempts ended how (succeeded, failed, dead, cancelled), per
  minute for two hours and per quarter hour for eight days, in a few small documents a
  type and process (`attempt_series`), read as the last hour, 24 hours or 7 days.

Each recorder writes only documents of its own (their ids end with its owner) and
readers add them up: FerretDB 1.24 applies an update by reading the document and writing
it back, so two writers adding to one document could lose an increment. Reading the
stats is a handful of small documents however many jobs there are. A process that dies
loses at most its last second of increments; the reconciler's leader recounts the
states from the jobs every few minutes (`recount`), which repairs any drift.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
from collections import Counter
from datetime import datetime
from typing import Any

from mongoengine.connection import get_db
from pymongo import UpdateOne

from jobplatform.jobs import attempt_series
from jobplatform.jobs.attempt_series import DEFAULT_RANGE, OUTCOMES, range_named
from jobplatform.jobs.batching import MAX_BATCH
from jobplatform.jobs.models import STATES, utcnow

log = logging.getLogger("jobplatform.stats")
COUNTS = "job_counts"
BASE = "recount"  # the owner of the counts the last recount set
_RECORDERS = itertools.count(1)  # tells apart the recorders of one process


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


class StatsRecorder:
    """Buffers this process's transitions and adds them to MongoDB every `flush_seconds`."""

    def __init__(self, flush_seconds: float = 1.0, owner: str | None = None):
        self.flush_seconds = flush_seconds
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{next(_RECORDERS)}"
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one flush at a time adds to this owner's documents
        self._states: Counter[tuple[str, str]] = Counter()  # (type, state) -> change
        self._outcomes: Counter[tuple[datetime, str, str]] = Counter()  # (minute, type, outcome)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def moved(self, job_type: str, before: str | None, after: str | None, count: int = 1) -> None:
        """`count` jobs of `job_type` left state `before` for `after` (None: created, removed)."""
        with self._lock:
            if before:
                self._states[(job_type, before)] -= count
            if after:
                self._states[(job_type, after)] += count
        self._start()

    def ended(self, job_type: str, outcome: str, at: datetime | None = None) -> None:
        """An attempt ended with `outcome` (succeeded, failed, dead or cancelled) at `at`."""
        with self._lock:
            self._outcomes[(minute_of(at or utcnow()), job_type, outcome)] += 1
        self._start()

    def flush(self) -> None:
        """Add what is buffered to MongoDB; what MongoDB did not take waits for the next try."""
        with self._flushing:
            with self._lock:
                states, self._states = self._states, Counter()
                outcomes, self._outcomes = self._outcomes, Counter()
            if not _store(COUNTS, _count_upserts(self.owner, states)):
                with self._lock:
                    self._states.update(states)
            if not _store(attempt_series.COLLECTION, attempt_series.upserts(self.owner, outcomes)):
                with self._lock:
                    self._outcomes.update(outcomes)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush()

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="stats-flush", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()


def _count_upserts(owner: str, states: Counter) -> list[UpdateOne]:
    per_type: dict[str, dict[str, int]] = {}
    for (job_type, state), change in states.items():
        if change:
            per_type.setdefault(job_type, {})[f"states.{state}"] = change
    return [
        UpdateOne(
            {"_id": f"{job_type}|{owner}"}, {"$inc": inc, "$set": {"type": job_type}}, upsert=True
        )
        for job_type, inc in per_type.items()
    ]


def _store(collection: str, statements: list[UpdateOne]) -> bool:
    """Send `statements` in as few commands as FerretDB takes; False if MongoDB failed."""
    try:
        for at in range(0, len(statements), MAX_BATCH):
            get_db()[collection].bulk_write(statements[at : at + MAX_BATCH], ordered=False)
    except Exception as exc:  # noqa: BLE001 - counters wait for MongoDB to come back
        log.warning("could not store job counters, will retry: %s", exc)
        return False
    return True


def recount() -> None:
    """Replace the counts of every process by one count of the jobs (the leader runs it)."""
    db = get_db()
    rows = db["jobs"].aggregate(
        [{"$group": {"_id": {"type": "$type", "state": "$state"}, "n": {"$sum": 1}}}]
    )
    counted: dict[str, dict[str, int]] = {}
    for row in rows:
        counted.setdefault(row["_id"]["type"], {})[row["_id"]["state"]] = row["n"]
    db[COUNTS].delete_many({})
    if counted:
        db[COUNTS].insert_many(
            [
                {
                    "_id": f"{job_type}|{BASE}",
                    "type": job_type,
                    "states": {s: states.get(s, 0) for s in STATES},
                }
                for job_type, states in counted.items()
            ]
        )


def trim_counters(now: datetime) -> int:
    """Drop the attempt counters past their retention (two hours of minutes, eight days of
    quarter hours); the reconciler's leader runs it with the history's retention."""
    return attempt_series.trim(now)


def counts_by_type() -> dict[str, dict[str, int]]:
    """Jobs by type and state, from the counters (a handful of small documents)."""
    by_type: dict[str, dict[str, int]] = {}
    for doc in get_db()[COUNTS].find():
        counts = by_type.setdefault(doc["type"], dict.fromkeys(STATES, 0))
        for state, change in doc.get("states", {}).items():
            if state in counts:
                counts[state] += change
    for counts in by_type.values():
        counts.update({s: max(0, n) for s, n in counts.items()})
    return by_type


def read_stats(
    queue_lengths: dict[str, dict[str, int]],
    workers: list[dict[str, Any]],
    now: datetime | None = None,
    range_name: str = DEFAULT_RANGE,
) -> dict[str, Any]:
    """Counts by state and type, the last hour minute by minute, the attempts over
    `range_name` (`attempt_series.RANGES`; UnknownRange before anything is read), queue
    lengths and workers."""
    range_named(range_name)
    now = now or utcnow()
    by_type = counts_by_type()
    attempts = attempt_series.read_series(range_name, now)
    hour = attempts if range_name == "1h" else attempt_series.read_series("1h", now)
    return {
        "by_state": {s: sum(counts[s] for counts in by_type.values()) for s in STATES},
        "by_type": by_type,
        "last_hour": {
            "minutes": [
                {"minute": b["start"], **{o: b[o] for o in OUTCOMES}} for b in hour["buckets"]
            ],
            "totals": hour["totals"],
            "failure_rate": hour["failure_rate"],
        },
        "attempts": attempts,
        "queues": queue_lengths,
        "workers": workers,
    }
