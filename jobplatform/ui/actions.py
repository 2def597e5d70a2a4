"""Job actions of the admin app: each checks the user's role on the server, then calls
`JobService` exactly as the API does, and tells the user what happened."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from jobplatform.jobs.errors import JobError
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.session import OPERATE, allowed


async def retry_jobs(services: Services, job_ids: list[str]) -> int:
    """Retry each dead or cancelled job; report what was done. Returns how many were."""
    if not allowed(OPERATE, "retry jobs"):
        return 0
    return await _each(job_ids, services.jobs.retry, "retried")


async def run_jobs_now(services: Services, job_ids: list[str]) -> int:
    """Run each scheduled or retrying job now instead of at its time."""
    if not allowed(OPERATE, "run jobs now"):
        return 0
    return await _each(job_ids, services.jobs.run_now, "set to run now")


async def cancel_jobs(services: Services, job_ids: list[str]) -> int:
    if not allowed(OPERATE, "cancel jobs"):
        return 0
    return await _each(job_ids, services.jobs.cancel, "cancelled")


async def _each(job_ids: list[str], action: Callable[[str], object], verb: str) -> int:
    done, refused = 0, []
    for job_id in job_ids:
        try:
            await blocking.call(action, job_id)
            done += 1
        except JobError as exc:
            refused.append(f"{job_id}: {exc.message}")
    if done:
        ui.notify(f"{done} job{'s' * (done != 1)} {verb}", type="positive")
    for reason in refused[:5]:
        ui.notify(f"Not {verb}: {reason}", type="warning")
    return done
