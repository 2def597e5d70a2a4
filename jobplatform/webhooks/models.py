"""The webhook endpoint document and the events an endpoint can ask for.

A delivery is not a document of its own: it is a job of type `webhook.deliver`
(delivery.py), so its attempts, errors and controls are the job's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mongoengine import BooleanField, DateTimeField, Document, ListField, StringField

from jobplatform.jobs.models import utcnow
from jobplatform.jobs.workflow_models import WORKFLOW_FINISHED

JOB_EVENTS = {  # a job event's kind (plugins' on_job_event) -> the webhook event
    "succeeded": "job.succeeded",
    "dead": "job.dead",
    "failed": "job.failed",
    "cancelled": "job.cancelled",
}
EVENTS = (*JOB_EVENTS.values(), WORKFLOW_FINISHED)  # a workflow's end: its kind is its name
PING = "ping"


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
