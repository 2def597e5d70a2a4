"""Job statistics from counters kept on every transition, not from counting the collection.

Each process buffers the transitions it makes in a `StatsRecorder` and adds them to
MongoDB about once a second with `$inc`, into two small collections:

- `job_counts`: per job type, the change each process made to the number of jobs in
  each state;
- `job_minutes`: per minute and job type, how many attempts ended how (succeeded, failed,
  dead, cancelled) in each process, so throughput and failure rate over the last hour are
  sixty small documents a type and process.

Each process writes only documents of its own (their ids end with `|<process>`) and
readers add them up: FerretDB 1.24 applies an update by reading the document and writing
it back, so two processes adding to one document could lose an increment. Reading the
stats is a handful of small documents however many jobs there are. A process that dies
loses at most its last second of increments; the reconciler's leader recounts the
states from the jobs every few minutes (`recount`), which repairs any drift.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from mongoengine.connection import get_db

from jobplatform.jobs.models import STATES, utcnow

log = logging.getLogger("jobplatform.stats")
COUNTS, MINUTES = "job_counts", "job_minutes"
OUTCOMES = ("succeeded", "failed", "dead", "cancelled")
BASE = "recount"  # the owner of the counts the last recount set


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


class StatsRecorder:
    """Buffers this process's transitions and adds them to MongoDB every `flush_seconds`."""

    def __init__(self, flush_seconds: float = 1.0, owner: str | None = None):
        self.flush_seconds = flush_seconds
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self._lock = threading.Lock()
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
        """An attempt ended with `outcome` (succeeded, failed, dead or cancelled)."""
        with self._lock:
            self._outcomes[(minute_of(at or utcnow()), job_type, outcome)] += 1
        self._start()

    def flush(self) -> None:
        """Add what is buffered to MongoDB; if MongoDB is down, keep it for the next try."""
        with self._lock:
            states, self._states = self._states, Counter()
            outcomes, self._outcomes = self._outcomes, Counter()
        try:
            _write(self.owner, states, outcomes)
        except Exception as exc:  # noqa: BLE001 - counters wait for MongoDB to come back
            log.warning("could not store job counters, will retry: %s", exc)
            with self._lock:
                self._states.update(states)
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


def _write(owner: str, states: Counter, outcomes: Counter) -> None:
    db = get_db()
    per_type: dict[str, dict[str, int]] = {}
    for (job_type, state), change in states.items():
        if change:
            per_type.setdefault(job_type, {})[f"states.{state}"] = change
    for job_type, inc in per_type.items():
        db[COUNTS].update_one(
            {"_id": f"{job_type}|{owner}"}, {"$inc": inc, "$set": {"type": job_type}}, upsert=True
        )
    per_minute: dict[tuple[datetime, str], dict[str, int]] = {}
    for (minute, job_type, outcome), n in outcomes.items():
        per_minute.setdefault((minute, job_type), {})[outcome] = n
    for (minute, job_type), inc in per_minute.items():
        key = f"{minute.isoformat(timespec='minutes')}|{job_type}|{owner}"
        db[MINUTES].update_one(
            {"_id": key}, {"$inc": inc, "$set": {"minute": minute, "type": job_type}}, upsert=True
        )


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


def trim_minutes(older_than: datetime) -> int:
    return get_db()[MINUTES].delete_many({"minute": {"$lt": older_than}}).deleted_count


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
) -> dict[str, Any]:
    """Counts by state and type, the last hour minute by minute, queue lengths, workers."""
    db = get_db()
    now = now or utcnow()
    by_type = counts_by_type()
    by_state = {s: sum(counts[s] for counts in by_type.values()) for s in STATES}
    start = minute_of(now) - timedelta(minutes=59)
    per_minute = {start + timedelta(minutes=m): dict.fromkeys(OUTCOMES, 0) for m in range(60)}
    for doc in db[MINUTES].find({"minute": {"$gte": start}}):
        bucket = per_minute.get(doc["minute"])
        if bucket is not None:
            for outcome in OUTCOMES:
                bucket[outcome] += doc.get(outcome, 0)
    hour = {o: sum(b[o] for b in per_minute.values()) for o in OUTCOMES}
    attempts = hour["succeeded"] + hour["failed"]
    return {
        "by_state": by_state,
        "by_type": by_type,
        "last_hour": {
            "minutes": [
                {"minute": m.isoformat(timespec="minutes") + "Z", **b}
                for m, b in per_minute.items()
            ],
            "totals": hour,
            "failure_rate": round(hour["failed"] / attempts, 4) if attempts else 0.0,
        },
        "queues": queue_lengths,
        "workers": workers,
    }
