"""What a plugin author imports: the hook marker, job types, retry policies, the job context."""

from jobplatform.plugins.context import JobContext, PermanentError
from jobplatform.plugins.hookspecs import hookimpl
from jobplatform.plugins.jobtype import JobType, RetryPolicy

__all__ = ["JobContext", "JobType", "PermanentError", "RetryPolicy", "hookimpl"]
