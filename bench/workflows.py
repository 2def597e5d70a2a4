"""The cost of a workflow: a fan-out/fan-in of 1,000 no-op steps, against 1,000 independent
no-op jobs (and plain Huey) in the same run.

1. Workflow: one root step, 998 steps after it, one fan-in step after all 998, all of the
   `bench.noop` type, submitted with `submit_workflow` (one insert for the steps). Timed
   from submission until the workflow is `succeeded` (the workers' metrics count the 1,000
   steps, then the workflow's state is read); the fan-in's attempts show whether it
   started exactly once. The MongoDB commands every process sent (the workers'
   `jobplatform_mongodb_commands_total` and this process's own, without the benchmark's
   checks) are printed per step.
2. Independent jobs: the same number of no-op jobs through `JobService.submit_many`
   (bench/throughput.py's `platform_run`): jobs/s end to end and commands per job.
3. Plain Huey: the same number of no-op tasks (bench/throughput.py's `plain_huey_run`).

Starts a private Redis and FerretDB and W worker processes (`jobplatform worker --queues
bench --concurrency C`) with bench/throughput.py's helpers. Prints figures; asserts nothing.

    .venv/bin/python bench/workflows.py [--steps 1000] [--workers 2] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.throughput import (  # noqa: E402
    JOB_TYPE,
    WRITES,
    plain_huey_run,
    platform_run,
    spawn,
    wait_for,
    worker_counts,
)
from jobplatform import db  # noqa: E402
from jobplatform.config import load_settings  # noqa: E402
from jobplatform.devservices import FerretDB, RedisServer, free_port  # noqa: E402
from jobplatform.jobs.models import Job  # noqa: E402
from jobplatform.jobs.queue import JobQueue  # noqa: E402
from jobplatform.jobs.service import JobService  # noqa: E402
from jobplatform.jobs.workflow_models import SUCCEEDED, Workflow  # noqa: E402
from jobplatform.jobs.workflows import submit_workflow  # noqa: E402
from jobplatform.services import load_host  # noqa: E402


def fan_out_fan_in(n: int) -> list[dict]:
    """One root, n - 2 steps after it, one fan-in after all of those."""
    middle = [f"s{i}" for i in range(n - 2)]
    return [
        {"key": "root", "name": JOB_TYPE, "data": {}},
        *({"key": key, "name": JOB_TYPE, "data": {}, "after": ["root"]} for key in middle),
        {"key": "fan-in", "name": JOB_TYPE, "data": {}, "after": middle},
    ]


def commands_since(before: dict, mine: dict, ports: list[int], own: dict) -> dict[str, float]:
    """Commands the workers sent since `before`, plus this process's `own` since `mine`."""
    _, after = worker_counts(ports)
    return {
        k: after.get(k, 0) - before.get(k, 0) + own.get(k, 0) - mine.get(k, 0)
        for k in set(after) | set(own)
    }


def workflow_run(jobs: JobService, n: int, ports: list[int]) -> tuple[float, float, dict, Job]:
    """Submit the fan-out/fan-in; return (submit seconds, seconds to succeeded, commands
    sent by every process, the fan-in step's job)."""
    before_done, before = worker_counts(ports)
    mine = db.COMMANDS.counts()
    start = time.perf_counter()
    workflow = submit_workflow(jobs, "bench fan-out/fan-in", fan_out_fan_in(n))
    submitted = time.perf_counter()
    wait_for(lambda: worker_counts(ports)[0] - before_done >= n, 3600, f"{n} steps", every=0.05)
    own = db.COMMANDS.counts()  # before the checks below, which are the benchmark's own
    done = wait_for(
        lambda: Workflow.objects(id=workflow.id, state=SUCCEEDED).count(),
        600,
        "the workflow to succeed",
        every=0.01,
    )
    sent = commands_since(before, mine, ports, own)
    fan_in = Job.objects(workflow_id=workflow.id, step_key="fan-in").first()
    return submitted - start, done - start, sent, fan_in


def per(sent: dict[str, float], n: int) -> str:
    writes = sum(v for k, v in sent.items() if k in WRITES)
    listed = ", ".join(f"{k} {v / n:.3f}" for k, v in sorted(sent.items()) if v)
    return f"{sum(sent.values()) / n:.3f}, of them writes {writes / n:.3f} ({listed})"


def start_workers(env: dict, tmp: Path, ports: list[int], concurrency: int) -> list:
    command = [sys.executable, "-m", "jobplatform", "worker", "--queues", "bench"]
    return [
        spawn(
            [*command, "--concurrency", str(concurrency)],
            {**env, "WORKER_METRICS_PORT": str(port)},
            tmp / f"worker-{i}.log",
            "ready",
        )
        for i, port in enumerate(ports)
    ]


def report(jobs: JobService, args, ports: list[int], env: dict, tmp: Path) -> None:
    n = args.steps
    submit_s, workflow_s, sent, fan_in = workflow_run(jobs, n, ports)
    print(
        f"workflow: {n} steps (1 root, {n - 2} parallel, 1 fan-in), {args.workers} workers x "
        f"{args.concurrency} threads: succeeded {workflow_s:.2f} s after submission "
        f"({n / workflow_s:.0f} steps/s; submitting took {submit_s:.2f} s)",
        flush=True,
    )
    print(
        f"fan-in started {fan_in.attempt_count} time(s) ({len(fan_in.attempts)} attempt "
        f"recorded), state {fan_in.state}",
        flush=True,
    )
    print(f"MongoDB commands per step: {per(sent, n)}", flush=True)
    submit_s, _, jobs_s, sent = platform_run(jobs, n, ports)
    jobs_rate = n / jobs_s
    print(
        f"independent: {n} no-op jobs through submit_many: {jobs_rate:.0f} jobs/s end to end "
        f"({jobs_s:.2f} s; submitting {submit_s:.2f} s)",
        flush=True,
    )
    print(f"MongoDB commands per job: {per(sent, n)}", flush=True)
    huey_s = plain_huey_run(args.redis_uri, env, tmp, n, args.workers, args.concurrency)
    print(
        f"plain Huey ({args.workers} x huey_consumer -k thread -w {args.concurrency}): "
        f"{n / huey_s:.0f} tasks/s; workflow steps / Huey = {(n / workflow_s) / (n / huey_s):.2f}"
        f", independent jobs / Huey = {jobs_rate / (n / huey_s):.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="jp-bench-workflows-"))
    started = [RedisServer(tmp / "redis").start(), FerretDB(tmp / "ferretdb").start()]
    args.redis_uri, mongo_uri = started[0].uri, started[1].uri + "bench"
    settings = load_settings(
        mongo_uri=mongo_uri,
        redis_uri=args.redis_uri,
        data_dir=tmp / "data",
        plugins_file=ROOT / "plugins.toml",
        extra_plugins="bench.noop_plugin",
        app_env="test",
    )
    db.connect(settings)
    jobs = JobService(load_host(settings), JobQueue(settings))
    env = {
        **os.environ,
        "APP_ENV": "test",
        "MONGO_URI": mongo_uri,
        "REDIS_URI": args.redis_uri,
        "DATA_DIR": str(tmp / "data"),
        "PLUGINS_FILE": str(ROOT / "plugins.toml"),
        "EXTRA_PLUGINS": "bench.noop_plugin",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
    }
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()}", flush=True)
    ports = [free_port() for _ in range(args.workers)]
    workers = start_workers(env, tmp, ports, args.concurrency)
    try:
        report(jobs, args, ports, env, tmp)
        print(f"load average after: {os.getloadavg()}")
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(60)
        for service in started:
            service.stop()


if __name__ == "__main__":
    main()
