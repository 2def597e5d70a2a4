"""Runs one attempt of one job: claim it, run the processor, record what happened.

The claim is one atomic MongoDB update (`queued` to `running`, attempt n, a lease). While
the processor runs, the executor renews the lease, watches for a cancel request and
enforces the job's timeout. Every outcome is written with a guard on the attempt number
and worker, so a worker that lost its lease (and whose job was handed to another) cannot
overwrite newer history. A write that fails because MongoDB is unreachable is tried again
until the lease would run out; after that the reconciler takes the job back.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.errors import ConnectionFailure

from jobplatform.jobs.events import job_event
from jobplatform.jobs.models import (
    CANCELLED,
    DEAD,
    QUEUED,
    RETRYING,
    RUNNING,
    SUCCEEDED,
    WAITING,
    Attempt,
    Job,
    utcnow,
)
from jobplatform.jobs.queue import JobQueue
from jobplatform.jobs.stats import StatsRecorder
from jobplatform.plugins.context import JobContext, PermanentError
from jobplatform.plugins.host import PluginHost, UnknownJobType
from jobplatform.plugins.jobtype import RetryPolicy

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
        host: PluginHost,
        queue: JobQueue,
        worker_id: str,
        stats: StatsRecorder,
        lease_seconds: float = 30.0,
    ):
        self.host = host
        self.queue = queue
        self.worker_id = worker_id
        self.stats = stats
        self.lease_seconds = lease_seconds
        self.running: dict[str, JobContext] = {}
        self.stopping = threading.Event()  # set on shutdown: take no new jobs

    def __call__(self, job_id: str) -> None:
        if self.stopping.is_set():
            self._hand_back(job_id)
            return
        job = self._claim(job_id)
        if job is None:
            return  # cancelled, finished, or claimed by another worker: nothing to do
        started = utcnow()
        clock = time.monotonic()
        self.host.emit(job_event("started", job))
        try:
            job_type = self.host.job_type(job.type)
        except UnknownJobType as exc:
            self._finish_failed(job, started, clock, PermanentError(str(exc)), None)
            return
        ctx = JobContext(
            job_id=job_id,
            job_type=job.type,
            data=job.data,
            attempt=job.attempt_count,
            max_attempts=job.max_attempts,
            idempotency_key=job.idempotency_key or job_id,
            settings=self.host.settings_of(job.type),
            logger=logging.LoggerAdapter(
                log, {"job_id": job_id, "job_type": job.type, "attempt": job.attempt_count}
            ),
        )
        self.running[job_id] = ctx
        try:
            outcome = self._run(job, ctx, job_type.processor, job.timeout)
        finally:
            self.running.pop(job_id, None)
        if outcome.error is None and not ctx.cancelled:
            self._finish_succeeded(job, started, clock, outcome.result)
        elif ctx.cancelled and not isinstance(outcome.error, AttemptTimeout):
            self._finish_cancelled(job, started, clock)
        else:
            self._finish_failed(job, started, clock, outcome.error, outcome.trace)

    # -- claim and run -------------------------------------------------------------------

    def _hand_back(self, job_id: str) -> None:
        """Put a message taken during shutdown back on its queue, without running the job."""
        job = Job.objects(id=ObjectId(job_id), state__in=WAITING).only("queue", "priority").first()
        if job is not None:
            self.queue.enqueue(job.queue, job_id, priority=job.priority)

    def _claim(self, job_id: str) -> Job | None:
        """Take a waiting job: one atomic update; the document as it was tells the old state."""
        now = utcnow()
        lease = now + timedelta(seconds=self.lease_seconds)
        job = Job.objects(id=ObjectId(job_id), state__in=WAITING).modify(
            set__state=RUNNING,
            inc__attempt_count=1,
            set__worker_id=self.worker_id,
            set__lease_expires_at=lease,
            set__started_at=now,
            set__updated_at=now,
        )
        if job is None:
            return None
        self.stats.moved(job.type, job.state, RUNNING)
        job.state, job.attempt_count, job.worker_id = RUNNING, job.attempt_count + 1, self.worker_id
        job.lease_expires_at, job.started_at, job.updated_at = lease, now, now
        return job

    def _run(self, job: Job, ctx: JobContext, processor, timeout: float | None) -> Outcome:
        """Run the processor in a thread of its own, renewing the lease while it runs."""
        outcome = Outcome()

        def target() -> None:
            try:
                outcome.result = processor(ctx)
            except BaseException as exc:  # noqa: BLE001 - every failure is recorded
                outcome.error = exc
                outcome.trace = traceback.format_exc()

        thread = threading.Thread(target=target, name=f"job-{ctx.job_id}", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout if timeout else None
        renew_every = self.lease_seconds / 3
        while True:
            wait = (
                renew_every if deadline is None else min(renew_every, deadline - time.monotonic())
            )
            thread.join(max(wait, 0))
            if not thread.is_alive():
                return outcome
            if deadline is not None and time.monotonic() >= deadline:
                ctx.cancel_event.set()  # ask it to stop; the thread is abandoned either way
                return Outcome(error=AttemptTimeout(f"attempt ran longer than {timeout:g}s"))
            if not self._renew_lease(job, ctx):
                return Outcome(error=RuntimeError("lease lost: the job was taken back"))

    def _this_attempt(self, job: Job):
        """The job, as long as it is still running the attempt this worker claimed."""
        return Job.objects(
            id=job.id, state=RUNNING, attempt_count=job.attempt_count, worker_id=self.worker_id
        )

    def _renew_lease(self, job: Job, ctx: JobContext) -> bool:
        """Extend the lease; notice a cancel request. False if the job is no longer ours."""
        try:
            renewed = self._this_attempt(job).modify(
                new=True,
                set__lease_expires_at=utcnow() + timedelta(seconds=self.lease_seconds),
            )
        except ConnectionFailure as exc:
            log.warning("job %s: could not renew its lease (%s); trying again", job.id, exc)
            return True
        if renewed is None:
            return False
        if renewed.cancel_requested:
            ctx.cancel_event.set()
        return True

    # -- record the outcome ----------------------------------------------------------------

    def _attempt(
        self,
        job: Job,
        started,
        clock: float,
        outcome: str,
        error: BaseException | None = None,
        trace: str | None = None,
        retry_delay: float | None = None,
    ) -> Attempt:
        return Attempt(
            number=job.attempt_count,
            worker=self.worker_id,
            started_at=started,
            finished_at=utcnow(),
            duration_ms=round((time.monotonic() - clock) * 1000, 3),
            outcome=outcome,
            error_type=type(error).__name__ if error else None,
            error_message=str(error) if error else None,
            traceback=trace,
            retry_delay=retry_delay,
        )

    def _record(self, job: Job, attempt: Attempt, state: str, **fields: Any) -> Job | None:
        """Store the attempt and the new state, if the job is still this attempt's."""
        deadline = time.monotonic() + self.lease_seconds
        while True:
            try:
                done = self._this_attempt(job).modify(
                    new=True,
                    push__attempts=attempt,
                    set__state=state,
                    set__updated_at=utcnow(),
                    unset__lease_expires_at=True,
                    **fields,
                )
                break
            except ConnectionFailure as exc:
                if time.monotonic() >= deadline:
                    log.error(
                        "job %s: could not record attempt %d (%s); the reconciler will "
                        "take the job back when its lease runs out",
                        job.id,
                        job.attempt_count,
                        exc,
                    )
                    return None
                time.sleep(0.5)
        if done is not None:
            self.stats.moved(job.type, RUNNING, state)
            outcome = "failed" if attempt.outcome in ("timeout", "failed") else attempt.outcome
            self.stats.ended(job.type, outcome, attempt.finished_at)
            if state == DEAD:
                self.stats.ended(job.type, DEAD, attempt.finished_at)
        return done

    def put_back(self, job_id: str, reason: str) -> bool:
        """Give a running job of this worker back to the queue, on record; the interrupted
        attempt does not count against the job's attempts."""
        ctx = self.running.get(job_id)
        job = Job.objects(id=ObjectId(job_id), state=RUNNING, worker_id=self.worker_id).first()
        if job is None:
            return False
        now = utcnow()
        attempt = Attempt(
            number=job.attempt_count,
            worker=self.worker_id,
            started_at=job.started_at,
            finished_at=now,
            duration_ms=(now - job.started_at).total_seconds() * 1000,
            outcome="interrupted",
            error_type="WorkerShutdown",
            error_message=reason,
        )
        done = Job.objects(
            id=job.id, state=RUNNING, attempt_count=job.attempt_count, worker_id=self.worker_id
        ).modify(
            new=True,
            push__attempts=attempt,
            set__state=QUEUED,
            inc__max_attempts=1,
            set__updated_at=now,
            unset__lease_expires_at=True,
            set__run_at=None,
        )
        if done is None:
            return False
        if ctx is not None:
            ctx.cancel_event.set()
        self.stats.moved(job.type, RUNNING, QUEUED)
        self.queue.enqueue(done.queue, job_id, priority=done.priority)
        self.host.emit(job_event("queued", done))
        return True

    def _finish_succeeded(self, job: Job, started, clock: float, result: Any) -> None:
        attempt = self._attempt(job, started, clock, "succeeded")
        done = self._record(
            job,
            attempt,
            SUCCEEDED,
            set__result=result,
            set__finished_at=attempt.finished_at,
            set__error=None,
        )
        if done is not None:
            self.host.emit(job_event("succeeded", done))

    def _finish_cancelled(self, job: Job, started, clock: float) -> None:
        attempt = self._attempt(job, started, clock, "cancelled")
        done = self._record(job, attempt, CANCELLED, set__finished_at=attempt.finished_at)
        if done is not None:
            self.host.emit(job_event("cancelled", done))

    def _finish_failed(
        self, job: Job, started, clock: float, error: BaseException, trace: str | None
    ) -> None:
        kind = "timeout" if isinstance(error, AttemptTimeout) else "failed"
        message = f"{type(error).__name__}: {error}"
        retryable = not isinstance(error, PermanentError)
        if retryable and job.attempt_count < job.max_attempts:
            policy = RetryPolicy(**job.retry_policy) if job.retry_policy else RetryPolicy()
            delay = policy.delay_after(job.attempt_count)
            attempt = self._attempt(job, started, clock, kind, error, trace, retry_delay=delay)
            run_at = attempt.finished_at + timedelta(seconds=delay)
            done = self._record(job, attempt, RETRYING, set__run_at=run_at, set__error=message)
            if done is None:
                return
            self.host.emit(job_event("failed", done, error=message))
            try:
                self.queue.enqueue(done.queue, str(done.id), eta=run_at, priority=done.priority)
            except Exception as exc:  # noqa: BLE001 - the reconciler re-enqueues it
                log.warning(
                    "job %s: could not schedule its retry (%s); the reconciler will", job.id, exc
                )
            self.host.emit(job_event("retrying", done, error=message, delay=delay))
            log.warning(
                "job %s attempt %d failed (%s); retry in %.2fs",
                job.id,
                job.attempt_count,
                message,
                delay,
            )
            return
        attempt = self._attempt(job, started, clock, kind, error, trace)
        done = self._record(
            job, attempt, DEAD, set__finished_at=attempt.finished_at, set__error=message
        )
        if done is not None:
            self.host.emit(job_event("failed", done, error=message))
            self.host.emit(job_event("dead", done, error=message))
            log.error("job %s is dead after attempt %d: %s", job.id, job.attempt_count, message)
