"""The job errors: what the job service, schedules, workflows and queue controls raise
(each one a kind of `jobplatform.errors.PlatformError`, which picks the answer)."""

from __future__ import annotations

from jobplatform.errors import Conflict, InvalidInput, NotFound, PlatformError, Unavailable


class JobError(PlatformError):
    """A request about jobs that cannot be done."""


class InvalidJobData(JobError, InvalidInput):
    pass


class InvalidSubmission(InvalidJobData):
    """A submission's own fields are wrong (not its data's); `details` names those fields."""


class JobNotFound(JobError, NotFound):
    pass


class InvalidTransition(JobError, Conflict):
    pass


class QueueUnavailable(JobError, Unavailable):
    pass
