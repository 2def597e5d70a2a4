"""GET /health: whether Redis (the queue), MongoDB and the plugins are usable; no auth."""

from __future__ import annotations

import os
import time

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from mongoengine.connection import get_db
from starlette.concurrency import run_in_threadpool

from jobplatform.api.deps import services
from jobplatform.services import Services

router = APIRouter(tags=["health"])
STARTED = time.monotonic()


def resident_memory_mb() -> float:
    """This process's resident memory now (Linux), in MiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def _check(probe) -> dict:
    start = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # noqa: BLE001 - any failure means the dependency is down
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}"}
    return {"status": "up", "latency_ms": round((time.perf_counter() - start) * 1000, 2)}


def _checks(svc: Services) -> dict:
    failed = [p.name for p in svc.host.plugins.values() if p.status == "failed"]
    return {
        "queue": _check(svc.queue.ping),
        "mongodb": _check(lambda: get_db().command("ping")),
        "plugins": {"status": "degraded" if failed else "up", "failed": failed},
    }


@router.get("/health")
async def health(svc: Services = Depends(services)) -> JSONResponse:
    checks = await run_in_threadpool(_checks, svc)
    down = [name for name, c in checks.items() if c["status"] == "down"]
    body = {
        "status": "down" if down else "ok",
        "checks": checks,
        "uptime_seconds": round(time.monotonic() - STARTED, 1),
        "memory_rss_mb": resident_memory_mb(),
    }
    return JSONResponse(body, status_code=503 if down else 200)
