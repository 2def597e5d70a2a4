"""The job service: submit, query, retry, run now and cancel jobs.

The API, the admin app and the CLI all go through this one service, so a rule (schema
validation, allowed transitions) lives in one place.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from cerberus import Validator

from jobplatform.ids import parse_object_id
from jobplatform.jobs.batching import GroupWriter
from jobplatform.jobs.data_rules import DataValidator, data_problems, normalizes
from jobplatform.jobs.errors import (
    InvalidJobData,
    InvalidSubmission,
    InvalidTransition,
    JobError,
    JobNotFound,
    QueueUnavailable,
)
from jobplatform.jobs.models import (
    CANCELLED,
    DEAD,
    FINAL,
    QUEUED,
    RETRYING,
    SCHEDULED,
    Job,
    describe_job,
    utcnow,
)
from jobplatform.jobs.query import JobFilter, JobPage, find_jobs
from jobplatform.jobs.queue import JobQueue
from jobplatform.jobs.stats import StatsRecorder
from jobplatform.jobs.submission_options import job_limits
from jobplatform.jobs.transitions import JobTransitions
from jobplatform.plugins.host import PluginHost, UnknownJobType
from jobplatform.plugins.jobtype import JobType

log = logging.getLogger(__name__)
BULK_RETRY_LIMIT = 10_000
RUNNABLE_NOW = (SCHEDULED, RETRYING)  # the states `run_now` takes
# A job submitted without an idempotency key gets "job:<its id>", a key no caller may
# give, so a caller's key can never name (and capture) another caller's job.
OWN_KEY_PREFIX = "job:"
# a request's job in a submission's answer: one stored before, or the document just stored
Answer = Job | dict[str, Any]


def find_job(job_id: str) -> Job:
    oid = parse_object_id(job_id)
    job = Job.objects(id=oid).first() if oid else None
    if job is None:
        raise JobNotFound(f"no job with id '{job_id}'")
    return job


class JobService:
    def __init__(
        self,
        host: PluginHost,
        queue: JobQueue,
        stats: StatsRecorder | None = None,
        writer: GroupWriter | None = None,
    ):
        self.host = host
        self.queue = queue
        self.stats = stats or StatsRecorder()
        self.writer = writer or GroupWriter(Job._get_collection)
        self.transitions = JobTransitions(host, self.stats, self.writer, queue)
        self._validators = threading.local()
        if host.jobs is None:
            host.jobs = self  # the service plugins' hooks reach through `context.jobs`

    def _validator(self, job_type: JobType) -> tuple[Validator, bool]:
        """This thread's validator of the job type's schema (building one costs more
        than validating with it; a validator is not safe to share between threads), and
        whether the schema normalizes data (data_rules.normalizes)."""
        cache = self._validators.__dict__.setdefault("by_type", {})
        if job_type.name not in cache:
            schema = job_type.schema
            cache[job_type.name] = DataValidator(schema), normalizes(schema)
        return cache[job_type.name]

    def validate(self, name: str, data: Any) -> dict[str, Any]:
        """Check `data` against the job type's schema; return it normalised."""
        job_type = self.host.job_type(name)
        if not isinstance(data, dict):
            raise InvalidSubmission("data must be an object", {"data": ["must be an object"]})
        problems = data_problems(data)
        if problems:
            raise InvalidJobData("data cannot be stored as it is", problems)
        validator, normalize = self._validator(job_type)
        if not validator.validate(data, normalize=normalize):
            raise InvalidJobData(f"data does not match the '{name}' schema", validator.errors)
        # not normalized, the document shares the caller's nested values: store a copy
        return validator.document if normalize else copy.deepcopy(validator.document)

    def submit(self, name: str, data: Any, **options: Any) -> Job:
        """Validate, store as queued (or scheduled), then put the job id on its queue.

        Options: `created_by`, `delay` (seconds), `run_at`, `priority`, `idempotency_key`,
        `max_attempts` and `timeout`; the last two may lower the job type's, never raise
        them. A second submission with the same `idempotency_key` returns the first job
        and stores nothing (a unique index decides, so concurrent submissions are safe
        too). If the queue cannot be reached the stored job is removed again and
        `QueueUnavailable` is raised, so a failed submission leaves nothing behind.
        Concurrent submissions share their MongoDB insert (the group writer).
        """
        return self._submit([self._new_document(name, data, **options)])[0]

    def submit_described(self, name: str, data: Any, **options: Any) -> dict:
        """`submit`, answering with the job as the API shows it (`Job.describe`), read
        from its document without building the `Job`."""
        return self._submit([self._new_document(name, data, **options)]).describe()[0]

    def submit_many(self, requests: list[dict[str, Any]]) -> SubmittedJobs:
        """Submit many jobs, each a dict of `name`, `data` and `submit`'s options, all or
        nothing: if any is invalid none is stored and `InvalidJobData` names each problem
        as `jobs.N.field`. Stored with one insert and enqueued with one Redis command per
        queue; the answer holds each request's job, in order (for a duplicate idempotency
        key, the job that has it), each built when first read (`SubmittedJobs`)."""
        return self._submit(self.new_documents(requests))

    def new_documents(
        self, requests: list[dict[str, Any]], problems: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The documents to store for `requests`, validated as `submit_many` does; raises
        `InvalidJobData` naming each problem, with the `problems` already found."""
        documents: list[dict[str, Any]] = []
        problems = dict(problems or {})
        for index, request in enumerate(requests):
            try:
                documents.append(self._new_document(**request))
            except UnknownJobType as exc:
                problems[f"jobs.{index}.name"] = [str(exc)]
            except InvalidJobData as exc:
                prefix = "" if isinstance(exc, InvalidSubmission) else "data."
                for field, messages in exc.details.items():
                    problems[f"jobs.{index}.{prefix}{field}"] = messages
        if problems:
            refused = len({key.split(".")[1] for key in problems})
            raise InvalidJobData(
                f"{refused} of {len(requests)} jobs are invalid; nothing was submitted", problems
            )
        return documents

    def _submit(self, documents: list[dict[str, Any]]) -> SubmittedJobs:
        answer, new = self._resolve_keys(documents)
        if new:
            self._store(new, answer)
        return SubmittedJobs(answer)

    def _new_document(
        self,
        name: str,
        data: Any,
        *,
        created_by: str | None = None,
        delay: float | None = None,
        run_at: datetime | None = None,
        priority: int | None = None,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        job_type = self.host.job_type(name)
        document = self.validate(name, data)
        limits = job_limits(job_type, max_attempts, timeout, priority, delay)
        if idempotency_key and idempotency_key.startswith(OWN_KEY_PREFIX):
            raise InvalidSubmission(
                "the idempotency key uses the platform's own prefix",
                {"idempotency_key": [f"must not start with '{OWN_KEY_PREFIX}' (reserved)"]},
            )
        if delay:
            run_at = utcnow() + timedelta(seconds=delay)
        elif run_at is not None and run_at.tzinfo is not None:
            run_at = run_at.astimezone(UTC).replace(tzinfo=None)
        job_id, now = ObjectId(), utcnow()
        # the document to store, as Job(...).to_mongo() would make it (several times faster)
        stored = {
            "_id": job_id,
            "type": name,
            "data": document,
            "state": SCHEDULED if run_at else QUEUED,
            "queue": job_type.queue,
            "priority": job_type.priority if priority is None else priority,
            "max_attempts": limits["max_attempts"],
            "retry_policy": job_type.retry.as_dict(),
            "timeout": limits["timeout"],
            "attempt_count": 0,
            "attempts": [],
            "idempotency_key": idempotency_key or f"{OWN_KEY_PREFIX}{job_id}",
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
            "run_at": run_at,
            "cancel_requested": False,
        }
        return {key: value for key, value in stored.items() if value is not None}

    def _resolve_keys(self, documents: list[dict[str, Any]]) -> tuple[list[Answer], list[dict]]:
        """The answer (for each request, a stored job or the document to store) and the
        documents to store: a key a stored job has, or an earlier request of the same
        batch, resolves to that job."""
        keys = [
            doc["idempotency_key"]
            for doc in documents
            if not doc["idempotency_key"].startswith(OWN_KEY_PREFIX)
        ]
        known: dict[str, Answer] = (
            {j.idempotency_key: j for j in Job.objects(idempotency_key__in=keys)} if keys else {}
        )
        answer: list[Answer] = []
        new: list[dict[str, Any]] = []
        for doc in documents:
            existing = known.get(doc["idempotency_key"])
            if existing is None:
                known[doc["idempotency_key"]] = doc
                new.append(doc)
                answer.append(doc)
            else:
                answer.append(_same_type(existing, doc["type"]))
        return answer, new

    def _store(self, new: list[dict[str, Any]], answer: list[Answer]) -> None:
        """Insert the new jobs' documents and enqueue them; a key that a concurrent
        submission took meanwhile resolves to its job (in `answer`, in place). Removes
        what it stored if the queue is down."""
        try:
            duplicates = self.writer.insert(new)
        except Exception:
            Job._get_collection().delete_many({"_id": {"$in": [doc["_id"] for doc in new]}})
            raise
        for index in sorted(duplicates):
            doc = new[index]
            existing = Job.objects(idempotency_key=doc["idempotency_key"]).first()
            if existing is None:  # the other submission failed and was removed again
                raise InvalidTransition(
                    "a job with this idempotency key was being submitted "
                    "at the same time and failed; submit again"
                )
            same = _same_type(existing, doc["type"])
            answer[:] = [same if item is doc else item for item in answer]
        stored = [doc for index, doc in enumerate(new) if index not in duplicates]
        try:
            self._enqueue(stored)
        except Exception as exc:
            Job._get_collection().delete_many({"_id": {"$in": [doc["_id"] for doc in stored]}})
            raise QueueUnavailable(
                f"the job queue is unavailable ({exc}); nothing was stored"
            ) from exc
        self.transitions.submitted(stored)

    def _enqueue(self, documents: list[dict[str, Any]]) -> None:
        """Send just-stored jobs (their documents) to their queues: those to run now in one
        command a queue, their messages carrying them (jobs/queue.py)."""
        now = []
        for doc in documents:
            if doc.get("run_at") is None:
                now.append(doc)
            else:
                self.queue.enqueue(
                    doc["queue"], str(doc["_id"]), eta=doc["run_at"], priority=doc["priority"]
                )
        if now:
            self.queue.enqueue_many(now)

    def get(self, job_id: str) -> Job:
        return find_job(job_id)

    def page(self, job_filter: JobFilter, **options: Any) -> JobPage:
        """A page of jobs, as `jobs.query.find_jobs` reads it (order, limit, cursor,
        count_budget_ms)."""
        return find_jobs(job_filter, **options)

    def list(
        self, *, state: str | None = None, job_type: str | None = None, limit: int = 50
    ) -> list[Job]:
        query: dict[str, Any] = {}
        if state:
            query["state"] = state
        if job_type:
            query["type"] = job_type
        return list(Job.objects(**query).order_by("-created_at").limit(limit))

    def retry(self, job_id: str) -> Job:
        """Run a dead or cancelled job again, keeping its earlier attempts.

        It gets as many new attempts as its type allows."""
        job = find_job(job_id)
        if job.state not in (DEAD, CANCELLED):
            raise InvalidTransition(
                f"job is {job.state}; only dead or cancelled jobs can be retried"
            )
        if job.workflow_id and (problem := self.transitions.steps.retry_problem(job)):
            raise InvalidTransition(problem)
        updated = self.transitions.retry(job)
        if updated is None:
            raise InvalidTransition("job changed while being retried; reload and try again")
        return self._send_now(updated)

    def run_now(self, job_id: str) -> Job:
        """Run a scheduled or retrying job now instead of at its time, without using up an
        attempt. A job due within a second is left as it is: it runs when a worker takes it."""
        job = find_job(job_id)
        if job.state not in RUNNABLE_NOW:
            raise InvalidTransition(
                f"job is {job.state}; only scheduled or retrying jobs can be run now"
            )
        if job.run_at is None or job.run_at <= utcnow() + timedelta(seconds=1):
            raise InvalidTransition(
                f"job is due already; it runs as soon as a worker of queue '{job.queue}' takes it"
            )
        updated = self.transitions.run_now(job)
        if updated is None:
            raise InvalidTransition("job changed meanwhile; reload and try again")
        return self._send_now(updated)

    def _send_now(self, job: Job) -> Job:
        """Put a job just queued again on its queue, to run now."""
        try:
            self.queue.enqueue(job.queue, str(job.id), priority=job.priority)
        except Exception as exc:  # noqa: BLE001 - it is queued in MongoDB; the reconciler sends it
            log.warning(
                "job %s: queue unavailable (%s); the reconciler will enqueue it", job.id, exc
            )
        return job

    def retry_many(
        self,
        *,
        state: str = DEAD,
        job_type: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = BULK_RETRY_LIMIT,
    ) -> list[str]:
        """Retry every dead (or cancelled) job matching the filter, up to `limit`; return
        the ids of the jobs that were retried."""
        if state not in (DEAD, CANCELLED):
            raise InvalidTransition(f"only dead or cancelled jobs can be retried, not {state}")
        if not 1 <= limit <= BULK_RETRY_LIMIT:
            raise JobError(f"limit must be between 1 and {BULK_RETRY_LIMIT}")
        query: dict[str, Any] = {"state": state}
        if job_type:
            query["type"] = job_type
        if created_after:
            query["created_at__gte"] = created_after
        if created_before:
            query["created_at__lt"] = created_before
        ids = [str(doc["_id"]) for doc in Job.objects(**query).only("id").limit(limit).as_pymongo()]
        retried = []
        for job_id in ids:
            try:
                retried.append(str(self.retry(job_id).id))
            except (InvalidTransition, JobNotFound):
                continue  # it changed meanwhile (retried by someone else, or removed)
        return retried

    def cancel(self, job_id: str) -> Job:
        """Cancel a waiting job (it will never run) or ask a running one to stop."""
        job = find_job(job_id)
        if job.state in FINAL:
            raise InvalidTransition(f"job is already {job.state}")
        return self.transitions.cancel(job) or find_job(job_id)

    def remove(self, job_id: str) -> None:
        """Delete a job's record; a waiting job is cancelled first, a running one refused."""
        job = find_job(job_id)
        if job.state not in FINAL:
            job = self.cancel(job_id)
        if job.state not in FINAL:
            raise InvalidTransition("job is running; it was asked to stop, delete it once it has")
        self.transitions.remove(job)


def _same_type(existing: Answer, name: str) -> Answer:
    """`existing`, the job a key resolved to, if it is of type `name`."""
    job_id, job_type = (
        (existing["_id"], existing["type"])
        if isinstance(existing, dict)
        else (existing.id, existing.type)
    )
    if job_type != name:
        raise InvalidTransition(
            f"the idempotency key is already used by job {job_id} of "
            f"type '{job_type}'; use a different key"
        )
    return existing


class SubmittedJobs(Sequence[Job]):
    """The jobs a submission answers with, in request order. A job stored just now is
    built from its document when first read: a MongoEngine `Job` costs more to build
    (about 0.1 ms) than the rest of its submission, and many callers never read it."""

    def __init__(self, items: list[Answer]):
        self._items = items
        self._built: dict[int, Job] = {}  # by id() of the document

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        item = self._items[index]
        if not isinstance(item, dict):
            return item
        # one document answers every request its key resolved to, and so does one Job
        if id(item) not in self._built:
            self._built[id(item)] = Job._from_son(item)
        return self._built[id(item)]

    def describe(self) -> list[dict]:
        """Each job as `Job.describe` shows it; a job stored just now is described from
        its document."""
        return [
            describe_job(item) if isinstance(item, dict) else item.describe()
            for item in self._items
        ]
