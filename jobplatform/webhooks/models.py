"""The webhook documents: an endpoint, a delivery of one event to it, and each try.

A delivery is stored `pending` the moment its event happens, with `next_attempt_at`;
a dispatcher claims one try at a time (`delivery.claim`) and records its outcome. A try's
id is `<delivery id>:<number>`, so inserting it decides, atomically even on FerretDB
(which applies a conditional update by reading and writing back), which process sends
that try.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mongoengine import (
    BooleanField,
    DateTimeField,
    Document,
    FloatField,
    IntField,
    ListField,
    ObjectIdField,
    StringField,
)

from jobplatform.jobs.models import utcnow

JOB_EVENTS = {  # a job event's kind (plugins' on_job_event) -> the webhook event
    "succeeded": "job.succeeded",
    "dead": "job.dead",
    "failed": "job.failed",
    "cancelled": "job.cancelled",
}
EVENTS = (*JOB_EVENTS.values(), "workflow.finished")  # workflow.finished: the workflows issue's
PING = "ping"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") + "Z" if value else None


class WebhookEndpoint(Document):
    meta = {"collection": "webhook_endpoints", "indexes": ["enabled"]}

    url = StringField(required=True)
    events = ListField(StringField())
    job_types = ListField(StringField())  # empty: every job type
    enabled = BooleanField(default=True)
    description = StringField(default="")
    sealed_secret = StringField(required=True)  # crypto.SecretBox; never shown
    secret_hint = StringField()  # the secret's first characters, to tell secrets apart
    created_by = StringField()
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    secret_rotated_at = DateTimeField()

    def describe(self) -> dict[str, Any]:
        """The endpoint as the API and the admin app show it: never its secret."""
        return {
            "id": str(self.id),
            "url": self.url,
            "events": list(self.events),
            "job_types": list(self.job_types),
            "enabled": self.enabled,
            "description": self.description,
            "secret_hint": f"{self.secret_hint}…",
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "secret_rotated_at": iso(self.secret_rotated_at),
        }


class WebhookDelivery(Document):
    meta = {
        "collection": "webhook_deliveries",
        "indexes": [
            {"fields": ["state", "next_attempt_at"]},
            {"fields": ["endpoint_id", "-_id"]},
        ],
    }

    endpoint_id = ObjectIdField(required=True)
    event = StringField(required=True)
    job_id = StringField()
    job_type = StringField()
    body = StringField(required=True)  # the JSON sent, the same bytes on every try
    state = StringField(default=PENDING)  # pending | delivered | failed (gave up)
    attempts = IntField(default=0)  # tries claimed so far
    max_attempts = IntField(required=True)
    next_attempt_at = DateTimeField()  # due (pending), or the claimed try's lease; None: final
    status_code = IntField()  # of the last try
    latency_ms = FloatField()
    error = StringField()
    created_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField()

    def describe(self, tries: list[WebhookTry]) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "event": self.event,
            "job_id": self.job_id,
            "job_type": self.job_type,
            "state": self.state,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "next_attempt_at": iso(self.next_attempt_at) if self.state == PENDING else None,
            "status_code": self.status_code,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "created_at": iso(self.created_at),
            "finished_at": iso(self.finished_at),
            "tries": [t.describe() for t in sorted(tries, key=lambda t: t.number)],
        }


class WebhookTry(Document):
    meta = {"collection": "webhook_tries", "indexes": ["delivery_id"]}

    id = StringField(primary_key=True)  # "<delivery id>:<number>"; its insert claims the try
    delivery_id = ObjectIdField(required=True)
    number = IntField(required=True)
    sender = StringField()  # the process that sent it
    started_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField()
    status_code = IntField()
    latency_ms = FloatField()
    error = StringField()
    next_attempt_at = DateTimeField()  # when the next try is due; None after the last

    def describe(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "status_code": self.status_code,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "next_attempt_at": iso(self.next_attempt_at),
        }
