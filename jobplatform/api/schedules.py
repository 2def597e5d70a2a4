"""/api/schedules: periodic jobs. Everyone reads; operators and admins change them.

Every rule (cron and time zone, interval, job type, data, submission limits) is
`ScheduleService`'s; this module only carries requests to it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from jobplatform.api.deps import Principal, current_user, operator, services
from jobplatform.jobs.schedules import ScheduleService
from jobplatform.services import Services

router = APIRouter(prefix="/api/schedules", tags=["schedules"])


class ScheduleRequest(BaseModel):
    """A new schedule: either `cron` (with `timezone`) or `interval_seconds`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="unique; printable ASCII")
    job_type: str = Field(min_length=1, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)
    cron: str | None = Field(
        None, max_length=200, description="5 fields: minute hour day-of-month month day-of-week"
    )
    timezone: str = Field("UTC", max_length=64, description="IANA name the cron is read in")
    interval_seconds: int | None = Field(None, description="at least 1")
    priority: int | None = Field(None, description="-100..100")
    max_attempts: int | None = Field(None, description="fewer attempts than the type allows")
    timeout: float | None = Field(None, description="seconds; shorter than the type allows")
    enabled: bool = True


class ScheduleChange(BaseModel):
    """The fields to change; giving `cron` clears `interval_seconds` and the other way round."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    job_type: str | None = Field(None, min_length=1, max_length=64)
    data: dict[str, Any] | None = None
    cron: str | None = Field(None, max_length=200)
    timezone: str | None = Field(None, max_length=64)
    interval_seconds: int | None = None
    priority: int | None = None
    max_attempts: int | None = None
    timeout: float | None = None
    enabled: bool | None = None


class LastJob(BaseModel):
    id: str
    state: str | None = Field(description="null when the job is gone (retention)")


class ScheduleOut(BaseModel):
    id: str
    name: str
    job_type: str
    data: dict[str, Any]
    cron: str | None
    timezone: str
    interval_seconds: int | None
    priority: int | None
    max_attempts: int | None
    timeout: float | None
    enabled: bool
    created_by: str | None
    created_at: str | None
    updated_at: str | None
    next_run_at: str | None = Field(description="UTC; null while disabled")
    last_fired_at: str | None = Field(description="the slot (UTC) of the last job fired")
    last_error: str | None = Field(description="why the last due slot fired no job")
    last_job: LastJob | None


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


def _service(svc: Services) -> ScheduleService:
    return ScheduleService(svc.jobs)


def _one(service: ScheduleService, schedule) -> dict:
    return service.describe([schedule])[0]


@router.get("", response_model=ScheduleList)
async def list_schedules(
    svc: Services = Depends(services), _: Principal = Depends(current_user)
) -> dict:
    service = _service(svc)
    described = await run_in_threadpool(lambda: service.describe(service.list()))
    return {"schedules": described}


@router.post("", status_code=201, response_model=ScheduleOut)
async def create_schedule(
    body: ScheduleRequest, svc: Services = Depends(services), user: Principal = Depends(operator)
) -> dict:
    service = _service(svc)
    fields = body.model_dump()
    schedule = await run_in_threadpool(lambda: service.create(fields, created_by=user.actor))
    return _one(service, schedule)


@router.get("/{schedule_id}", response_model=ScheduleOut)
async def get_schedule(
    schedule_id: str, svc: Services = Depends(services), _: Principal = Depends(current_user)
) -> dict:
    service = _service(svc)
    return await run_in_threadpool(lambda: _one(service, service.get(schedule_id)))


@router.patch("/{schedule_id}", response_model=ScheduleOut)
async def change_schedule(
    schedule_id: str,
    body: ScheduleChange,
    svc: Services = Depends(services),
    _: Principal = Depends(operator),
) -> dict:
    service = _service(svc)
    changes = body.model_dump(exclude_unset=True)
    schedule = await run_in_threadpool(service.update, schedule_id, changes)
    return _one(service, schedule)


@router.delete("/{schedule_id}", status_code=204)
async def delete_schedule(
    schedule_id: str, svc: Services = Depends(services), _: Principal = Depends(operator)
) -> Response:
    await run_in_threadpool(_service(svc).delete, schedule_id)
    return Response(status_code=204)
