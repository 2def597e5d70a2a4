"""The reconciler: repairs what crashes leave behind, so that no job is ever lost.

It runs in every web and worker process, but only the holder of the `reconciler` lock
(a lease in MongoDB) acts, so one process at a time does the work. Each round it:

- takes back running jobs whose lease ran out (their worker died or was cut off): the
  attempt is recorded as `lost`, and the job is queued again, or dead if that was its
  last attempt;
- re-enqueues due waiting jobs whose message is missing from the queue (Redis was flushed
  or restarted, the enqueue failed after the MongoDB write, or a worker died during an
  attempt it had not recorded yet). Reading a whole queue is not free, so it first
  compares, per queue, the number of waiting jobs the engine's counters hold with the
  number of messages in Huey; only when the counters have more does it read the waiting
  jobs submitted more than REQUEUE_AFTER_SECONDS ago (by id, which the store narrows in
  its index, so a burst of fresh jobs is not read round after round) and the job ids on
  the queue. A job is re-enqueued once it has been seen missing, unchanged, for
  REQUEUE_AFTER_SECONDS more (a worker records an attempt that runs longer than a
  fraction of that as running): about twice that after its submission at the earliest.
  The message says it was sent again, and so does the attempt that it starts;
- repairs running workflows whose counters have not moved for REQUEUE_AFTER_SECONDS (and,
  that often, those without counters): releases (or cancels) steps still blocked although
  every step they are after has ended, and records the end of workflows whose steps have
  all ended: what a worker killed between a step's end and those writes leaves behind
  (jobs/workflow_steps.py);
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
from jobplatform.jobs import retention, schedules
from jobplatform.jobs.heartbeat import live_workers
from jobplatform.jobs.leader import LeaderLock
from jobplatform.jobs.models import DEAD, RUNNING, WAITING, Job, utcnow
from jobplatform.jobs.query import id_near
from jobplatform.jobs.queue import JobQueue
from jobplatform.jobs.stats import counts_by_type, recount
from jobplatform.jobs.transitions import JobTransitions

if TYPE_CHECKING:
    from jobplatform.services import Services

log = logging.getLogger("jobplatform.reconciler")
RECOUNT_SECONDS = 600.0
RETENTION_SECONDS = 3600.0


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        transitions: JobTransitions,
        queue: JobQueue,
        owner: str,
    ):
        self.settings = settings
        self.transitions = transitions
        self.queue = queue
        # (queue, job id, updated_at) -> when first seen without a message
        self._missing: dict = {}
        self._read_at: dict[str, float] = {}  # queue -> when its waiting jobs were last read
        self.lock = LeaderLock("reconciler", owner, ttl=max(3 * settings.reconcile_seconds, 5))
        self._due = {
            "recount": time.monotonic() + RECOUNT_SECONDS,
            "retention": 0.0,
            "uncounted": 0.0,
        }
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
        schedules.fire_due(now, self.transitions, self.queue)
        clock = time.monotonic()
        every = self.settings.requeue_after_seconds
        uncounted = clock >= self._due["uncounted"]
        self.transitions.steps.repair(now - timedelta(seconds=every), find_uncounted=uncounted)
        if uncounted:
            self._due["uncounted"] = clock + every
        if clock >= self._due["recount"]:
            recount()
            self._due["recount"] = clock + RECOUNT_SECONDS
        if clock >= self._due["retention"]:
            retention.apply_retention(self.settings.retention_days, self.transitions.stats, now)
            self._due["retention"] = clock + RETENTION_SECONDS
        return True

    def take_back_expired(self, now: datetime) -> int:
        """Put back (or bury) running jobs whose lease ran out; return how many."""
        taken = 0
        for job in Job.objects(state=RUNNING, lease_expires_at__lt=now).exclude(
            "attempts", "result"
        ):
            done = self.transitions.take_back(job, now)
            if done is None:
                continue  # its worker renewed or finished it meanwhile
            taken += 1
            if done.state != DEAD:
                self._enqueue(done)
        return taken

    def requeue_missing(self, now: datetime) -> int:
        """Re-enqueue waiting jobs that have had no message on their queue for
        REQUEUE_AFTER_SECONDS, as this process saw in its rounds; return how many.

        A job counts as missing only if it was missing, unchanged, in an earlier round
        at least that long ago: a worker that has just taken a job's message has not
        written anything yet (short attempts are recorded only when they end). Only jobs
        submitted that long ago are read at all (see the module's docstring)."""
        suspect = self._queues_to_check()
        waiting = defaultdict(list)
        if suspect:
            after = timedelta(seconds=self.settings.requeue_after_seconds)
            for row in (
                Job.objects(
                    state__in=WAITING,
                    queue__in=sorted(suspect),
                    id__lt=id_near(now - after, 0),
                )
                .only("id", "queue", "run_at", "updated_at", "priority")
                .as_pymongo()
            ):
                due = row.get("run_at") is None or row["run_at"] <= now
                if due:
                    waiting[row.get("queue", "default")].append(row)
        clock = time.monotonic()
        missing: dict = {}
        requeued = 0
        for name, rows in waiting.items():
            present = self.queue.job_ids(name)
            for row in rows:
                if str(row["_id"]) in present:
                    continue
                key = (name, row["_id"], row["updated_at"])
                missing[key] = first_seen = self._missing.get(key, clock)
                if clock - first_seen < self.settings.requeue_after_seconds:
                    continue
                job = self.transitions.requeue(row["_id"], row["updated_at"], now)
                if job is not None:
                    log.warning(
                        "job %s was waiting with no message on queue %s; re-enqueued", job.id, name
                    )
                    self._enqueue(job, requeued=True)
                    requeued += 1
                    missing.pop(key)
        kept = {key: seen for key, seen in self._missing.items() if key[0] not in suspect}
        self._missing = kept | missing  # a queue not read this round keeps what was seen
        return requeued

    def _queues_to_check(self) -> set[str]:
        """The queues whose waiting jobs must be read and compared with their messages.

        Reading every waiting job is what costs (a backlog of thousands, decoded each
        round), so the engine's counters come first: a queue with no more waiting jobs
        than messages is skipped, and so is one whose excess could all be attempts in
        progress (at most the threads of the live workers serving it), except that such
        a queue is still read every other REQUEUE_AFTER_SECONDS. Jobs of a type no loaded
        plugin has cannot be placed on a queue by the counters: their queues are read."""
        job_types = self.transitions.host.job_types
        waiting: dict[str, int] = defaultdict(int)
        unplaced = False
        for job_type, counts in counts_by_type().items():
            n = sum(counts.get(state, 0) for state in WAITING)
            if job_type in job_types:
                waiting[job_types[job_type].queue] += n
            elif n:
                unplaced = True
        if unplaced:
            return {row for row in Job.objects(state__in=WAITING).distinct("queue")}
        threads: dict[str, int] = defaultdict(int)
        for worker in live_workers(self.settings.heartbeat_seconds):
            for name in worker.get("queues", []):
                threads[name] += worker.get("concurrency", 0)
        clock = time.monotonic()
        every = 2 * self.settings.requeue_after_seconds
        suspect = set()
        for name, n in waiting.items():
            lengths = self.queue.lengths(name)
            excess = n - lengths["pending"] - lengths["scheduled"]
            if excess <= 0:
                continue
            if excess <= threads[name] and clock - self._read_at.get(name, 0.0) < every:
                continue
            self._read_at[name] = clock
            suspect.add(name)
        return suspect

    def _enqueue(self, job: Job, requeued: bool = False) -> None:
        try:
            self.queue.enqueue(job.queue, str(job.id), priority=job.priority, requeued=requeued)
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
    return Reconciler(settings, services.jobs.transitions, services.queue, owner=owner).start()
