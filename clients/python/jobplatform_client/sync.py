"""`Client`: the blocking client. Each method builds its call in `protocol` and drives
the shared flow with httpx's blocking client; `AsyncClient` has the same methods."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx

from jobplatform_client import protocol, workflow_calls
from jobplatform_client.models import (
    Job,
    JobPage,
    NewJob,
    NewStep,
    RetriedJobs,
    Schedule,
    Stats,
    Tokens,
    Workflow,
    WorkflowPage,
)
from jobplatform_client.protocol import Call, Credentials, Flow, Pause, RetryPolicy, TokenStore

T = TypeVar("T")


class Client:
    """A client of one platform: `Client(url, token="jpt_...")` with an API token, or
    `Client(url, username=..., password=...)` (logs in on first use; the session's tokens
    refresh themselves). A `token_store` keeps a session's tokens across processes."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        refresh_token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        token_store: TokenStore | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
    ):
        self.base_url = base_url.rstrip("/")
        self._credentials = Credentials(token, refresh_token, username, password, token_store)
        self._policy = RetryPolicy(retries, backoff, max_backoff)
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _drive(self, flow: Flow[T]) -> T:
        answer: httpx.Response | None = None
        error: httpx.TransportError | None = None
        while True:
            try:
                step = flow.throw(error) if error else flow.send(answer)  # type: ignore[arg-type]
            except StopIteration as done:
                return done.value
            answer, error = None, None
            if isinstance(step, Pause):
                time.sleep(step.seconds)
                continue
            try:
                answer = self._http.request(
                    step.method, step.path, params=step.params, json=step.json, headers=step.headers
                )
            except httpx.TransportError as exc:
                error = exc

    def _run(self, call: Call[T]) -> T:
        return self._drive(protocol.authorized(self._credentials, self._policy, call))

    def log_in(self) -> Tokens:
        """Log in with the username and password now (otherwise done on first use)."""
        return self._drive(protocol.log_in(self._credentials, self._policy))

    # -- jobs ------------------------------------------------------------------------

    def submit(
        self,
        name: str,
        data: dict[str, Any] | None = None,
        *,
        delay: float | None = None,
        run_at: datetime | str | None = None,
        priority: int | None = None,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
    ) -> Job:
        """Submit a job; without `idempotency_key` one is made up, so retries are safe."""
        job = NewJob(
            name, data or {}, delay, run_at, priority, idempotency_key, max_attempts, timeout
        )
        return self._run(protocol.submit(job))

    def submit_many(self, jobs: Sequence[NewJob | Mapping[str, Any]]) -> list[Job]:
        """Submit up to 500 jobs in one request, all or nothing."""
        return self._run(protocol.submit_many(jobs))

    def get(self, job_id: str) -> Job:
        """The job with its attempts (errors, tracebacks)."""
        return self._run(protocol.get(job_id))

    def iterate(self, **filters: Any) -> Iterator[Job]:
        """Every matching job, page after page (the filters of `list`)."""
        call: Call[JobPage] | None = protocol.list_jobs(**filters)
        while call is not None:
            page = self._run(call)
            yield from page.jobs
            call = protocol.next_page(call, page)

    def wait(self, job_id: str, *, timeout: float = 60.0, poll: float = 0.5) -> Job:
        """The job once succeeded, dead or cancelled; `TimeoutError` after `timeout`."""
        return self._drive(
            protocol.wait(
                self._credentials,
                self._policy,
                protocol.get(job_id),
                f"job {job_id}",
                timeout,
                poll,
            )
        )

    def retry(self, job_id: str) -> Job:
        return self._run(protocol.retry(job_id))

    def retry_many(
        self,
        *,
        state: str = "dead",
        name: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | None = None,
    ) -> RetriedJobs:
        """Retry every `dead` (or `cancelled`) job that matches, up to `limit` (1000 unless
        given) a call: call again while `retried` is the limit."""
        return self._run(
            protocol.retry_many(
                state=state,
                name=name,
                created_after=created_after,
                created_before=created_before,
                limit=limit,
            )
        )

    def cancel(self, job_id: str) -> Job:
        return self._run(protocol.cancel(job_id))

    def delete(self, job_id: str) -> None:
        """Cancel the job if it runs, then remove it from the history."""
        return self._run(protocol.delete(job_id))

    def stats(self) -> Stats:
        return self._run(protocol.stats())

    # -- schedules ---------------------------------------------------------------------

    def list_schedules(self) -> list[Schedule]:
        return self._run(protocol.list_schedules())

    def create_schedule(self, name: str, job_type: str, **fields: Any) -> Schedule:
        """Fields: data, cron and timezone or interval_seconds, priority, max_attempts,
        timeout, enabled."""
        return self._run(protocol.create_schedule({"name": name, "job_type": job_type, **fields}))

    def get_schedule(self, schedule_id: str) -> Schedule:
        return self._run(protocol.get_schedule(schedule_id))

    def update_schedule(self, schedule_id: str, **changes: Any) -> Schedule:
        return self._run(protocol.update_schedule(schedule_id, changes))

    def delete_schedule(self, schedule_id: str) -> None:
        return self._run(protocol.delete_schedule(schedule_id))

    # -- workflows ---------------------------------------------------------------------

    def submit_workflow(self, name: str, jobs: Sequence[NewStep | Mapping[str, Any]]) -> Workflow:
        """Submit steps (`NewStep`s or their fields as dicts: key, name, data, after, ...),
        all or nothing; a step starts once every step it is `after` has succeeded."""
        return self._run(workflow_calls.submit_workflow(name, jobs))

    def get_workflow(self, workflow_id: str) -> Workflow:
        """The workflow with each step's job state, and its edges."""
        return self._run(workflow_calls.get_workflow(workflow_id))

    def list_workflows(self, **filters: Any) -> WorkflowPage:
        """One page, newest first. Filters: state (running, succeeded, failed, cancelled;
        may be a list), name, created_by, limit, cursor."""
        return self._run(workflow_calls.list_workflows(**filters))

    def iterate_workflows(self, **filters: Any) -> Iterator[Workflow]:
        """Every matching workflow, page after page (the filters of `list_workflows`)."""
        call: Call[WorkflowPage] | None = workflow_calls.list_workflows(**filters)
        while call is not None:
            page = self._run(call)
            yield from page.workflows
            call = protocol.next_page(call, page)

    def wait_workflow(
        self, workflow_id: str, *, timeout: float = 60.0, poll: float = 0.5
    ) -> Workflow:
        """The workflow once succeeded, failed or cancelled; `TimeoutError` after `timeout`."""
        read = workflow_calls.get_workflow(workflow_id)
        return self._drive(
            protocol.wait(
                self._credentials, self._policy, read, f"workflow {workflow_id}", timeout, poll
            )
        )

    def cancel_workflow(self, workflow_id: str) -> Workflow:
        """Cancel every step that has not ended (a running one is asked to stop)."""
        return self._run(workflow_calls.cancel_workflow(workflow_id))

    # last: the name `list` in the class body would shadow the builtin in annotations

    def list(self, **filters: Any) -> JobPage:
        """One page. Filters: state, name (a job type; each may be a list), q (search),
        created_after, created_before, order ("newest"/"oldest"), limit, cursor."""
        return self._run(protocol.list_jobs(**filters))
