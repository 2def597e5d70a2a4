"""Job types for the engine's tests and the benchmark, loaded by workers started with
`EXTRA_PLUGINS=tests.plugins.testjobs`. They all run on the queue `tests`, which the
session's ordinary worker does not serve.

- `test.noop`: returns at once.
- `test.flaky`: fails with a RuntimeError while its attempt number is at most `fail_times`.
- `test.permanent`: raises PermanentError: the job dies at once.
- `test.hold`: creates the file `started` names (with the attempt number), then waits until
  the file `release` names exists, or until it is cancelled; so a test decides when it ends.
- `test.step`: a workflow step: returns its `tag` and the `ctx.parent_results` it saw;
  fails while its attempt number is at most `fail_times`.
- `test.touch`: appends a line to the file `path` names: proof that the job ran.
- `test.report`: logs `lines` lines with ctx.log (`line_chars` characters of padding
  each), then one line of `long_line` characters if given, and reports progress `done` of
  `total`; if `release` names a Redis key, waits until that key exists in the worker's
  Redis (REDIS_URI) or the job is cancelled, calling ctx.progress in a tight loop meanwhile
  if `spin` (it returns how many calls); fails while its attempt number is at most
  `fail_times`; otherwise reports `total` of `total` and returns.

Every processor run also adds one to the job's count in the Redis hash that
TESTJOBS_EXECUTIONS names (`redis://host:port/db#hash`; the chaos tests point it at a Redis
they do not break), so a test knows how often each job really ran.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from redis import Redis

from jobplatform.plugins.context import JobContext, PermanentError
from jobplatform.plugins.hookspecs import hookimpl
from jobplatform.plugins.jobtype import JobType, RetryPolicy

QUEUE = "tests"
FAST_RETRIES = RetryPolicy(
    max_attempts=4, initial_delay=0.5, backoff_factor=2.0, max_delay=1.5, jitter=0.2
)


def count_execution(ctx: JobContext) -> None:
    where = os.environ.get("TESTJOBS_EXECUTIONS")
    if where:
        uri, key = where.rsplit("#", 1)
        Redis.from_url(uri).hincrby(key, ctx.job_id)


def counted(processor):
    def run(ctx: JobContext):
        count_execution(ctx)
        return processor(ctx)

    run.__name__ = processor.__name__
    return run


def noop(ctx: JobContext) -> dict:
    return {"attempt": ctx.attempt}


def flaky(ctx: JobContext) -> dict:
    if ctx.attempt <= ctx.data["fail_times"]:
        raise RuntimeError(f"failing on purpose, attempt {ctx.attempt}")
    return {"succeeded_on": ctx.attempt}


def permanent(ctx: JobContext) -> None:
    raise PermanentError("this input can never work")


def hold(ctx: JobContext) -> dict:
    Path(ctx.data["started"]).write_text(str(ctx.attempt))
    release = Path(ctx.data["release"])
    while not release.exists() and not ctx.cancelled:
        time.sleep(0.02)  # a job's own work: polling for the test's signal
    if ctx.data.get("done"):
        Path(ctx.data["done"]).touch()
    return {"released": release.exists()}


def report(ctx: JobContext) -> dict:
    data = ctx.data
    for n in range(data.get("lines", 0)):
        ctx.log.info("attempt %d line %d %s", ctx.attempt, n, "x" * data.get("line_chars", 0))
    if data.get("long_line"):
        ctx.log.warning("y" * data["long_line"])
    ctx.progress(data.get("done", 0), data.get("total"), f"attempt {ctx.attempt} under way")
    redis = Redis.from_url(os.environ["REDIS_URI"]) if data.get("release") else None
    calls = 0
    while redis is not None and not redis.exists(data["release"]) and not ctx.cancelled:
        if data.get("spin"):
            for _ in range(1000):
                calls += 1
                ctx.progress(calls, message="spinning")
        else:
            time.sleep(0.02)  # a job's own work: polling for the test's signal
    if data.get("spin"):
        return {"calls": calls}
    if ctx.attempt <= data.get("fail_times", 0):
        ctx.log.error("attempt %d fails on purpose", ctx.attempt)
        raise RuntimeError(f"failing on purpose, attempt {ctx.attempt}")
    total = data.get("total") or 0
    ctx.progress(total, total, "finished")
    ctx.log.info("attempt %d finished", ctx.attempt)
    return {"attempt": ctx.attempt}


def step(ctx: JobContext) -> dict:
    if ctx.attempt <= ctx.data.get("fail_times", 0):
        raise RuntimeError(f"step {ctx.data.get('tag')} fails on purpose, attempt {ctx.attempt}")
    return {"tag": ctx.data.get("tag"), "parents": ctx.parent_results}


def touch(ctx: JobContext) -> dict:
    with open(ctx.data["path"], "a") as out:
        out.write(f"{ctx.job_id} {ctx.attempt}\n")
    return {"touched": ctx.data["path"]}


@hookimpl
def register_job_types(settings: dict) -> list[JobType]:
    path = {"type": "string", "required": True}
    return [
        JobType(name="test.noop", processor=counted(noop), schema={}, queue=QUEUE),
        JobType(
            name="test.flaky",
            processor=counted(flaky),
            queue=QUEUE,
            retry=FAST_RETRIES,
            schema={"fail_times": {"type": "integer", "min": 0, "required": True}},
        ),
        JobType(
            name="test.permanent", processor=permanent, schema={}, queue=QUEUE, retry=FAST_RETRIES
        ),
        JobType(
            name="test.hold",
            processor=counted(hold),
            queue=QUEUE,
            retry=FAST_RETRIES,
            schema={"started": path, "release": path, "done": {"type": "string"}},
        ),
        JobType(
            name="test.step",
            processor=counted(step),
            queue=QUEUE,
            retry=FAST_RETRIES,
            schema={"tag": {"type": "string"}, "fail_times": {"type": "integer", "min": 0}},
        ),
        JobType(name="test.touch", processor=counted(touch), queue=QUEUE, schema={"path": path}),
        JobType(
            name="test.report",
            processor=counted(report),
            queue=QUEUE,
            retry=FAST_RETRIES,
            schema={
                "lines": {"type": "integer", "min": 0},
                "line_chars": {"type": "integer", "min": 0},
                "long_line": {"type": "integer", "min": 0},
                "done": {"type": "number"},
                "total": {"type": "number"},
                "release": {"type": "string"},
                "spin": {"type": "boolean"},
                "fail_times": {"type": "integer", "min": 0},
            },
        ),
    ]
