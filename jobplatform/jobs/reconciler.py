"""The reconciler: repairs what crashes leave behind, so that no job is ever lost.

It runs in every web and worker process, but only the holder of the `reconciler` lock
(a lease in MongoDB) acts, so one process at a time does the work. Each round it:

- takes back running jobs whose lease ran out (their worker died or was cut off): the
  attempt is recorded as `lost`, and the job is queued again, or dead if that was its
  last attempt;
- re-enqueues waiting jobs whose message is missing from the queue (Redis was flushed or
  restarted, or the enqueue failed after the MongoDB write). Reading a whole queue is not
  free, so it first compares, per queue, the number of waiting jobs in MongoDB with the
  number of messages in Huey; only when MongoDB has more does it read the job ids on the
  queue and re-enqueue the due jobs that are not there and have waited longer than
  REQUEUE_AFTER_SECONDS. A duplicate message is harmless: the claim is atomic;
- every ten minutes, recounts the job counters (transitions made in the second around a
  recount may be counted twice or not at all until the next one), and every hour applies
  history retention.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from jobplatform.config import Settings
from jobplatform.jobs import retention
from jobplatform.jobs.events import job_event
from jobplatform.jobs.leader import LeaderLock
from jobplatform.jobs.models import DEAD, QUEUED, RUNNING, WAITING, Attempt, Job, utcnow
from jobplatform.jobs.queue import JobQueue
from jobplatform.jobs.stats import StatsRecorder, recount
from jobplatform.plugins.host import PluginHost

if TYPE_CHECKING:
    from jobplatform.services import Services

log = logging.getLogger("jobplatform.reconciler")
RECOUNT_SECONDS = 600.0
RETENTION_SECONDS = 3600.0


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        host: PluginHost,
        queue: JobQueue,
        stats: StatsRecorder,
        owner: str,
    ):
        self.settings = settings
        self.host = host
        self.queue = queue
        self.stats = stats
        self.lock = LeaderLock("reconciler", owner, ttl=max(3 * settings.reconcile_seconds, 5))
        self._due = {"recount": time.monotonic() + RECOUNT_SECONDS, "retention": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reconciler", daemon=True)

    def start(self) -> Reconciler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        try:
            self.lock.release()
        except Exception:  # noqa: BLE001 - the lock expires on its own
            pass

    def run_once(self, now: datetime | None = None) -> bool:
        """One round, if this process is the leader; True if it was."""
        if not self.lock.acquire():
            return False
        now = now or utcnow()
        self.take_back_expired(now)
        self.requeue_missing(now)
        clock = time.monotonic()
        if clock >= self._due["recount"]:
            recount()
            self._due["recount"] = clock + RECOUNT_SECONDS
        if clock >= self._due["retention"]:
            retention.apply_retention(self.settings.retention_days, self.stats, now)
            self._due["retention"] = clock + RETENTION_SECONDS
        return True

    def take_back_expired(self, now: datetime) -> int:
        """Put back (or bury) running jobs whose lease ran out; return how many."""
        taken = 0
        for job in Job.objects(state=RUNNING, lease_expires_at__lt=now).exclude(
            "attempts", "result"
        ):
            message = (
                f"worker {job.worker_id} stopped renewing the job's lease (it crashed, "
                "was killed, or lost its connection)"
            )
            attempt = Attempt(
                number=job.attempt_count,
                worker=job.worker_id,
                started_at=job.started_at,
                finished_at=now,
                duration_ms=(now - job.started_at).total_seconds() * 1000
                if job.started_at
                else None,
                outcome="lost",
                error_type="LeaseExpired",
                error_message=message,
            )
            last = job.attempt_count >= job.max_attempts
            fields = {"set__finished_at": now} if last else {"set__run_at": None}
            done = Job.objects(
                id=job.id,
                state=RUNNING,
                attempt_count=job.attempt_count,
                worker_id=job.worker_id,
                lease_expires_at__lt=now,
            ).modify(
                new=True,
                push__attempts=attempt,
                set__state=DEAD if last else QUEUED,
                set__error=f"LeaseExpired: {message}",
                set__updated_at=now,
                unset__lease_expires_at=True,
                **fields,
            )
            if done is None:
                continue  # its worker renewed or finished it meanwhile
            taken += 1
            self.stats.moved(job.type, RUNNING, done.state)
            self.stats.ended(job.type, "failed", now)
            self.host.emit(job_event("failed", done, error=done.error))
            if last:
                self.stats.ended(job.type, DEAD, now)
                self.host.emit(job_event("dead", done, error=done.error))
                log.error("job %s is dead: %s", job.id, message)
                continue
            log.warning("job %s: %s; queued again", job.id, message)
            self._enqueue(done)
        return taken

    def requeue_missing(self, now: datetime) -> int:
        """Re-enqueue due waiting jobs that have no message on their queue; return how many."""
        waiting = defaultdict(list)
        for row in (
            Job.objects(state__in=WAITING)
            .only("id", "queue", "run_at", "updated_at", "priority")
            .as_pymongo()
        ):
            waiting[row.get("queue", "default")].append(row)
        cutoff = now - timedelta(seconds=self.settings.requeue_after_seconds)
        requeued = 0
        for name, rows in waiting.items():
            lengths = self.queue.lengths(name)
            if len(rows) <= lengths["pending"] + lengths["scheduled"]:
                continue  # as many messages as waiting jobs: nothing is missing
            present = self.queue.job_ids(name)
            for row in rows:
                due = row.get("run_at") is None or row["run_at"] < cutoff
                if str(row["_id"]) in present or not due or row["updated_at"] >= cutoff:
                    continue
                job = Job.objects(
                    id=row["_id"], state__in=WAITING, updated_at=row["updated_at"]
                ).modify(new=True, set__updated_at=now)
                if job is not None:
                    log.warning(
                        "job %s was waiting with no message on queue %s; re-enqueued", job.id, name
                    )
                    self._enqueue(job)
                    requeued += 1
        return requeued

    def _enqueue(self, job: Job) -> None:
        try:
            self.queue.enqueue(job.queue, str(job.id), priority=job.priority)
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log.warning("job %s: could not enqueue (%s); will try again", job.id, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.reconcile_seconds):
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - MongoDB or Redis may be back next round
                log.warning("reconciler round failed: %s", exc)


def start_reconciler(settings: Settings, services: Services) -> Reconciler:
    """Run a reconciler in this web process (`jobplatform web`), beside the workers' ones."""
    owner = f"web:{socket.gethostname()}:{os.getpid()}"
    return Reconciler(
        settings, services.host, services.queue, services.jobs.stats, owner=owner
    ).start()
