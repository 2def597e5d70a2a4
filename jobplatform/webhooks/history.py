"""An endpoint's deliveries as the API and the admin app show them: its delivery jobs,
newest first, each with every attempt's outcome.

The jobs are found by their `created_by` (`webhook:<endpoint id>`, delivery.py) through
the jobs index `{created_by, _id}`; `created_by` leads the filter, since FerretDB narrows
its SQL by the first field a filter requires to equal a string (tools/ferretdb), and a
page is a keyset cursor on `_id`, so a page reads only its own jobs.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from jobplatform.jobs.models import RETRYING, SCHEDULED, Attempt, Job
from jobplatform.webhooks.delivery import DELIVER, made_by
from jobplatform.webhooks.models import iso
from jobplatform.webhooks.sender import attempt_outcome

MAX_PAGE = 200


def endpoint_deliveries(
    endpoint_id: ObjectId, limit: int, before: ObjectId | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the endpoint's deliveries, and the id to pass as `before` for the next
    page (None on the last)."""
    query: dict[str, Any] = {"created_by": made_by(endpoint_id), "type": DELIVER}
    if before is not None:
        query["_id"] = {"$lt": before}
    page = list(Job.objects(__raw__=query).order_by("-id").limit(limit + 1))
    more = len(page) > limit
    page = page[:limit]
    return [describe(job) for job in page], (str(page[-1].id) if more else None)


def describe(job: Job) -> dict[str, Any]:
    """One delivery job as a delivery: the event it carries and how its attempts went."""
    data = job.data or {}
    payload = data.get("payload") or {}
    attempts = [_attempt(a, job.result) for a in job.attempts]
    last = next((a for a in reversed(attempts) if a["outcome"] != "interrupted"), None)
    return {
        "id": str(job.id),
        "event": data.get("event"),
        "job_id": payload.get("job_id"),
        "job_type": payload.get("job_type"),
        "state": job.state,
        "attempt_count": job.attempt_count,
        "max_attempts": job.max_attempts,
        "next_attempt_at": iso(job.run_at) if job.state in (SCHEDULED, RETRYING) else None,
        "status_code": last["status_code"] if last else None,
        "latency_ms": last["latency_ms"] if last else None,
        "error": job.error,
        "created_at": iso(job.created_at),
        "finished_at": iso(job.finished_at),
        "attempts": attempts,
    }


def _attempt(attempt: Attempt, result: Any) -> dict[str, Any]:
    if attempt.outcome == "succeeded" and isinstance(result, dict):
        status, latency = result.get("status_code"), result.get("latency_ms")
    else:
        status, latency = attempt_outcome(attempt.error_type, attempt.error_message)
    error = f"{attempt.error_type}: {attempt.error_message}" if attempt.error_type else None
    return {
        "number": attempt.number,
        "started_at": iso(attempt.started_at),
        "finished_at": iso(attempt.finished_at),
        "outcome": attempt.outcome,
        "status_code": status,
        "latency_ms": latency,
        "error": error,
        "retry_delay": attempt.retry_delay,
    }
