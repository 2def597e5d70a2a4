"""The MongoDB documents that keep every job's history: the job and each attempt."""

from __future__ import annotations

from collections.abc import Mapping
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
        return describe_line(self.to_mongo())


class Progress(EmbeddedDocument):
    """How far the job's latest attempt that reported progress got (`ctx.progress`)."""

    done = DynamicField()  # a number, as the processor gave it
    total = DynamicField()  # a number, or None when unknown
    message = StringField()
    at = DateTimeField()
    attempt = IntField()

    def describe(self) -> dict:
        return describe_progress(self.to_mongo())


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
        return describe_attempt(self.to_mongo())


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
        return describe_job(self.to_mongo(), with_attempts=with_attempts)


# What a stored job lacks a field for reads as the field's default (as Job reads it).
_DEFAULTS = {
    field.db_field: field.default
    for field in Job._fields.values()
    if field.default is not None and not callable(field.default)
}


def describe_job(doc: Mapping[str, Any], *, with_attempts: bool = True) -> dict:
    """A stored job, as the API and the admin app show it, read from its document: pages
    of the job list are described without building a `Job` for each (that took longer
    than reading them)."""
    progress = doc.get("progress")
    out = {
        "id": str(doc["_id"]),
        "name": doc["type"],
        "state": _field(doc, "state"),
        "data": doc.get("data") or {},
        "queue": _field(doc, "queue"),
        "priority": _field(doc, "priority"),
        "attempt_count": _field(doc, "attempt_count"),
        "max_attempts": _field(doc, "max_attempts"),
        "result": doc.get("result"),
        "error": doc.get("error"),
        "idempotency_key": doc.get("idempotency_key"),
        "created_by": doc.get("created_by"),
        "created_at": _iso(doc.get("created_at")),
        "updated_at": _iso(doc.get("updated_at")),
        "run_at": _iso(doc.get("run_at")),
        "started_at": _iso(doc.get("started_at")),
        "finished_at": _iso(doc.get("finished_at")),
        "progress": describe_progress(progress) if progress else None,
    }
    if doc.get("workflow_id"):
        out["workflow"] = {"id": str(doc["workflow_id"]), "step": doc.get("step_key")}
    if with_attempts:
        out["attempts"] = [describe_attempt(a) for a in doc.get("attempts") or ()]
        out["live_log"] = [describe_line(line) for line in doc.get("live_log") or ()]
    return out


def _field(doc: Mapping[str, Any], name: str) -> Any:
    return doc.get(name, _DEFAULTS.get(name))


def describe_attempt(doc: Mapping[str, Any]) -> dict:
    return {
        "number": doc.get("number"),
        "worker": doc.get("worker"),
        "started_at": _iso(doc.get("started_at")),
        "finished_at": _iso(doc.get("finished_at")),
        "duration_ms": doc.get("duration_ms"),
        "outcome": doc.get("outcome"),
        "error_type": doc.get("error_type"),
        "error_message": doc.get("error_message"),
        "traceback": doc.get("traceback"),
        "retry_delay": doc.get("retry_delay"),
        "requeued": bool(doc.get("requeued")),
        "log": [describe_line(line) for line in doc.get("log") or ()],
    }


def describe_progress(doc: Mapping[str, Any]) -> dict:
    return {
        "done": doc.get("done"),
        "total": doc.get("total"),
        "message": doc.get("message"),
        "at": _iso(doc.get("at")),
        "attempt": doc.get("attempt"),
    }


def describe_line(doc: Mapping[str, Any]) -> dict:
    return {"level": doc.get("level"), "at": _iso(doc.get("at")), "message": doc.get("message")}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") + "Z" if value else None
