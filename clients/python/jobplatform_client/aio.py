"""`AsyncClient`: the asyncio client, with `Client`'s methods as coroutines. Each builds
its call in `protocol` and drives the shared flow with httpx's async client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
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


class AsyncClient:
    """`async with AsyncClient(url, token="jpt_...") as jobs: await jobs.submit(...)`; the
    arguments are `Client`'s."""

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
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _drive(self, flow: Flow[T]) -> T:
        answer: httpx.Response | None = None
        error: httpx.TransportError | None = None
        while True:
            try:
                step = flow.throw(error) if error else flow.send(answer)  # type: ignore[arg-type]
            except StopIteration as done:
                return done.value
            answer, error = None, None
            if isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
                continue
            try:
                answer = await self._http.request(
                    step.method, step.path, params=step.params, json=step.json, headers=step.headers
                )
            except httpx.TransportError as exc:
                error = exc

    async def _run(self, call: Call[T]) -> T:
        return await self._drive(protocol.authorized(self._credentials, self._policy, call))

    async def log_in(self) -> Tokens:
        """Log in with the username and password now (otherwise done on first use)."""
        return await self._drive(protocol.log_in(self._credentials, self._policy))

    # -- jobs ------------------------------------------------------------------------

    async def submit(
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
        return await self._run(protocol.submit(job))

    async def submit_many(self, jobs: Sequence[NewJob | Mapping[str, Any]]) -> list[Job]:
        """Submit up to 500 jobs in one request, all or nothing."""
        return await self._run(protocol.submit_many(jobs))

    async def get(self, job_id: str) -> Job:
        """The job with its attempts (errors, tracebacks)."""
        return await self._run(protocol.get(job_id))

    async def iterate(self, **filters: Any) -> AsyncIterator[Job]:
        """Every matching job, page after page (the filters of `list`)."""
        call: Call[JobPage] | None = protocol.list_jobs(**filters)
        while call is not None:
            page = await self._run(call)
            for job in page.jobs:
                yield job
            call = protocol.next_page(call, page)

    async def wait(self, job_id: str, *, timeout: float = 60.0, poll: float = 0.5) -> Job:
        """The job once succeeded, dead or cancelled; `TimeoutError` after `timeout`."""
        return await self._drive(
            protocol.wait(
                self._credentials,
                self._policy,
                protocol.get(job_id),
                f"job {job_id}",
                timeout,
                poll,
            )
        )

    async def retry(self, job_id: str) -> Job:
        return await self._run(protocol.retry(job_id))

    async def retry_many(
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
        return await self._run(
            protocol.retry_many(
                state=state,
                name=name,
                created_after=created_after,
                created_before=created_before,
                limit=limit,
            )
        )

    async def cancel(self, job_id: str) -> Job:
        return await self._run(protocol.cancel(job_id))

    async def delete(self, job_id: str) -> None:
        """Cancel the job if it runs, then remove it from the history."""
        return await self._run(protocol.delete(job_id))

    async def stats(self) -> Stats:
        return await self._run(protocol.stats())

    # -- schedules ---------------------------------------------------------------------

    async def list_schedules(self) -> list[Schedule]:
        return await self._run(protocol.list_schedules())

    async def create_schedule(self, name: str, job_type: str, **fields: Any) -> Schedule:
        """Fields: data, cron and timezone or interval_seconds, priority, max_attempts,
        timeout, enabled."""
        return await self._run(
            protocol.create_schedule({"name": name, "job_type": job_type, **fields})
        )

    async def get_schedule(self, schedule_id: str) -> Schedule:
        return await self._run(protocol.get_schedule(schedule_id))

    async def update_schedule(self, schedule_id: str, **changes: Any) -> Schedule:
        return await self._run(protocol.update_schedule(schedule_id, changes))

    async def delete_schedule(self, schedule_id: str) -> None:
        return await self._run(protocol.delete_schedule(schedule_id))

    # -- workflows ---------------------------------------------------------------------

    async def submit_workflow(
        self, name: str, jobs: Sequence[NewStep | Mapping[str, Any]]
    ) -> Workflow:
        """Submit steps (`NewStep`s or their fields as dicts: key, name, data, after, ...),
        all or nothing; a step starts once every step it is `after` has succeeded."""
        return await self._run(workflow_calls.submit_workflow(name, jobs))

    async def get_workflow(self, workflow_id: str) -> Workflow:
        """The workflow with each step's job state, and its edges."""
        return await self._run(workflow_calls.get_workflow(workflow_id))

    async def list_workflows(self, **filters: Any) -> WorkflowPage:
        """One page, newest first. Filters: state (running, succeeded, failed, cancelled;
        may be a list), name, created_by, limit, cursor."""
        return await self._run(workflow_calls.list_workflows(**filters))

    async def iterate_workflows(self, **filters: Any) -> AsyncIterator[Workflow]:
        """Every matching workflow, page after page (the filters of `list_workflows`)."""
        call: Call[WorkflowPage] | None = workflow_calls.list_workflows(**filters)
        while call is not None:
            page = await self._run(call)
            for workflow in page.workflows:
                yield workflow
            call = protocol.next_page(call, page)

    async def wait_workflow(
        self, workflow_id: str, *, timeout: float = 60.0, poll: float = 0.5
    ) -> Workflow:
        """The workflow once succeeded, failed or cancelled; `TimeoutError` after `timeout`."""
        read = workflow_calls.get_workflow(workflow_id)
        return await self._drive(
            protocol.wait(
                self._credentials, self._policy, read, f"workflow {workflow_id}", timeout, poll
            )
        )

    async def cancel_workflow(self, workflow_id: str) -> Workflow:
        """Cancel every step that has not ended (a running one is asked to stop)."""
        return await self._run(workflow_calls.cancel_workflow(workflow_id))

    # last: the name `list` in the class body would shadow the builtin in annotations

    async def list(self, **filters: Any) -> JobPage:
        """One page. Filters: state, name (a job type; each may be a list), q (search),
        created_after, created_before, order ("newest"/"oldest"), limit, cursor."""
        return await self._run(protocol.list_jobs(**filters))
