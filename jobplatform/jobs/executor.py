"""Runs one attempt of one job: take or read it, run the processor, record what happened.

The executor takes the job from its message when the message carries it (a submission's,
see jobs/queue.py) and otherwise reads it (the reads of concurrent threads share a
query); it runs it at once. An attempt that ends within `record_running_after` seconds
(most do) costs one more write: its outcome, a guarded update handed to the group writer
with the other threads' outcomes, so concurrent attempts share a command. An attempt
that runs longer is claimed (recorded as running under a lease, see
`jobs/transitions.py`); the executor then renews the lease every third of it, watches for
a cancel request and enforces the job's timeout. Every outcome is guarded, so a worker
that lost its job cannot overwrite newer history. A write that fails because MongoDB is
unreachable is tried again until the lease would run out; the Huey message counts as
handled only once the outcome is stored.

A job type with a rate or concurrency limit is admitted first (jobs/limits.py): a refused
job's message goes back on its queue for a moment and the job stays as it is; an admitted
attempt's concurrency slot is renewed with its lease and released when it ends.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.errors import ConnectionFailure

from jobplatform.jobs.batching import GroupReader, WriteFailed
from jobplatform.jobs.events import job_event
from jobplatform.jobs.limits import JobLimits, Slot
from jobplatform.jobs.models import (
    CANCELLED,
    DEAD,
    RETRYING,
    SUCCEEDED,
    WAITING,
    Job,
    attempt_record,
    utcnow,
)
from jobplatform.jobs.queue import JobQueue, stale
from jobplatform.jobs.run import RUN_FIELDS, Run
from jobplatform.jobs.runners import Runners
from jobplatform.jobs.transitions import JobTransitions
from jobplatform.plugins.context import JobContext, PermanentError
from jobplatform.plugins.host import UnknownJobType
from jobplatform.plugins.jobtype import RetryPolicy
from jobplatform.plugins.report import REPORT_SECONDS

log = logging.getLogger("jobplatform.worker")


class AttemptTimeout(Exception):
    """The attempt ran past the job type's timeout."""


@dataclass
class Outcome:
    result: Any = None
    error: BaseException | None = None
    trace: str | None = None


