"""/api/jobs: submit (one or a batch), list, read, retry (one or by filter), run now, cancel,
delete, and clean (delete finished jobs by filter)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from weakref import WeakKeyDictionary

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, field_validator
from starlette.concurrency import run_in_threadpool

from jobplatform.api.deps import Principal, current_user, operator, services
from jobplatform.api.errors import ApiError
from jobplatform.api.shared_reads import SharedReads
from jobplatform.jobs.cleaning import CLEANABLE, MAX_AGE_SECONDS, clean_filter, clean_finished
from jobplatform.jobs.models import STATES, describe_job
from jobplatform.jobs.query import COUNT_CAP, InvalidCursor, JobFilter, JobPage
from jobplatform.jobs.submission_options import MAX_DELAY_SECONDS, MAX_PRIORITY, MIN_PRIORITY
from jobplatform.services import Services

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
JobState = Literal[STATES]
MAX_BATCH = 500
MAX_BULK_RETRY = 1000
# Distinct history queries running at once in this process; more wait their turn, and
# identical ones share a read (api/shared_reads.py). A page is an index walk, but a text
# search (or, on FerretDB, any filter it cannot narrow in SQL) reads rows one by one;
# fifty such at once on FerretDB took it past 12 GB before its edits. Four at a time keeps
# that bounded, and each query gets enough CPU to count within its budget.
MAX_LIST_QUERIES = 4
_list_reads: WeakKeyDictionary[asyncio.AbstractEventLoop, SharedReads] = WeakKeyDictionary()
PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
LIST_PARAMS = {"state", "name", "created_after", "created_before", "q", "order", "limit", "cursor"}


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueError("is outside the years 1 to 9999 in UTC") from None


# A time from a request, in UTC without its offset (how the history stores times).
UtcDatetime = Annotated[datetime, AfterValidator(_naive_utc)]


class JobRequest(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="the job type")
    data: dict[str, Any] = Field(default_factory=dict)
    delay: float | None = Field(None, ge=0, le=MAX_DELAY_SECONDS, description="seconds to wait")
    run_at: UtcDatetime | None = None
    priority: StrictInt | None = Field(None, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    idempotency_key: str | None = Field(
        None, min_length=1, max_length=200, description="printable ASCII"
    )
    max_attempts: int | None = Field(
        None, ge=1, le=100, description="fewer attempts than the type allows"
    )
    timeout: float | None = Field(
        None, gt=0, le=86400, description="seconds; shorter than the type allows"
    )

    @field_validator("idempotency_key")
    @classmethod
    def _printable_ascii(cls, key: str | None) -> str | None:
        # It becomes part of the email plugin's Message-ID, a log field, a search term.
        if key is not None and not PRINTABLE_ASCII.fullmatch(key):
            raise ValueError("must be printable ASCII (space to '~'), no control characters")
        return key


class BatchRequest(BaseModel):
    jobs: list[JobRequest] = Field(min_length=1, max_length=MAX_BATCH)


class BulkRetryRequest(BaseModel):
    """Which jobs to retry; every given field must match."""

    state: Literal["dead", "cancelled"] = "dead"
    name: str | None = Field(None, max_length=64, description="job type")
    created_after: UtcDatetime | None = None
    created_before: UtcDatetime | None = None
    limit: int = Field(1000, ge=1, le=MAX_BULK_RETRY)


class LogLineOut(BaseModel):
    level: str = Field(description="debug, info, warning, error or critical")
    at: str | None
    message: str


class ProgressOut(BaseModel):
    done: int | float
    total: int | float | None = Field(description="null when the processor did not say")
    message: str | None
    at: str | None = Field(description="when the processor reported it")
    attempt: int | None = Field(description="the attempt that reported it")


class AttemptOut(BaseModel):
    number: int
    worker: str | None
    started_at: str | None
    finished_at: str | None
    duration_ms: float | None
    outcome: str | None
    error_type: str | None
    error_message: str | None
    traceback: str | None
    retry_delay: float | None
    requeued: bool = False
    log: list[LogLineOut] = Field(
        default_factory=list, description="the lines the processor logged with ctx.log"
    )


class JobOut(BaseModel):
    id: str
    name: str
    state: JobState
    data: dict[str, Any]
    queue: str
    priority: int
    attempt_count: int
    max_attempts: int
    result: Any = None
    error: str | None
    idempotency_key: str | None
    created_by: str | None
    created_at: str | None
    updated_at: str | None
    run_at: str | None
    started_at: str | None
    finished_at: str | None
    progress: ProgressOut | None = Field(
        None, description="the latest progress reported by the processor (ctx.progress)"
    )
    attempts: list[AttemptOut] | None = None
    live_log: list[LogLineOut] | None = Field(
        None,
        description="the lines the attempt running now has logged so far (one job only; "
        "once it ends they are on its attempt)",
    )


class JobList(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")
    total: int | None = Field(
        description=f"matching jobs, counted up to {COUNT_CAP} on the first page only; "
        "null when counting took longer than LIST_COUNT_BUDGET_MS"
    )
    total_capped: bool = Field(description=f"true when more than {COUNT_CAP} match")


class BatchOut(BaseModel):
    jobs: list[JobOut]


class BulkRetryOut(BaseModel):
    retried: int
    ids: list[str]


async def _only_known_params(request: Request) -> None:
    unknown = sorted(set(request.query_params) - LIST_PARAMS)
    if unknown:
        raise ApiError(
            422,
            f"unknown query parameter {', '.join(map(repr, unknown))}; "
            f"use {', '.join(sorted(LIST_PARAMS))}",
            details={name: ["unknown query parameter"] for name in unknown},
        )


def _submit_options(user: Principal, request: JobRequest) -> dict[str, Any]:
    """A submission as JobService.submit_many takes it."""
    return {
        "name": request.name,
        "data": request.data,
        "created_by": user.actor,
        "delay": request.delay,
        "run_at": request.run_at,
        "priority": request.priority,
        "idempotency_key": request.idempotency_key,
        "max_attempts": request.max_attempts,
        "timeout": request.timeout,
    }


@router.post("", status_code=201, response_model=JobOut)
async def submit(
    body: JobRequest, svc: Services = Depends(services), user: Principal = Depends(operator)
) -> dict:
    options = _submit_options(user, body)
    return await run_in_threadpool(lambda: svc.jobs.submit_described(**options))


@router.post("/batch", status_code=201, response_model=BatchOut)
async def submit_batch(
    body: BatchRequest, svc: Services = Depends(services), user: Principal = Depends(operator)
) -> dict:
    """Submit many jobs at once, all or nothing: if any is refused, none is stored, and
    the 422 names each refused job by its index."""
    requests = [_submit_options(user, request) for request in body.jobs]
    jobs = await run_in_threadpool(svc.jobs.submit_many, requests)
    return {"jobs": jobs.describe()}


@router.get("", response_model=JobList, dependencies=[Depends(_only_known_params)])
async def list_jobs(
    _: Principal = Depends(current_user),
    svc: Services = Depends(services),
    state: Annotated[list[JobState], Query(description="repeat for several")] = [],  # noqa: B006
    name: Annotated[
        list[Annotated[str, Field(max_length=64)]],
        Query(description="job type; repeat for several"),
    ] = [],  # noqa: B006
    created_after: UtcDatetime | None = None,
    created_before: UtcDatetime | None = None,
    q: str | None = Query(
        None,
        max_length=200,
        description="text in the type, idempotency key, creator or error, or a job id",
    ),
    order: Literal["newest", "oldest"] = "newest",
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=64),
) -> Response:
    job_filter = JobFilter(
        states=tuple(state),
        types=tuple(name),
        created_after=_naive_utc(created_after),
        created_before=_naive_utc(created_before),
        text=q,
    )
    options = {"order": order, "limit": limit, "cursor": cursor}
    reads = _list_reads.get(loop := asyncio.get_running_loop())
    if reads is None:
        reads = _list_reads[loop] = SharedReads(MAX_LIST_QUERIES)
    try:
        body = await reads.read(
            (id(svc), job_filter, *options.items()),  # two apps on one loop share nothing
            lambda: run_in_threadpool(
                lambda: _page_body(
                    svc.jobs.page(
                        job_filter, count_budget_ms=svc.settings.list_count_budget_ms, **options
                    )
                )
            ),
        )
    except InvalidCursor as exc:
        raise ApiError(422, str(exc), details={"cursor": [str(exc)]}) from None
    return Response(body, media_type="application/json")


def _page_body(page: JobPage) -> bytes:
    """A page as JobList encodes it, once for all the callers who share its read."""
    return (
        JobList(
            jobs=[describe_job(doc, with_attempts=False) for doc in page.jobs],
            next_cursor=page.next_cursor,
            total=page.total,
            total_capped=page.total_capped,
        )
        .model_dump_json()
        .encode()
    )


@router.post("/retry", response_model=BulkRetryOut)
async def retry_matching(
    body: BulkRetryRequest, svc: Services = Depends(services), _: Principal = Depends(operator)
) -> dict:
    """Retry every `dead` (or `cancelled`) job the filter matches, up to `limit` a call
    (call again for more). Each goes through the same rule as a single retry."""
    ids = await run_in_threadpool(
        svc.jobs.retry_many,
        state=body.state,
        job_type=body.name,
        created_after=_naive_utc(body.created_after),
        created_before=_naive_utc(body.created_before),
        limit=body.limit,
    )
    return {"retried": len(ids), "ids": ids}


@router.get("/{job_id}", response_model=JobOut)
async def get_job(
    job_id: str, svc: Services = Depends(services), _: Principal = Depends(current_user)
) -> dict:
    job = await run_in_threadpool(svc.jobs.get, job_id)
    return job.describe()


@router.post("/{job_id}/retry", response_model=JobOut)
async def retry(
    job_id: str, svc: Services = Depends(services), _: Principal = Depends(operator)
) -> dict:
    job = await run_in_threadpool(svc.jobs.retry, job_id)
    return job.describe()


@router.post("/{job_id}/cancel", response_model=JobOut)
async def cancel(
    job_id: str, svc: Services = Depends(services), _: Principal = Depends(operator)
) -> dict:
    job = await run_in_threadpool(svc.jobs.cancel, job_id)
    return job.describe()


@router.delete("/{job_id}", status_code=204)
async def cancel_and_remove(
    job_id: str, svc: Services = Depends(services), _: Principal = Depends(operator)
) -> Response:
    await run_in_threadpool(svc.jobs.remove, job_id)
    return Response(status_code=204)


@router.post("/{job_id}/run-now", response_model=JobOut)
async def run_now(
    job_id: str, svc: Services = Depends(services), _: Principal = Depends(operator)
) -> dict:
    """Run a `scheduled` or `retrying` job now instead of at its time (409 for a job in
    another state, or one due within a second)."""
    job = await run_in_threadpool(svc.jobs.run_now, job_id)
    return job.describe()


class CleanRequest(BaseModel):
    """Which finished jobs to delete; every given field must match. An unknown field is
    refused: a misspelt filter must not widen a delete to every finished job."""

    model_config = ConfigDict(extra="forbid")

    state: str | None = Field(
        None,
        max_length=32,
        description="one finished state; any of them when left out",
        json_schema_extra={"enum": list(CLEANABLE)},
    )
    type: str | None = Field(None, min_length=1, max_length=64, description="job type")
    older_than_seconds: float | None = Field(
        None, ge=0, le=MAX_AGE_SECONDS, allow_inf_nan=False, description="finished this long ago"
    )
    dry_run: bool = Field(False, description="count the jobs that would go; delete nothing")


class CleanOut(BaseModel):
    dry_run: bool
    deleted: int
    would_delete: int | None = Field(description="on a dry run: how many would go")


@router.post("/clean", response_model=CleanOut)
async def clean(
    body: CleanRequest, svc: Services = Depends(services), _: Principal = Depends(operator)
) -> dict:
    """Delete finished jobs (succeeded, dead, cancelled) matching the filter, in bulk; with
    `dry_run`, only count them. The counters follow."""
    job_filter = clean_filter(body.state, body.type, body.older_than_seconds)
    count = await run_in_threadpool(
        clean_finished, job_filter, svc.jobs.stats, dry_run=body.dry_run
    )
    if body.dry_run:
        return {"dry_run": True, "deleted": 0, "would_delete": count}
    return {"dry_run": False, "deleted": count, "would_delete": None}
