"""Worker heartbeats: each worker says every few seconds who it is and what it is running.

One document a worker in the `workers` collection (id, host, pid, queues, concurrency,
the ids of the jobs it is running, when it started and when it was last seen). A worker
is live while it was seen within three heartbeat intervals; a worker that stops cleanly
removes its document, and the reconciler's leader forgets those silent for a day.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from mongoengine.connection import get_db

from jobplatform.jobs.models import utcnow

log = logging.getLogger("jobplatform.worker")
WORKERS = "workers"


class Heartbeat:
    """Reports one worker every `every` seconds from a thread of its own."""

    def __init__(
        self,
        worker_id: str,
        queues: list[str],
        concurrency: int,
        current_jobs: Callable[[], list[str]],
        every: float,
    ):
        self.worker_id = worker_id
        self.every = every
        self.current_jobs = current_jobs
        self.started_at = utcnow()
        self.static = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": queues,
            "concurrency": concurrency,
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        """Report now, so a worker is live by the time it says it is ready; then every
        `every` seconds from a thread."""
        self._beat_or_warn()
        self._thread.start()
        return self

    def beat(self, *, stopping: bool = False) -> None:
        get_db()[WORKERS].update_one(
            {"_id": self.worker_id},
            {
                "$set": {
                    **self.static,
                    "jobs": self.current_jobs(),
                    "started_at": self.started_at,
                    "seen_at": utcnow(),
                    "stopping": stopping,
                }
            },
            upsert=True,
        )

    def stop(self) -> None:
        """Stop beating and remove this worker from the live list."""
        self._stop.set()
        self._thread.join(5)
        try:
            get_db()[WORKERS].delete_one({"_id": self.worker_id})
        except Exception as exc:  # noqa: BLE001 - it ages out of the live list anyway
            log.warning("could not remove worker %s from the registry: %s", self.worker_id, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._beat_or_warn()

    def _beat_or_warn(self) -> None:
        try:
            self.beat()
        except Exception as exc:  # noqa: BLE001 - MongoDB may be back at the next beat
            log.warning("heartbeat failed: %s", exc)


def live_workers(heartbeat_seconds: float, now: datetime | None = None) -> list[dict[str, Any]]:
    """Workers seen within three heartbeat intervals, oldest first."""
    since = (now or utcnow()) - timedelta(seconds=3 * heartbeat_seconds)
    rows = get_db()[WORKERS].find({"seen_at": {"$gte": since}}).sort("started_at", 1)
    return [{"id": row.pop("_id"), **row} for row in rows]


def forget_silent(before: datetime) -> int:
    return get_db()[WORKERS].delete_many({"seen_at": {"$lt": before}}).deleted_count
