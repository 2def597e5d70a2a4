"""The job event handed to plugins' `on_job_event` on every transition."""

from __future__ import annotations

from typing import Any

from jobplatform.jobs.models import Job, utcnow


def job_event(kind: str, job: Job, **extra: Any) -> dict[str, Any]:
    event = {
        "kind": kind,
        "job_id": str(job.id),
        "job_type": job.type,
        "attempt": job.attempt_count,
        "at": utcnow(),
        **extra,
    }
    if kind in ("succeeded", "failed") and job.attempts:
        event["duration_ms"] = job.attempts[-1].duration_ms  # of the attempt that just ended
    return event
