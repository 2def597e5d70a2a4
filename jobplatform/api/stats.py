"""GET /api/stats (counts, the attempts over a range, queue lengths, workers) and
GET /api/workers."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from jobplatform import overview
from jobplatform.api.deps import Principal, current_user, services
from jobplatform.jobs.attempt_series import DEFAULT_RANGE, RANGES
from jobplatform.services import Services

router = APIRouter(prefix="/api", tags=["stats"])


@router.get("/stats")
async def stats(
    range_name: str = Query(
        DEFAULT_RANGE,
        alias="range",
        description=f"the attempts' range: {', '.join(RANGES)} (per minute, quarter hour, hour)",
    ),
    svc: Services = Depends(services),
    _: Principal = Depends(current_user),
) -> dict:
    """Jobs by state and type, the last hour minute by minute with its failure rate, the
    attempts over `range` (`attempts`: buckets, totals, failure rate), queue lengths and
    live workers. Counts come from counters kept on each transition."""
    return await run_in_threadpool(overview.figures, svc, range_name)  # UnknownRange: 422


@router.get("/workers")
async def workers(svc: Services = Depends(services), _: Principal = Depends(current_user)) -> dict:
    """Live workers: id, host, pid, queues, concurrency, running jobs, last heartbeat."""
    rows = await run_in_threadpool(overview.workers_online, svc)
    return {
        "workers": [
            {**row, "started_at": _iso(row.get("started_at")), "seen_at": _iso(row.get("seen_at"))}
            for row in rows
        ]
    }


def _iso(value) -> str | None:
    return value.isoformat(timespec="milliseconds") + "Z" if value else None
