"""The options a submission may ask for, within the platform's bounds and its job type's:
priority, delay, max_attempts and timeout. The job service, schedules and workflows check
them here; the API and the admin app take the bounds from here."""

from __future__ import annotations

import math
from typing import Any

from jobplatform.jobs.errors import InvalidSubmission
from jobplatform.plugins.jobtype import JobType

MIN_PRIORITY, MAX_PRIORITY = -100, 100
MAX_DELAY_SECONDS = 365 * 86400


def priority_problem(priority: Any) -> str | None:
    """Why `priority` cannot be a job's priority, or None (None itself: the type's)."""
    if priority is None or (
        isinstance(priority, int)
        and not isinstance(priority, bool)
        and MIN_PRIORITY <= priority <= MAX_PRIORITY
    ):
        return None
    return f"must be a whole number from {MIN_PRIORITY} to {MAX_PRIORITY}"


def delay_problem(delay: Any) -> str | None:
    if delay is None or (
        isinstance(delay, int | float)
        and not isinstance(delay, bool)
        and math.isfinite(delay)
        and 0 <= delay <= MAX_DELAY_SECONDS
    ):
        return None
    return f"must be from 0 to {MAX_DELAY_SECONDS:,} seconds (a year)"


def job_limits(
    job_type: JobType,
    max_attempts: int | None,
    timeout: float | None,
    priority: int | None = None,
    delay: float | None = None,
) -> dict[str, Any]:
    """The job's attempts and timeout: the type's, or lower ones asked for at submission;
    and the priority and delay asked for, within the platform's bounds."""
    problems: dict[str, list[str]] = {}
    bounds = {"priority": priority_problem(priority), "delay": delay_problem(delay)}
    for field, problem in bounds.items():
        if problem:
            problems[field] = [problem]
    allowed = job_type.retry.max_attempts
    if max_attempts is not None and not 1 <= max_attempts <= allowed:
        problems["max_attempts"] = [
            f"must be between 1 and {allowed}, the most that job type '{job_type.name}' allows"
        ]
    if timeout is not None and (timeout <= 0 or (job_type.timeout and timeout > job_type.timeout)):
        most = f" and at most {job_type.timeout:g}" if job_type.timeout else ""
        problems["timeout"] = [f"must be above 0{most} seconds for job type '{job_type.name}'"]
    if problems:
        raise InvalidSubmission("the job asks for more than its type allows", problems)
    return {
        "max_attempts": max_attempts or allowed,
        "timeout": timeout if timeout is not None else job_type.timeout,
    }
