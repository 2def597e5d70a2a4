"""The `bench.noop` job type for bench/throughput.py: does nothing, on the queue `bench`.

Workers load it with `EXTRA_PLUGINS=bench.noop_plugin` (run from the project root).
"""

from __future__ import annotations

from jobplatform.plugins.hookspecs import hookimpl
from jobplatform.plugins.jobtype import JobType


def noop(ctx) -> None:
    return None


@hookimpl
def register_job_types(settings: dict) -> list[JobType]:
    return [JobType(name="bench.noop", processor=noop, schema={}, queue="bench")]
