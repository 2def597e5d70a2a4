"""/api/jobs: submit, list, read, retry and cancel jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from jobplatform.api.deps import Principal, current_user, require_role, services
from jobplatform.services import Services

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
operator = require_role("admin", "operator")
JobState = Literal["queued", "scheduled", "running", "retrying", "succeeded", "dead", "cancelled"]


class JobRequest(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="the job type")
    data: dict[str, Any] = Field(default_factory=dict)
    delay: float | None = Field(None, ge=0, le=365 * 86400, description="seconds to wait")
    run_at: datetime | None = None
    priority: int | None = Field(None, ge=-100, le=100)
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)


@router.post("", status_code=201)
async def submit(body: JobRequest, svc: Services = Depends(services),
                 user: Principal = Depends(operator)) -> dict:
    job = await run_in_threadpool(
        svc.jobs.submit, body.name, body.data, created_by=user.username, delay=body.delay,
        run_at=body.run_at, priority=body.priority, idempotency_key=body.idempotency_key,
    )
    return job.describe()


@router.get("")
async def list_jobs(svc: Services = Depends(services), _: Principal = Depends(current_user),
                    state: JobState | None = None,
                    name: str | None = Query(None, max_length=64),
                    limit: int = Query(50, ge=1, le=500)) -> dict:
    jobs = await run_in_threadpool(svc.jobs.list, state=state, job_type=name, limit=limit)
    return {"jobs": [j.describe(with_attempts=False) for j in jobs]}


@router.get("/{job_id}")
async def get_job(job_id: str, svc: Services = Depends(services),
                  _: Principal = Depends(current_user)) -> dict:
    job = await run_in_threadpool(svc.jobs.get, job_id)
    return job.describe()


@router.post("/{job_id}/retry")
async def retry(job_id: str, svc: Services = Depends(services),
                _: Principal = Depends(operator)) -> dict:
    job = await run_in_threadpool(svc.jobs.retry, job_id)
    return job.describe()


@router.post("/{job_id}/cancel")
async def cancel(job_id: str, svc: Services = Depends(services),
                 _: Principal = Depends(operator)) -> dict:
    job = await run_in_threadpool(svc.jobs.cancel, job_id)
    return job.describe()


@router.delete("/{job_id}", status_code=204)
async def cancel_and_remove(job_id: str, svc: Services = Depends(services),
                            _: Principal = Depends(operator)) -> Response:
    await run_in_threadpool(svc.jobs.remove, job_id)
    return Response(status_code=204)
