"""Queue controls: the named queues the job types use, what waits on each, and pausing them.

A paused queue's workers take nothing new from it; the jobs they are running finish. The
paused set is a small MongoDB collection, `paused_queues` (one document a paused queue:
who paused it and when), so it holds across worker restarts, in both modes (Redis or the
queue file). `QueueControls` holds the rules (only a queue a job type uses can be paused,
a queue no type uses any more can still be resumed); the API, the admin app and
`jobplatform queues` all go through it.

A worker never reads MongoDB to take a message: its `PauseWatch` reads the paused set when
the worker starts and then once a second, in a thread of its own, and the worker's
consumers ask it before each dequeue (see `JobQueue`). A paused queue's messages stay on
the queue, untouched: they are not taken and bounced back, so a pause costs no attempt,
no history write and no queue write. A pause reaches every worker within a second (each
logs "queue NAME paused"); from then on it takes nothing from that queue. The one message
a consumer may receive from a read it was already blocked in when the pause arrived goes
back on the queue as it was, once; a message taken before the pause arrived runs, like a
job already running.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from mongoengine.connection import get_db

from jobplatform.errors import NotFound
from jobplatform.jobs.limit_store import LimitStore
from jobplatform.jobs.limits import describe_limits
from jobplatform.jobs.models import QUEUED, RETRYING, RUNNING, SCHEDULED, utcnow
from jobplatform.jobs.stats import counts_by_type
from jobplatform.plugins.host import PluginHost

log = logging.getLogger("jobplatform.queues")
PAUSED = "paused_queues"


class UnknownQueue(NotFound):
    """No job type uses the queue (and it is not paused)."""


def paused_queues() -> dict[str, dict[str, Any]]:
    """Paused queue name -> {"paused_by", "paused_at"}."""
    return {doc.pop("_id"): doc for doc in get_db()[PAUSED].find()}


class QueueControls:
    """The queues of the loaded job types: list them, pause and resume them."""

    def __init__(self, host: PluginHost, limit_store: LimitStore | None = None):
        self.host = host
        self.limit_store = limit_store  # to count the limited types' slots taken

    def job_types_by_queue(self) -> dict[str, list[str]]:
        by_queue: dict[str, list[str]] = {}
        for name, job_type in sorted(self.host.job_types.items()):
            by_queue.setdefault(job_type.queue, []).append(name)
        return by_queue

    def list(self) -> list[dict[str, Any]]:
        """Each queue a job type uses, and each paused one: its job types, its jobs
        queued (ready, taken in turn), scheduled, retrying and running (from the engine's
        counters), whether it is paused, by whom and since when, and the limits of its
        job types that have any (jobs/limits.py)."""
        by_queue = self.job_types_by_queue()
        paused = paused_queues()
        counts = counts_by_type()
        limits = describe_limits(self.host.job_types, self.limit_store)
        rows = []
        for name in sorted(by_queue.keys() | paused.keys()):
            types = by_queue.get(name, [])
            total = {
                state: sum(counts.get(t, {}).get(state, 0) for t in types)
                for state in (QUEUED, SCHEDULED, RETRYING, RUNNING)
            }
            pause = paused.get(name)
            rows.append(
                {
                    "name": name,
                    "job_types": types,
                    "waiting": total[QUEUED],
                    "scheduled": total[SCHEDULED],
                    "retrying": total[RETRYING],
                    "running": total[RUNNING],
                    "paused": pause is not None,
                    "paused_by": pause["paused_by"] if pause else None,
                    "paused_at": pause["paused_at"] if pause else None,
                    "limits": [limits[t] for t in types if t in limits],
                }
            )
        return rows

    def get(self, name: str) -> dict[str, Any]:
        for row in self.list():
            if row["name"] == name:
                return row
        raise self._unknown(name)

    def pause(self, name: str, actor: str | None = None) -> dict[str, Any]:
        """Pause a queue a job type uses; pausing a paused queue keeps its first pause."""
        if name not in self.job_types_by_queue():
            raise self._unknown(name)
        stamp = {"paused_by": actor, "paused_at": utcnow()}
        get_db()[PAUSED].update_one({"_id": name}, {"$setOnInsert": stamp}, upsert=True)
        log.info("queue %s paused by %s", name, actor)
        return self.get(name)

    def resume(self, name: str, actor: str | None = None) -> dict[str, Any]:
        """Resume a paused queue (a queue no type uses any more too); a queue that is not
        paused stays as it is."""
        removed = get_db()[PAUSED].delete_one({"_id": name}).deleted_count
        if not removed and name not in self.job_types_by_queue():
            raise self._unknown(name)
        if removed:
            log.info("queue %s resumed by %s", name, actor)
        return self.get(name)

    def _unknown(self, name: str) -> UnknownQueue:
        known = sorted(self.job_types_by_queue())
        return UnknownQueue(
            f"no job type uses a queue named '{name}'; known queues: {', '.join(known)}",
            {"known": known},
        )


class PauseWatch:
    """The paused queues as one worker sees them: read at `start`, then every `every`
    seconds by a thread of its own. Logs when a queue it serves is paused or resumed."""

    def __init__(self, served: list[str], every: float = 1.0):
        self.served = set(served)
        self.every = every
        self._paused: frozenset[str] = frozenset()
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pause-watch", daemon=True)

    def start(self) -> PauseWatch:
        self.refresh()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def holds(self, queue: str, wait: float = 1.0) -> bool:
        """Whether `queue` is paused; while it is, wait up to `wait` seconds for a resume
        first (a consumer's poll of a paused queue waits here instead of spinning)."""
        with self._changed:
            if queue in self._paused:
                self._changed.wait(wait)
            return queue in self._paused

    def refresh(self) -> None:
        try:
            paused = frozenset(get_db()[PAUSED].distinct("_id"))
        except Exception as exc:  # noqa: BLE001 - keep the last known set until MongoDB is back
            log.warning("could not read the paused queues (%s); keeping the last known", exc)
            return
        with self._changed:
            before, self._paused = self._paused, paused
            self._changed.notify_all()
        for name in sorted((paused - before) & self.served):
            log.info("queue %s paused: this worker takes nothing new from it", name)
        for name in sorted((before - paused) & self.served):
            log.info("queue %s resumed: this worker takes its jobs again", name)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.refresh()
