"""Every change of a job's state, in one place: its guard, its history record, its counters
and the plugin events it emits. The job service, the executor and the reconciler call it;
nothing else writes a job's state.

- submit: (new) to queued or scheduled; JobService.
- claim: waiting to running, under a lease; the executor, for an attempt that outlives
  `record_running_after`.
- finish: waiting (an unclaimed attempt) or running (claimed by this attempt) to
  succeeded, retrying, dead or cancelled; the executor.
- put back: as finish, to queued; the interrupted attempt does not count; the executor,
  on shutdown.
- take back: running with an expired lease to queued, or dead on the last attempt; the
  reconciler.
- requeue: waiting with no message on its queue stays waiting, its message sent again;
  the reconciler.
- cancel: waiting to cancelled, or a running job gets `cancel_requested`; JobService. A
  queued job's message is withdrawn (revoked) too, as its executor may not read the job
  (a submission's or a released step's message carries it, jobs/queue.py).
- retry: dead or cancelled to queued, with new attempts; JobService.
- run now: scheduled or retrying, not yet due, to queued; JobService. Its message for
  later becomes stale (its eta is no longer the job's time) and the executor drops it.
- remove: a final job is deleted; JobService.
- a workflow step's end releases or cancels the steps after it, and its retry brings
  back the steps it cancelled: jobs/workflow_steps.py, called from here.

"Waiting" is queued, scheduled or retrying. A short attempt is never claimed: the worker
reads the job, runs it and writes its outcome in one guarded update (the guard: still
waiting at the attempt count it read), handed to the group writer with the other threads'
outcomes. Only an attempt still running after `record_running_after` seconds is claimed,
so that the reconciler sees it running and its lease protects it. If a worker dies during
an unclaimed attempt, the job is still waiting in MongoDB with no message on its queue,
and the reconciler re-enqueues it; the next attempt's record says `requeued`.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from jobplatform.jobs.batching import GroupWriter
from jobplatform.jobs.events import job_event
from jobplatform.jobs.models import (
    BLOCKED,
    CANCELLED,
    DEAD,
    FINAL,
    QUEUED,
    RUNNING,
    WAITING,
    Attempt,
    Job,
    utcnow,
)
from jobplatform.jobs.queue import JobQueue
from jobplatform.jobs.run import Run
from jobplatform.jobs.stats import StatsRecorder
from jobplatform.jobs.workflow_steps import StepTransitions
from jobplatform.plugins.host import PluginHost

log = logging.getLogger("jobplatform.jobs")
# an attempt's outcome -> how the per-minute stats count it
ENDED_AS = {
    "succeeded": "succeeded",
    "failed": "failed",
    "timeout": "failed",
    "cancelled": "cancelled",
}


class JobTransitions:
    """The state machine of jobs, writing through one group writer per process."""

    def __init__(
        self,
        host: PluginHost,
        stats: StatsRecorder,
        writer: GroupWriter,
        queue: JobQueue,
    ):
        self.host = host
        self.stats = stats
        self.writer = writer
        self.queue = queue
        self.steps = StepTransitions(host, stats)

    # -- submit ----------------------------------------------------------------------------

    def submitted(self, documents: list[dict[str, Any]]) -> None:
        """Count and announce jobs just stored (the service inserted these documents)."""
        for (job_type, state), n in Counter((d["type"], d["state"]) for d in documents).items():
            self.stats.moved(job_type, None, state, n)
        for doc in documents:
            if doc["state"] != BLOCKED:
                self.host.emit(job_event("queued", doc["_id"], doc["type"], doc["attempt_count"]))

    # -- a worker's attempt ------------------------------------------------------------------

    def claim(self, run: Run, lease_seconds: float, report: dict[str, Any] | None = None) -> bool:
        """Record a long attempt as running, under a lease, with the fields of its report
        so far; False if the job is no longer waiting (cancelled meanwhile, or run by
        another delivery)."""
        now = utcnow()
        before = run.job["state"]
        claimed = {"_id": run.id, "state": RUNNING, "worker_id": run.worker}

        def landed(doc):
            return (
                bool(doc)
                and all(doc.get(k) == v for k, v in claimed.items())
                and (
                    doc.get("attempt_count") == run.number
                    and doc.get("started_at") == run.started_at
                )
            )

        if not self.writer.update(
            run.guard(),
            {
                "$set": {
                    "state": RUNNING,
                    "attempt_count": run.number,
                    "worker_id": run.worker,
                    "lease_expires_at": now + timedelta(seconds=lease_seconds),
                    "started_at": run.started_at,
                    "updated_at": now,
                    **(report or {}),
                }
            },
            landed,
            retry_for=lease_seconds,
        ):
            return False
        run.claimed = True
        self.stats.moved(run.type, before, RUNNING)
        return True

    def renew(
        self, run: Run, lease_seconds: float, report: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Extend a claimed attempt's lease, storing what changed in its report; the job
        as it is now, or None if it is no longer this attempt's. (No projection: FerretDB
        1.24 does not implement one on findAndModify.)"""
        lease = utcnow() + timedelta(seconds=lease_seconds)
        return Job._get_collection().find_one_and_update(
            run.guard(), {"$set": {"lease_expires_at": lease, **(report or {})}}
        )

    def report(self, run: Run, fields: dict[str, Any]) -> bool:
        """Store what changed in a claimed attempt's report (progress, live log lines)
        between renewals, through the group writer; False if the job is no longer this
        attempt's. Tried once: the next report or renewal carries it again."""
        guard = run.guard()

        def landed(doc):
            return bool(doc) and all(doc.get(k) == v for k, v in guard.items())

        return self.writer.update(guard, {"$set": fields}, landed)

    def finish(
        self,
        run: Run,
        attempt: dict[str, Any],
        state: str,
        *,
        retry_for: float,
        **fields: Any,
    ) -> bool:
        """Store the attempt and the job's new state; False if the job is no longer this
        attempt's (taken back by the reconciler, or run by another delivery). An unclaimed
        attempt whose job was cancelled while it ran is still kept on record."""
        now = utcnow()
        change = {
            "$push": {"attempts": attempt},
            "$set": {
                "state": state,
                "attempt_count": run.number,
                "worker_id": run.worker,
                "started_at": run.started_at,
                "updated_at": now,
                **fields,
            },
            "$unset": _unset_when_ended(run),
        }
        before = RUNNING if run.claimed else run.job["state"]
        if not self.writer.update(run.guard(), change, run.recorded, retry_for=retry_for):
            return self._keep_cancelled_attempt(run, attempt, retry_for)
        self.stats.moved(run.type, before, state)
        self.stats.ended(run.type, ENDED_AS[attempt["outcome"]], attempt["finished_at"])
        if state == DEAD:
            self.stats.ended(run.type, DEAD, attempt["finished_at"])
        if run.job.get("workflow_id") and state in FINAL:
            self.steps.ended(run.job, state, fields.get("result"))
        return True

    def _keep_cancelled_attempt(self, run: Run, attempt: dict[str, Any], retry_for: float) -> bool:
        if run.claimed:
            return False
        kept = self.writer.update(
            {"_id": run.id, "state": CANCELLED, "attempt_count": run.number - 1},
            {
                "$push": {"attempts": attempt},
                "$set": {"attempt_count": run.number, "updated_at": utcnow()},
            },
            run.recorded,
            retry_for=retry_for,
        )
        if kept:
            log.warning(
                "job %s was cancelled while attempt %d ran; the attempt is kept on record",
                run.id,
                run.number,
            )
        return False

    def put_back(self, run: Run, attempt: dict[str, Any], retry_for: float) -> bool:
        """Queue the job again after an interrupted attempt, which does not count."""
        change = {
            "$push": {"attempts": attempt},
            "$set": {
                "state": QUEUED,
                "attempt_count": run.number,
                "updated_at": utcnow(),
                "run_at": None,
            },
            "$inc": {"max_attempts": 1},
            "$unset": _unset_when_ended(run),
        }
        before = RUNNING if run.claimed else run.job["state"]
        if not self.writer.update(run.guard(), change, run.recorded, retry_for=retry_for):
            return False
        self.stats.moved(run.type, before, QUEUED)
        self.host.emit(job_event("queued", run.id, run.type, run.number))
        return True

    # -- the reconciler ----------------------------------------------------------------------

    def take_back(self, job: Job, now: datetime) -> Job | None:
        """Record a running job whose lease expired as lost; queue it again, or bury it on
        its last attempt. None if its worker renewed or finished it meanwhile."""
        message = (
            f"worker {job.worker_id} stopped renewing the job's lease (it crashed, "
            "was killed, or lost its connection)"
        )
        attempt = Attempt(
            number=job.attempt_count,
            worker=job.worker_id,
            started_at=job.started_at,
            finished_at=now,
            duration_ms=(now - job.started_at).total_seconds() * 1000 if job.started_at else None,
            outcome="lost",
            error_type="LeaseExpired",
            error_message=message,
            log=job.live_log or None,  # as its worker last stored them
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
            unset__live_log=True,
            **fields,
        )
        if done is None:
            return None
        self.stats.moved(job.type, RUNNING, done.state)
        self.stats.ended(job.type, "failed", now)
        self.host.emit(job_event("failed", job.id, job.type, job.attempt_count, error=done.error))
        if last:
            self.stats.ended(job.type, DEAD, now)
            self.host.emit(job_event("dead", job.id, job.type, job.attempt_count, error=done.error))
            log.error("job %s is dead: %s", job.id, message)
            if job.workflow_id:
                self.steps.ended(done.to_mongo().to_dict(), DEAD)
        else:
            log.warning("job %s: %s; queued again", job.id, message)
        return done

    def requeue(self, job_id, updated_at: datetime, now: datetime) -> Job | None:
        """Mark a waiting job that lost its message as sent again; None if it changed."""
        return Job.objects(id=job_id, state__in=WAITING, updated_at=updated_at).modify(
            new=True, set__updated_at=now
        )

    # -- operators -------------------------------------------------------------------------

    def cancel(self, job: Job) -> Job | None:
        """Cancel a waiting job, or ask a running one to stop; None if it is final."""
        now = utcnow()
        before = Job.objects(id=job.id, state__in=(*WAITING, BLOCKED)).modify(
            set__state=CANCELLED, set__finished_at=now, set__updated_at=now
        )
        if before is not None:
            if before.state == QUEUED:
                self._withdraw(before)
            self.stats.moved(job.type, before.state, CANCELLED)
            self.host.emit(job_event("cancelled", job.id, job.type, before.attempt_count))
            if job.workflow_id:
                self.steps.ended(before.to_mongo().to_dict(), CANCELLED)
            return Job.objects(id=job.id).first()
        return Job.objects(id=job.id, state__nin=FINAL).modify(
            new=True, set__cancel_requested=True, set__updated_at=now
        )

    def _withdraw(self, job: Job) -> None:
        """Revoke the message of a job just cancelled while queued. If the queue cannot be
        reached, a worker that takes a message carrying the job runs it, and its attempt
        is kept on the cancelled job's record (`_keep_cancelled_attempt`)."""
        try:
            self.queue.withdraw(job.queue, str(job.id))
        except Exception as exc:  # noqa: BLE001 - the cancel stands; see above
            log.warning("job %s: cancelled, but its message was not revoked (%s)", job.id, exc)

    def retry(self, job: Job) -> Job | None:
        """Queue a dead or cancelled job again with as many new attempts as its type
        allows, keeping its history; None if it changed meanwhile."""
        updated = Job.objects(id=job.id, state=job.state).modify(
            new=True,
            set__state=QUEUED,
            set__max_attempts=job.attempt_count + job.retry_policy.get("max_attempts", 1),
            set__cancel_requested=False,
            set__error=None,
            set__finished_at=None,
            set__run_at=None,
            set__updated_at=utcnow(),
            unset__cancelled_by=True,
        )
        if updated is not None:
            self.stats.moved(job.type, job.state, QUEUED)
            self.host.emit(job_event("queued", job.id, job.type, job.attempt_count))
            if updated.workflow_id:
                self.steps.retried(updated)
        return updated

    def run_now(self, job: Job) -> Job | None:
        """Make a scheduled or retrying job due now, as it was read (state, attempt and
        time); None if it changed meanwhile."""
        updated = Job.objects(
            id=job.id, state=job.state, attempt_count=job.attempt_count, run_at=job.run_at
        ).modify(new=True, set__state=QUEUED, set__run_at=None, set__updated_at=utcnow())
        if updated is not None:
            self.stats.moved(job.type, job.state, QUEUED)
            self.host.emit(job_event("queued", job.id, job.type, job.attempt_count))
        return updated

    def remove(self, job: Job) -> bool:
        """Delete a finished job's record."""
        if not Job.objects(id=job.id, state__in=FINAL).delete():
            return False
        self.stats.moved(job.type, job.state, None)
        return True


def _unset_when_ended(run: Run) -> dict[str, bool]:
    """The fields an attempt's end removes: its lease and, if it was claimed (only a
    claimed attempt stores lines while it runs), its live log lines, now on its Attempt."""
    return (
        {"lease_expires_at": True, "live_log": True} if run.claimed else {"lease_expires_at": True}
    )
