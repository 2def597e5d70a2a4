"""The job event handed to plugins' `on_job_event` on every transition."""

from __future__ import annotations

from typing import Any

from jobplatform.jobs.models import utcnow


def job_event(kind: str, job_id: Any, job_type: str, attempt: int, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "job_id": str(job_id),
        "job_type": job_type,
        "attempt": attempt,
        "at": utcnow(),
        **{k: v for k, v in extra.items() if v is not None},
    }
