"""`jobplatform.client`, kept importable for code written against it: the client package's
public names (`jobplatform_client`, clients/python), re-exported. New code imports
`jobplatform_client` itself; its results are dataclasses (`job.id`, not `job["id"]`)."""

from jobplatform_client import (
    FINAL_STATES,
    ApiError,
    AsyncClient,
    Attempt,
    Client,
    Job,
    JobPage,
    LastHour,
    LastJob,
    LogLine,
    NewJob,
    Progress,
    RetryPolicy,
    Schedule,
    Stats,
    Tokens,
    TokenStore,
    to_json,
)

__all__ = [
    "FINAL_STATES",
    "ApiError",
    "AsyncClient",
    "Attempt",
    "Client",
    "Job",
    "JobPage",
    "LastHour",
    "LastJob",
    "LogLine",
    "NewJob",
    "Progress",
    "RetryPolicy",
    "Schedule",
    "Stats",
    "TokenStore",
    "Tokens",
    "to_json",
]
