"""The job service: submit, query, retry and cancel jobs.

The API, the admin app and the CLI all go through this one service, so a rule (schema
validation, allowed transitions) lives in one place.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from cerberus import Validator

from jobplatform.jobs.models import (
    CANCELLED,
    DEAD,
    FINAL,
    QUEUED,
    SCHEDULED,
    WAITING,
    Job,
    utcnow,
)
from jobplatform.jobs.events import job_event
from jobplatform.jobs.queue import JobQueue
from jobplatform.plugins.host import PluginHost

log = logging.getLogger(__name__)


class JobError(Exception):
    """A request about jobs that cannot be done; `code` tells the API which status to use."""

    code = "bad_request"

    def __init__(self, message: str, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidJobData(JobError):
    code = "validation_failed"


class JobNotFound(JobError):
    code = "not_found"


class InvalidTransition(JobError):
    code = "conflict"


class QueueUnavailable(JobError):
    code = "unavailable"


def find_job(job_id: str) -> Job:
    try:
        oid = ObjectId(job_id)
    except (InvalidId, TypeError):
        raise JobNotFound(f"no job with id '{job_id}'") from None
    job = Job.objects(id=oid).first()
    if job is None:
        raise JobNotFound(f"no job with id '{job_id}'")
    return job


class JobService:
    def __init__(self, host: PluginHost, queue: JobQueue):
        self.host = host
        self.queue = queue

    def validate(self, name: str, data: Any) -> dict[str, Any]:
        """Check `data` against the job type's schema; return it normalised."""
        job_type = self.host.job_type(name)
        if not isinstance(data, dict):
            raise InvalidJobData("data must be an object", {"data": ["must be an object"]})
        validator = Validator(job_type.schema)
        if not validator.validate(data):
            raise InvalidJobData(f"data does not match the '{name}' schema", validator.errors)
        return validator.document

    def submit(self, name: str, data: Any, *, created_by: str | None = None,
               delay: float | None = None, run_at: datetime | None = None,
               priority: int | None = None, idempotency_key: str | None = None) -> Job:
        """Validate, store as queued (or scheduled), then put the job id on its queue.

        If the queue cannot be reached the stored job is removed again and
        `QueueUnavailable` is raised, so a failed submission leaves nothing behind.
        """
        job_type = self.host.job_type(name)
        document = self.validate(name, data)
        if delay:
            run_at = utcnow() + timedelta(seconds=delay)
        job_id = ObjectId()
        job = Job(
            id=job_id,
            type=name,
            data=document,
            state=SCHEDULED if run_at else QUEUED,
            queue=job_type.queue,
            priority=job_type.priority if priority is None else priority,
            max_attempts=job_type.retry.max_attempts,
            retry_policy=job_type.retry.as_dict(),
            timeout=job_type.timeout,
            idempotency_key=idempotency_key or str(job_id),
            created_by=created_by,
            run_at=run_at,
        ).save(force_insert=True)
        try:
            self.queue.enqueue(job.queue, str(job.id), eta=run_at, priority=job.priority)
        except Exception as exc:
            job.delete()
            raise QueueUnavailable(f"the job queue is unavailable ({exc}); nothing was stored") from exc
        self.host.emit(job_event("queued", job))
        return job

    def get(self, job_id: str) -> Job:
        return find_job(job_id)

    def list(self, *, state: str | None = None, job_type: str | None = None,
             limit: int = 50) -> list[Job]:
        query: dict[str, Any] = {}
        if state:
            query["state"] = state
        if job_type:
            query["type"] = job_type
        return list(Job.objects(**query).order_by("-created_at").limit(limit))

    def retry(self, job_id: str) -> Job:
        """Run a dead or cancelled job again, keeping its earlier attempts."""
        job = find_job(job_id)
        if job.state not in (DEAD, CANCELLED):
            raise InvalidTransition(f"job is {job.state}; only dead or cancelled jobs can be retried")
        updated = Job.objects(id=job.id, state=job.state).modify(
            new=True,
            set__state=QUEUED,
            set__max_attempts=job.attempt_count + job.retry_policy.get("max_attempts", 1),
            set__cancel_requested=False,
            set__error=None,
            set__finished_at=None,
            set__updated_at=utcnow(),
        )
        if updated is None:
            raise InvalidTransition("job changed while being retried; reload and try again")
        self.queue.enqueue(updated.queue, str(updated.id), priority=updated.priority)
        self.host.emit(job_event("queued", updated))
        return updated

    def cancel(self, job_id: str) -> Job:
        """Cancel a waiting job (it will never run) or ask a running one to stop."""
        job = find_job(job_id)
        if job.state in FINAL:
            raise InvalidTransition(f"job is already {job.state}")
        now = utcnow()
        updated = Job.objects(id=job.id, state__in=WAITING).modify(
            new=True, set__state=CANCELLED, set__finished_at=now, set__updated_at=now
        )
        if updated is not None:
            self.host.emit(job_event("cancelled", updated))
            return updated
        updated = Job.objects(id=job.id, state__nin=FINAL).modify(
            new=True, set__cancel_requested=True, set__updated_at=now
        )
        return updated or find_job(job_id)

    def remove(self, job_id: str) -> None:
        """Delete a job's record; a waiting job is cancelled first, a running one refused."""
        job = find_job(job_id)
        if job.state not in FINAL:
            job = self.cancel(job_id)
        if job.state not in FINAL:
            raise InvalidTransition("job is running; it was asked to stop, delete it once it has")
        Job.objects(id=job.id, state__in=FINAL).delete()

