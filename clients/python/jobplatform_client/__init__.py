"""Python client of the jobplatform JSON API, sync and async with the same methods.

    from jobplatform_client import ApiError, Client

    with Client("https://jobs.example.com", token="jpt_...") as jobs:  # or username=, password=
        job = jobs.submit("sendEmail", {"recipient": "a@example.com", "subject": "Hi"})
        done = jobs.wait(job.id, timeout=120)          # succeeded, dead or cancelled
        if done.state == "dead":
            jobs.retry(done.id)

`AsyncClient` has the same methods as coroutines (`iterate` is an async iterator).
Requests that fail for a passing reason (connection errors, 429, 502, 503, 504) are
retried with exponential backoff and jitter, honouring `Retry-After`; every submission
carries an idempotency key, so a retried one never makes two jobs. Refusals raise
`ApiError` with the API's status, code, message and per-field details.
"""

from jobplatform_client.aio import AsyncClient
from jobplatform_client.errors import ApiError
from jobplatform_client.models import (
    FINAL_STATES,
    Attempt,
    Job,
    JobPage,
    LastHour,
    LastJob,
    LogLine,
    NewJob,
    Progress,
    Schedule,
    Stats,
    Tokens,
    to_json,
)
from jobplatform_client.protocol import RetryPolicy, TokenStore
from jobplatform_client.sync import Client

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
    "Schedule",
    "RetryPolicy",
    "Stats",
    "TokenStore",
    "Tokens",
    "to_json",
]
