"""/api/queues: the queues the job types use, what waits on each, and pausing them."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from jobplatform.api.deps import Principal, current_user, operator, services
from jobplatform.jobs.queue_controls import QueueControls
from jobplatform.services import Services

router = APIRouter(prefix="/api/queues", tags=["queues"])


class QueueLimitOut(BaseModel):
    job_type: str
    rate_limit: str | None = Field(description="at most COUNT starts in any PERIOD: '10/s'")
    concurrency_limit: int | None = Field(description="at most this many running at once")
    slots_taken: int | None = Field(
        description="running against the concurrency limit now, across all workers"
    )


class QueueOut(BaseModel):
    name: str
    job_types: list[str] = Field(description="the loaded job types that use the queue")
    waiting: int = Field(description="queued jobs: ready, taken in turn")
    scheduled: int = Field(description="jobs waiting for their time")
    retrying: int = Field(description="jobs waiting for their next attempt")
    running: int
    paused: bool = Field(description="workers take nothing new from a paused queue")
    paused_by: str | None
    paused_at: str | None
    limits: list[QueueLimitOut] = Field(
        description="the rate and concurrency limits of the queue's job types that have any"
    )


class QueueList(BaseModel):
    queues: list[QueueOut]


def _out(row: dict) -> dict:
    at: datetime | None = row["paused_at"]
    return {**row, "paused_at": at.isoformat(timespec="milliseconds") + "Z" if at else None}


@router.get("", response_model=QueueList)
async def list_queues(
    svc: Services = Depends(services), _: Principal = Depends(current_user)
) -> dict:
    """Each queue a job type uses (and each paused one): its job types, its jobs by state
    (from the engine's counters) and whether it is paused."""
    rows = await run_in_threadpool(QueueControls(svc.host, svc.limit_store).list)
    return {"queues": [_out(row) for row in rows]}


@router.post("/{name}/pause", response_model=QueueOut)
async def pause(
    name: str, svc: Services = Depends(services), user: Principal = Depends(operator)
) -> dict:
    """Workers take nothing new from the queue (within a second); running jobs finish.
    Holds across worker restarts. 404 for a queue no job type uses."""
    row = await run_in_threadpool(QueueControls(svc.host, svc.limit_store).pause, name, user.actor)
    return _out(row)


@router.post("/{name}/resume", response_model=QueueOut)
async def resume(
    name: str, svc: Services = Depends(services), user: Principal = Depends(operator)
) -> dict:
    """Workers take the queue's jobs again (within a second)."""
    row = await run_in_threadpool(QueueControls(svc.host, svc.limit_store).resume, name, user.actor)
    return _out(row)