class Executor:
    def __init__(
        self,
        transitions: JobTransitions,
        queue: JobQueue,
        worker_id: str,
        lease_seconds: float = 30.0,
        record_running_after: float = 1.0,
        limits: JobLimits | None = None,
    ):
        self.transitions = transitions
        self.reader = GroupReader(Job._get_collection, RUN_FIELDS)
        self.host = transitions.host
        self.queue = queue
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.record_running_after = record_running_after
        self.running: dict[str, Run] = {}
        self.contexts: dict[str, JobContext] = {}
        # without limits given, none are checked (an executor of a test's own)
        self.limits = limits or JobLimits(transitions.host, None, lease_seconds)
        self.slots: dict[str, Slot] = {}  # job id -> the concurrency slot its attempt holds
        self.stopping = threading.Event()  # set on shutdown: take no new jobs
        self.runners = Runners()  # the threads processors run in

    def __call__(
        self,
        job_id: str,
        requeued: bool = False,
        eta: datetime | None = None,
        held_back: dict[str, Any] | None = None,
        job: dict[str, Any] | None = None,
    ) -> None:
        """Run the job a message names (or carries, as `job`), unless it is no longer
        waiting or the message is stale; raises `HeldBack` if its type's limits refuse it
        now (see jobs/limits.py)."""
        if self.stopping.is_set():
            self._hand_back(job_id)
            return
        # a message held back before names its type: its limits are asked before the read
        slot = (
            self.limits.admit(held_back["type"], job_id, held_back["times"]) if held_back else None
        )
        try:
            if job is None or job.get("state") not in WAITING:  # a carried job is waiting
                job = self.reader.find({"_id": ObjectId(job_id), "state": {"$in": list(WAITING)}})
            if job is None:
                return  # cancelled, finished, or run by another delivery: nothing to do
            if stale(eta, job.get("run_at")):
                return  # a message for a time the job no longer has (run now, retried since)
            if not held_back:
                slot = self.limits.admit(job["type"], job_id)
            if slot is not None:
                self.slots[job_id] = slot
            self._attempt_job(job_id, job, requeued, slot.admitted_at if slot else utcnow())
        finally:
            self.slots.pop(job_id, None)
            self.limits.release(slot)  # however the attempt ended

    def _attempt_job(
        self, job_id: str, job: dict[str, Any], requeued: bool, started_at: datetime
    ) -> None:
        run = Run(job=job, worker=self.worker_id, started_at=started_at, requeued=requeued)
        clock = time.monotonic()
        self.host.emit(job_event("started", job_id, run.type, run.number))
        try:
            job_type = self.host.job_type(run.type)
        except UnknownJobType as exc:
            self._finish_failed(run, clock, PermanentError(str(exc)), None)
            return
        ctx = JobContext(
            job_id=job_id,
            job_type=run.type,
            data=job.get("data") or {},
            attempt=run.number,
            max_attempts=job["max_attempts"],
            idempotency_key=job.get("idempotency_key") or job_id,
            settings=self.host.settings_of(run.type),
            logger=logging.LoggerAdapter(
                log, {"job_id": job_id, "job_type": run.type, "attempt": run.number}
            ),
            report=run.report,
            parent_results=job.get("parent_results") or {},
        )
        self.running[job_id], self.contexts[job_id] = run, ctx
        try:
            outcome = self._run(run, ctx, job_type.processor, job.get("timeout"))
        finally:
            self.running.pop(job_id, None)
            self.contexts.pop(job_id, None)
        if outcome.error is None and not ctx.cancelled:
            self._finish(run, clock, "succeeded", SUCCEEDED, result=outcome.result, error=None)
        elif ctx.cancelled and not isinstance(outcome.error, AttemptTimeout):
            self._finish(run, clock, "cancelled", CANCELLED)
        else:
            self._finish_failed(run, clock, outcome.error, outcome.trace)

    # -- run -------------------------------------------------------------------------------

    def _hand_back(self, job_id: str) -> None:
        """Put a message taken during shutdown back on its queue, without running the job."""
        job = Job.objects(id=ObjectId(job_id), state__in=WAITING).only("queue", "priority").first()
        if job is not None:
            self.queue.enqueue(job.queue, job_id, priority=job.priority)

    def _run(self, run: Run, ctx: JobContext, processor, timeout: float | None) -> Outcome:
        """Run the processor in a runner thread (jobs/runners.py); claim the attempt if it
        runs long, then renew its lease while it runs."""
        outcome = Outcome()

        def target() -> None:
            try:
                outcome.result = processor(ctx)
            except BaseException as exc:  # noqa: BLE001 - every failure is recorded
                outcome.error = exc
                outcome.trace = traceback.format_exc()

        done = self.runners.run(target)
        start = time.monotonic()
        deadline = start + timeout if timeout else None
        next_check = start + self.record_running_after
        while True:
            wake = min(next_check, time.monotonic() + REPORT_SECONDS) if run.claimed else next_check
            wait = wake if deadline is None else min(wake, deadline)
            if done.wait(max(wait - time.monotonic(), 0)):
                return outcome
            if deadline is not None and time.monotonic() >= deadline:
                ctx.cancel_event.set()  # ask it to stop; its thread is left to it either way
                return Outcome(error=AttemptTimeout(f"attempt ran longer than {timeout:g}s"))
            if time.monotonic() < next_check:
                self._report(run)
                continue
            next_check = time.monotonic() + self.lease_seconds / 3
            if not self._hold(run, ctx):
                if run.claimed:
                    return Outcome(error=RuntimeError("lease lost: the job was taken back"))
                ctx.cancel_event.set()  # cancelled before it was claimed: ask it to stop

    def _hold(self, run: Run, ctx: JobContext) -> bool:
        """Claim the attempt, or renew its lease; notice a cancel request. False if the
        job is no longer this attempt's."""
        self.limits.renew(self.slots.get(ctx.job_id))
        version, report = run.report.pending()
        try:
            if not run.claimed:
                claimed = self.transitions.claim(run, self.lease_seconds, report)
                if claimed:
                    run.report.written(version)
                return claimed
            renewed = self.transitions.renew(run, self.lease_seconds, report)
        except (ConnectionFailure, WriteFailed) as exc:
            log.warning("job %s: could not claim or renew it (%s); trying again", run.id, exc)
            return True
        if renewed is None:
            return False
        run.report.written(version)
        if renewed.get("cancel_requested"):
            ctx.cancel_event.set()
        return True

    def _report(self, run: Run) -> None:
        """Store what changed in a claimed attempt's report since its last write, if
        anything did; the loop of `_run` calls it at most once every REPORT_SECONDS."""
        version, fields = run.report.pending()
        if not fields:
            return
        try:
            if self.transitions.report(run, fields):
                run.report.written(version)
        except (ConnectionFailure, WriteFailed) as exc:
            log.warning("job %s: could not store its progress (%s); trying again", run.id, exc)

    # -- record the outcome ----------------------------------------------------------------

    def _attempt(
        self,
        run: Run,
        clock: float,
        outcome: str,
        error: BaseException | None = None,
        trace: str | None = None,
        retry_delay: float | None = None,
    ) -> dict[str, Any]:
        return attempt_record(
            number=run.number,
            worker=self.worker_id,
            started_at=run.started_at,
            finished_at=utcnow(),
            duration_ms=round((time.monotonic() - clock) * 1000, 3),
            outcome=outcome,
            error_type=type(error).__name__ if error else None,
            error_message=str(error) if error else None,
            traceback=trace,
            retry_delay=retry_delay,
            requeued=run.requeued or None,
            log=run.report.lines() or None,
        )

    def _finish(
        self,
        run: Run,
        clock: float,
        outcome: str,
        state: str,
        *,
        exc: BaseException | None = None,
        trace: str | None = None,
        retry_delay: float | None = None,
        **fields: Any,
    ) -> dict[str, Any] | None:
        """Record the attempt and the new state; the attempt if it was recorded. A final
        state also stamps `finished_at`."""
        attempt = self._attempt(run, clock, outcome, exc, trace, retry_delay)
        if state in (SUCCEEDED, DEAD, CANCELLED):
            fields["finished_at"] = attempt["finished_at"]
        if run.report.progress is not None:
            fields["progress"] = run.report.progress
        try:
            done = self.transitions.finish(
                run, attempt, state, retry_for=self.lease_seconds, **fields
            )
        except WriteFailed as failure:
            log.error(
                "job %s: could not record attempt %d (%s); the reconciler will take it back",
                run.id,
                run.number,
                failure,
            )
            return None
        if not done:
            return None
        kind = {SUCCEEDED: "succeeded", CANCELLED: "cancelled"}.get(state, "failed")
        duration = attempt["duration_ms"] if kind != "cancelled" else None
        self.host.emit(
            job_event(
                kind, run.id, run.type, run.number, duration_ms=duration, error=fields.get("error")
            )
        )
        return attempt

    def _finish_failed(
        self, run: Run, clock: float, error: BaseException, trace: str | None
    ) -> None:
        kind = "timeout" if isinstance(error, AttemptTimeout) else "failed"
        message = f"{type(error).__name__}: {error}"
        retryable = not isinstance(error, PermanentError)
        if not retryable or run.number >= run.job["max_attempts"]:
            if self._finish(run, clock, kind, DEAD, exc=error, trace=trace, error=message):
                self.host.emit(job_event("dead", run.id, run.type, run.number, error=message))
                log.error("job %s is dead after attempt %d: %s", run.id, run.number, message)
            return
        policy = (
            RetryPolicy(**run.job["retry_policy"]) if run.job.get("retry_policy") else RetryPolicy()
        )
        delay = policy.delay_after(run.number)
        run_at = utcnow() + timedelta(seconds=delay)
        attempt = self._finish(
            run,
            clock,
            kind,
            RETRYING,
            exc=error,
            trace=trace,
            retry_delay=delay,
            run_at=run_at,
            error=message,
        )
        if attempt is None:
            return
        try:
            self.queue.enqueue(
                run.job["queue"], str(run.id), eta=run_at, priority=run.job["priority"]
            )
        except Exception as exc:  # noqa: BLE001 - the reconciler re-enqueues it
            log.warning(
                "job %s: could not schedule its retry (%s); the reconciler will", run.id, exc
            )
        self.host.emit(
            job_event("retrying", run.id, run.type, run.number, error=message, delay=delay)
        )
        log.warning(
            "job %s attempt %d failed (%s); retry in %.2fs", run.id, run.number, message, delay
        )

    def put_back(self, job_id: str, reason: str) -> bool:
        """Give a running job of this worker back to the queue, on record; the interrupted
        attempt does not count against the job's attempts."""
        run, ctx = self.running.get(job_id), self.contexts.get(job_id)
        if run is None:
            return False
        now = utcnow()
        attempt = attempt_record(
            number=run.number,
            worker=self.worker_id,
            started_at=run.started_at,
            finished_at=now,
            duration_ms=(now - run.started_at).total_seconds() * 1000,
            outcome="interrupted",
            error_type="WorkerShutdown",
            error_message=reason,
            requeued=run.requeued or None,
            log=run.report.lines() or None,
        )
        try:
            if not self.transitions.put_back(run, attempt, retry_for=self.lease_seconds):
                return False
        except WriteFailed:
            return False
        if ctx is not None:
            ctx.cancel_event.set()
        self.limits.release(self.slots.pop(job_id, None))
        self.queue.enqueue(run.job["queue"], job_id, priority=run.job["priority"])
        return True
