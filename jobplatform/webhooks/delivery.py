"""A delivery is a job: type `webhook.deliver`, on the queue `webhooks` of its own.

Its data names the endpoint, the event, when the delivery was made and the event's
payload. The body POSTed is built from them and the job's id, the same bytes on every
attempt: `{"id": <the job's id>, "event", "created_at", "data": <payload>}`; the job's id
is also the `Webhook-Id` header, so a receiver drops a delivery it has processed.

The job's `created_by` is `webhook:<endpoint id>`. That is how an endpoint's deliveries are
found (the jobs index `{created_by, _id}`, newest first, without reading other jobs), and
how the processor knows the webhooks plugin made the job: a `webhook.deliver` submitted
through the API or the admin app carries its submitter's name and is refused unsent, so
nobody can have the platform sign a body of their own. A job event's delivery has the
idempotency key `webhook:<endpoint>:<job>:<event>:<attempt>`, so the same event reported
twice is delivered once. A workflow's end has `webhook:<endpoint>:<workflow>:
workflow.finished:<when it ended>` instead: a retried step can make a workflow run and
end again, and each end is delivered.
"""

from __future__ import annotations

import json
from typing import Any

from jobplatform.jobs.models import utcnow
from jobplatform.jobs.workflow_models import WORKFLOW_FINISHED
from jobplatform.webhooks.models import EVENTS, PING, iso

DELIVER = "webhook.deliver"
QUEUE = "webhooks"
MADE_BY = "webhook:"  # created_by and idempotency-key prefix of the plugin's deliveries
SCHEMA: dict[str, Any] = {
    "endpoint_id": {"type": "string", "required": True, "regex": "[0-9a-f]{24}"},
    "event": {"type": "string", "required": True, "allowed": [*EVENTS, PING]},
    "created_at": {"type": "string", "required": True, "maxlength": 40},
    "payload": {"type": "dict", "required": True},
}


def made_by(endpoint_id: Any) -> str:
    """The `created_by` of the endpoint's delivery jobs."""
    return f"{MADE_BY}{endpoint_id}"


def delivery_request(
    endpoint_id: Any, event: str, payload: dict[str, Any], **options: Any
) -> dict[str, Any]:
    """The submission of one delivery, as `JobService.submit_many` takes it; `options`
    are submit's (`idempotency_key`, `max_attempts`)."""
    data = {
        "endpoint_id": str(endpoint_id),
        "event": event,
        "created_at": iso(utcnow()),
        "payload": payload,
    }
    return {"name": DELIVER, "data": data, "created_by": made_by(endpoint_id), **options}


def event_key(endpoint_id: Any, event: str, job_event: dict[str, Any]) -> str:
    """The idempotency key of an event's delivery to one endpoint."""
    occurrence = iso(job_event["at"]) if event == WORKFLOW_FINISHED else job_event["attempt"]
    return f"{MADE_BY}{endpoint_id}:{job_event['job_id']}:{event}:{occurrence}"


def body(job_id: str, data: dict[str, Any]) -> bytes:
    """The JSON a delivery job POSTs."""
    envelope = {
        "id": job_id,
        "event": data["event"],
        "created_at": data["created_at"],
        "data": data["payload"],
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
