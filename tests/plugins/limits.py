"""Job types with rate and concurrency limits, for tests/test_engine_limits.py and
tests/test_job_limits.py, on a queue of their own (`limits`) that no other test's worker
serves. Each run records its start and its end (time.time(), the worker's pid, the job
and its attempt) as a JSON line in the Redis list LIMITS_TIMES names
(`redis://host:port/db#key`), so a test can check the limits from what really ran.

- `limits_rate`: at most 5 starts in any second; returns at once.
- `limits_pair`: at most 2 running at once.
- `limits_single`: at most 1 running at once.
- `limits_both`: at most 4 starts in any second and 2 running at once.

Each runs for `seconds` (default 0) or until it is cancelled; or, if `release` names a
Redis key, until that key exists in LIMITS_TIMES's Redis, cancelled or not (as a stuck
job would).
"""

from __future__ import annotations

import json
import os
import time

from redis import Redis

from jobplatform.plugins.context import JobContext
from jobplatform.plugins.hookspecs import hookimpl
from jobplatform.plugins.jobtype import JobType

QUEUE = "limits"
SCHEMA = {
    "seconds": {"type": "number", "min": 0, "max": 60},
    "release": {"type": "string"},
}


def _recorder() -> tuple[Redis, str]:
    uri, key = os.environ["LIMITS_TIMES"].rsplit("#", 1)
    return Redis.from_url(uri), key


def _record(redis: Redis, key: str, ctx: JobContext, event: str) -> None:
    line = {"job": ctx.job_id, "attempt": ctx.attempt, "event": event, "pid": os.getpid()}
    redis.rpush(key, json.dumps({**line, "at": time.time()}))


def timed(ctx: JobContext) -> dict:
    redis, key = _recorder()
    _record(redis, key, ctx, "start")
    release = ctx.data.get("release")
    deadline = time.monotonic() + ctx.data.get("seconds", 0)

    def working() -> bool:
        if release:
            return not redis.exists(release)
        return time.monotonic() < deadline and not ctx.cancelled

    while working():
        time.sleep(0.01)  # the job's own work: running for a while, or until released
    _record(redis, key, ctx, "end")
    return {"attempt": ctx.attempt}


@hookimpl
def register_job_types(settings: dict) -> list[JobType]:
    def limited(name: str, **limits) -> JobType:
        return JobType(name=name, processor=timed, schema=SCHEMA, queue=QUEUE, **limits)

    return [
        limited("limits_rate", rate_limit="5/s"),
        limited("limits_pair", concurrency_limit=2),
        limited("limits_single", concurrency_limit=1),
        limited("limits_both", rate_limit="4/s", concurrency_limit=2),
    ]
