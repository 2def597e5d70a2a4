"""Health probes, no auth: `/health` says the process is alive, `/health/ready` whether the
platform can do its work (the queue's Redis, MongoDB, the plugins, at least one live
worker), each part with status and latency. Not ready answers 503 naming the parts down.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from mongoengine.connection import get_db
from starlette.concurrency import run_in_threadpool

from jobplatform.api.deps import services
from jobplatform.jobs.heartbeat import live_workers
from jobplatform.services import Services

router = APIRouter(tags=["health"])
STARTED = time.monotonic()
CHECK_TIMEOUT = 3.0  # seconds a part may take to answer before it counts as down


def resident_memory_mb() -> float:
    """This process's resident memory now (Linux), in MiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def _process() -> dict[str, Any]:
    return {
        "uptime_seconds": round(time.monotonic() - STARTED, 1),
        "memory_rss_mb": resident_memory_mb(),
        "pid": os.getpid(),
    }


async def _timed(probe: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    """Run a blocking probe with a deadline: up with its latency and the details it returns,
    or down with the reason."""
    start = time.perf_counter()
    try:
        details = await asyncio.wait_for(run_in_threadpool(probe), CHECK_TIMEOUT)
    except TimeoutError:
        return {"status": "down", "error": f"no answer within {CHECK_TIMEOUT:g}s"}
    except Exception as exc:  # noqa: BLE001 - any failure means the part is down
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}"}
    latency = round((time.perf_counter() - start) * 1000, 2)
    return {"status": "up", "latency_ms": latency, **(details or {})}


class NoLiveWorker(Exception):
    pass


def _ping_redis(uri: str) -> None:
    client = redis.Redis.from_url(
        uri, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT
    )
    try:
        client.ping()
    finally:
        client.close()


def _ping_mongodb() -> None:
    get_db().command("ping")


def _workers(heartbeat_seconds: float) -> dict[str, Any]:
    workers = live_workers(heartbeat_seconds)
    if not workers:
        raise NoLiveWorker(
            f"no worker reported in the last {3 * heartbeat_seconds:g}s, so "
            "queued jobs do not run; start one with `jobplatform worker`"
        )
    return {"count": len(workers), "ids": [w["id"] for w in workers]}


def _plugins(svc: Services) -> dict[str, Any]:
    """Down when no job type loaded; a failed plugin only degrades (the others still work)."""
    failed = {p.name: p.error for p in svc.host.plugins.values() if p.status == "failed"}
    status = "down" if not svc.host.job_types else "degraded" if failed else "up"
    return {"status": status, "job_types": sorted(svc.host.job_types), "failed": failed}


@router.get("/health")
async def liveness() -> dict[str, Any]:
    return {"status": "ok", **_process()}


@router.get("/health/ready")
async def readiness(svc: Annotated[Services, Depends(services)]) -> JSONResponse:
    uri = svc.settings.redis_uri
    queue_name, queue_probe = (
        ("redis", lambda: _ping_redis(uri)) if uri else ("queue_file", svc.queue.ping)
    )
    names = [queue_name, "mongodb", "workers"]
    results = await asyncio.gather(
        _timed(queue_probe),
        _timed(_ping_mongodb),
        _timed(lambda: _workers(svc.settings.heartbeat_seconds)),
    )
    checks = dict(zip(names, results, strict=True))
    checks["plugins"] = _plugins(svc)
    down = [name for name, check in checks.items() if check["status"] == "down"]
    body = {"status": "unready" if down else "ready", "down": down, "checks": checks, **_process()}
    return JSONResponse(body, status_code=503 if down else 200)
