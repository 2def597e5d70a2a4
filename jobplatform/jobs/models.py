"""The MongoDB documents that keep every job's history: the job and each attempt."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    DynamicField,
    EmbeddedDocument,
    EmbeddedDocumentField,
    EmbeddedDocumentListField,
    FloatField,
    IntField,
    ListField,
    ObjectIdField,
    StringField,
)

QUEUED, SCHEDULED, RUNNING, RETRYING = "queued", "scheduled", "running", "retrying"
SUCCEEDED, DEAD, CANCELLED = "succeeded", "dead", "cancelled"
# a workflow step whose parents have not all succeeded: never enqueued until they have
BLOCKED = "blocked"
STATES = (BLOCKED, QUEUED, SCHEDULED, RUNNING, RETRYING, SUCCEEDED, DEAD, CANCELLED)
WAITING = (QUEUED, SCHEDULED, RETRYING)
FINAL = (SUCCEEDED, DEAD, CANCELLED)


def utcnow() -> datetime:
    """Now in UTC, without tzinfo and at millisecond precision, as BSON stores it."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class LogLine(EmbeddedDocument):
    """A line a processor logged with `ctx.log` (jobplatform/plugins/report.py)."""

    level = StringField()  # debug | info | warning | error | critical
    at = DateTimeField()
    message = StringField()

    def describe(self) -> dict:
        return {"level": self.level, "at": _iso(self.at), "message": self.message}


class Progress(EmbeddedDocument):
    """How far the job's latest attempt that reported progress got (`ctx.progress`)."""

    done = DynamicField()  # a number, as the processor gave it
    total = DynamicField()  # a number, or None when unknown
    message = StringField()
    at = DateTimeField()
    attempt = IntField()

    def describe(self) -> dict:
        return {
            "done": self.done,
            "total": self.total,
            "message": self.message,
            "at": _iso(self.at),
            "attempt": self.attempt,
        }


class Attempt(EmbeddedDocument):
    """One run of a job by a worker, whatever its outcome."""

    number = IntField(required=True)
    worker = StringField()
    started_at = DateTimeField()
    finished_at = DateTimeField()
    duration_ms = FloatField()
    # succeeded | failed | timeout | cancelled | lost (the worker stopped renewing its lease)
    # | interrupted (the worker shut down before the attempt ended; it does not count)
    outcome = StringField()
    error_type = StringField()
    error_message = StringField()
    traceback = StringField()
    retry_delay = FloatField()  # seconds until the next attempt, when one was scheduled
    # the reconciler sent this attempt's message again: an earlier delivery may have run
    # unrecorded (its worker died before the outcome was stored)
    requeued = BooleanField()
    # its ctx.log lines; absent when it logged none (no field: a job that never logs
    # stores exactly what it stored before lines existed)
    log = EmbeddedDocumentListField(LogLine, default=None)

    def describe(self) -> dict:
        return {
            "number": self.number,
            "worker": self.worker,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "duration_ms": self.duration_ms,
            "outcome": self.outcome,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "traceback": self.traceback,
            "retry_delay": self.retry_delay,
            "requeued": bool(self.requeued),
            "log": [line.describe() for line in self.log or []],
        }


def attempt_record(**fields: Any) -> dict[str, Any]:
    """An attempt as it is stored: what `Attempt(**fields).to_mongo()` gives (no None
    fields), built directly; a worker writes one for every attempt, and building the
    MongoEngine document cost it 30 µs."""
    unknown = fields.keys() - Attempt._fields.keys()
    if unknown:
        raise TypeError(f"an attempt has no field {', '.join(sorted(unknown))}")
    return {name: value for name, value in fields.items() if value is not None}


class Job(Document):
    """A job and its whole history. MongoDB is the source of truth; the queue is transport."""

    meta = {
        "collection": "jobs",
        # created by jobs/indexes.py, which knows the store
        "auto_create_index": False,
    }

    type = StringField(required=True)
    data = DictField()
    state = StringField(required=True, choices=STATES, default=QUEUED)
    queue = StringField(required=True, default="default")
    priority = IntField(default=0)
    max_attempts = IntField(default=3)
    retry_policy = DictField()
    timeout = FloatField()
    attempt_count = IntField(default=0)
    attempts = EmbeddedDocumentListField(Attempt)
    result = DynamicField()
    error = StringField()
    idempotency_key = StringField()
    created_by = StringField()
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    run_at = DateTimeField()
    started_at = DateTimeField()
    finished_at = DateTimeField()
    worker_id = StringField()
    lease_expires_at = DateTimeField()
    cancel_requested = BooleanField(default=False)
    progress = EmbeddedDocumentField(Progress)
    # the ctx.log lines of the attempt running now, as last stored while it runs; they
    # move to its Attempt when it ends
    live_log = EmbeddedDocumentListField(LogLine, default=None)
    # a workflow's step (jobs/workflows.py): its workflow, key, parents' and children's
    # job ids, and the parents' results by step key, copied when it is released
    workflow_id = ObjectIdField()
    step_key = StringField()
    after = ListField(ObjectIdField(), default=None)
    children = ListField(ObjectIdField(), default=None)
    fan_ins = ListField(ObjectIdField(), default=None)  # the children after others too
    parent_results = DictField(default=None)
    cancelled_by = ObjectIdField()  # the dead or cancelled step that cancelled this one
    moved_by = ObjectIdField()  # the token of the last workflow move (workflow_steps.py)

    def describe(self, *, with_attempts: bool = True) -> dict:
        """The job as the API and the admin app show it."""
        out = {
            "id": str(self.id),
            "name": self.type,
            "state": self.state,
            "data": self.data,
            "queue": self.queue,
            "priority": self.priority,
            "attempt_count": self.attempt_count,
            "max_attempts": self.max_attempts,
            "result": self.result,
            "error": self.error,
            "idempotency_key": self.idempotency_key,
            "created_by": self.created_by,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "run_at": _iso(self.run_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "progress": self.progress.describe() if self.progress else None,
        }
        if self.workflow_id:
            out["workflow"] = {"id": str(self.workflow_id), "step": self.step_key}
        if with_attempts:
            out["attempts"] = [a.describe() for a in self.attempts]
            out["live_log"] = [line.describe() for line in self.live_log or []]
        return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") + "Z" if value else None
