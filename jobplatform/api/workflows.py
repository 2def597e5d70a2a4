"""/api/workflows: submit a workflow (jobs that wait for other jobs), list, read, cancel.

Every rule (the graph, each step's schema and options, all or nothing) is the core's
(jobs/workflows.py); this module only carries requests to it. A step is a job: retry or
cancel one step through /api/jobs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.concurrency import run_in_threadpool

from jobplatform.api.deps import Principal, current_user, operator, services
from jobplatform.api.errors import ApiError
from jobplatform.jobs.query import InvalidCursor
from jobplatform.jobs.submission_options import MAX_PRIORITY, MIN_PRIORITY
from jobplatform.jobs.workflow_models import WORKFLOW_STATES
from jobplatform.jobs.workflows import (
    MAX_STEPS,
    cancel_workflow,
    find_workflow,
    find_workflows,
    submit_workflow,
    workflow_view,
)
from jobplatform.services import Services

router = APIRouter(prefix="/api/workflows", tags=["workflows"])
WorkflowState = Literal[WORKFLOW_STATES]


class StepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=64, description="unique in the workflow")
    name: str = Field(min_length=1, max_length=64, description="the job type")
    data: dict[str, Any] = Field(default_factory=dict)
    after: list[str] = Field(
        default_factory=list, max_length=MAX_STEPS, description="keys of the steps it waits for"
    )
    priority: StrictInt | None = Field(None, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    max_attempts: int | None = Field(None, ge=1, le=100)
    timeout: float | None = Field(None, gt=0, le=86400)


class WorkflowRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    jobs: list[StepRequest] = Field(min_length=1, max_length=MAX_STEPS)


class StepOut(BaseModel):
    key: str
    job_id: str
    name: str
    state: str
    attempt_count: int
    error: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    after: list[str]


class WorkflowSummary(BaseModel):
    id: str
    name: str
    state: WorkflowState
    created_by: str | None
    created_at: str | None
    finished_at: str | None
    step_count: int


class WorkflowOut(WorkflowSummary):
    steps: list[StepOut]
    edges: list[list[str]] = Field(description="[parent key, child key] pairs")


class WorkflowList(BaseModel):
    workflows: list[WorkflowSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


@router.post("", status_code=201, response_model=WorkflowOut)
async def submit(
    body: WorkflowRequest, svc: Services = Depends(services), user: Principal = Depends(operator)
) -> dict:
    """Submit a workflow, all or nothing: a step starts once every step it is `after`
    has succeeded. A 422 names each bad step or edge (`jobs.N.field`); nothing is stored."""
    steps = [step.model_dump(exclude_none=True) for step in body.jobs]

    def run() -> dict:
        workflow = submit_workflow(svc.jobs, body.name, steps, created_by=user.actor)
        return workflow_view(workflow)

    return await run_in_threadpool(run)


@router.get("", response_model=WorkflowList)
async def list_workflows(
    _: Principal = Depends(current_user),
    state: Annotated[list[WorkflowState], Query(description="repeat for several")] = [],  # noqa: B006
    name: str | None = Query(None, max_length=200),
    created_by: str | None = Query(None, max_length=200),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=64),
) -> dict:
    try:
        page = await run_in_threadpool(
            find_workflows,
            states=tuple(state),
            name=name,
            created_by=created_by,
            limit=limit,
            cursor=cursor,
        )
    except InvalidCursor as exc:
        raise ApiError(422, str(exc), details={"cursor": [str(exc)]}) from None
    return {"workflows": [w.describe() for w in page.workflows], "next_cursor": page.next_cursor}


@router.get("/{workflow_id}", response_model=WorkflowOut)
async def get_workflow(workflow_id: str, _: Principal = Depends(current_user)) -> dict:
    return await run_in_threadpool(lambda: workflow_view(find_workflow(workflow_id)))


@router.post("/{workflow_id}/cancel", response_model=WorkflowOut)
async def cancel(
    workflow_id: str, svc: Services = Depends(services), _: Principal = Depends(operator)
) -> dict:
    """Cancel every step that has not ended (a running one is asked to stop)."""
    return await run_in_threadpool(lambda: workflow_view(cancel_workflow(svc.jobs, workflow_id)))
