"""Python client of the jobplatform JSON API, sync and async with the same methods.

    from jobplatform_client import ApiError, Client

    with Client("https://jobs.example.com", token="jpt_...") as jobs:  # or username=, password=
        job = jobs.submit("sendEmail", {"recipient": "a@example.com", "subject": "Hi"})
        done = jobs.wait(job.id, timeout=120)          # succeeded, dead or cancelled
        if done.state == "dead":
            jobs.retry(done.id)

A workflow's steps wait for the steps they are `after`:

    flow = jobs.submit_workflow("welcome", [NewStep("a", "sendEmail", {...}),
                                            NewStep("b", "sendEmail", {...}, after=["a"])])
    jobs.wait_workflow(flow.id).state                # succeeded, failed or cancelled

`AsyncClient` has the same methods as coroutines (`iterate` and `iterate_workflows` are
async iterators).
Requests that fail for a passing reason (connection errors, 429, 502, 503, 504) are
retried with exponential backoff and jitter, honouring `Retry-After`; every submission
carries an idempotency key, so a retried one never makes two jobs (a workflow, for which
the API takes no key, is sent again only when it surely did not arrive). Refusals raise
`ApiError` with the API's status, code, message and per-field details.
"""

from jobplatform_client.aio import AsyncClient
from jobplatform_client.errors import ApiError
from jobplatform_client.models import (
    FINAL_STATES,
    WORKFLOW_FINAL_STATES,
    Attempt,
    Job,
    JobPage,
    LastHour,
    LastJob,
    LogLine,
    NewJob,
    NewStep,
    Progress,
    RetriedJobs,
    Schedule,
    Stats,
    Tokens,
    Workflow,
    WorkflowPage,
    WorkflowStep,
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
    "NewStep",
    "Progress",
    "RetriedJobs",
    "Schedule",
    "RetryPolicy",
    "Stats",
    "TokenStore",
    "Tokens",
    "WORKFLOW_FINAL_STATES",
    "Workflow",
    "WorkflowPage",
    "WorkflowStep",
    "to_json",
]
