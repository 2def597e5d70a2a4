"""The job engine under test: an in-process JobService plus real worker subprocesses.

The engine's tests submit through the service (in this process) and watch the jobs in
MongoDB, while `python -m jobplatform worker` subprocesses run them with the test job
types of tests/plugins/testjobs.py and short lease, reconcile and heartbeat intervals, so
that crash recovery happens within a second or two.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from jobplatform import db
from jobplatform.config import Settings, load_settings
from jobplatform.jobs.models import FINAL, Job
from jobplatform.jobs.queue import JobQueue
from jobplatform.jobs.service import JobService
from jobplatform.services import load_host
from tests.conftest import WORKER_READY, spawn, stop
from tests.helpers import ROOT, wait_until

QUICK = {
    "LEASE_SECONDS": "3",
    "RECONCILE_SECONDS": "0.3",
    "REQUEUE_AFTER_SECONDS": "1",
    "HEARTBEAT_SECONDS": "0.5",
}


class WorkerProcess:
    """A real `jobplatform worker` subprocess and its log."""

    def __init__(self, env: dict[str, str], log: Path, args: list[str]):
        self.log = log
        self.process = spawn(["worker", *args], env, log)
        self.wait_for(WORKER_READY, timeout=60)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 30) -> None:
        wait_until(
            lambda: text in self.output() or self.process.poll() is not None,
            timeout=timeout,
            message=f"worker log line {text!r}",
        )
        assert text in self.output(), f"worker exited before {text!r}:\n{self.output()}"

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        stop(self.process)


class Engine:
    """Settings, services and workers pointed at one Redis and one MongoDB database."""

    def __init__(self, tmp: Path, redis_uri: str, mongo_uri: str, **env: str):
        self.tmp = tmp
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "TEST_"))}
        self.env.update(
            APP_ENV="test",
            MONGO_URI=mongo_uri,
            REDIS_URI=redis_uri,
            DATA_DIR=str(tmp / "data"),
            PLUGINS_FILE=str(ROOT / "plugins.toml"),
            EXTRA_PLUGINS="tests.plugins.testjobs",
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="INFO",
            **QUICK,
            **env,
        )
        self.settings: Settings = load_settings(
            mongo_uri=mongo_uri,
            redis_uri=redis_uri,
            data_dir=tmp / "data",
            plugins_file=ROOT / "plugins.toml",
            extra_plugins="tests.plugins.testjobs",
            app_env="test",
        )
        db.connect(self.settings)
        self.queue = JobQueue(self.settings)
        self.jobs = JobService(load_host(self.settings), self.queue)
        self.workers: list[WorkerProcess] = []
        self.started = 0  # workers ever started: each gets a log of its own

    def worker(self, *args: str, **env: str) -> WorkerProcess:
        """Start a worker serving the test queue (or as `args` say) and wait until ready."""
        log = self.tmp / f"worker-{self.started}.log"  # never a stopped worker's ready line
        self.started += 1
        process = WorkerProcess({**self.env, **env}, log, list(args) or ["--queues", "tests"])
        self.workers.append(process)
        return process

    def stop_workers(self) -> None:
        for process in self.workers:
            process.stop()
        self.workers.clear()

    def close(self) -> None:
        self.stop_workers()
        self.jobs.stats.close()

    def path(self, name: str) -> str:
        return str(self.tmp / name)


@contextmanager
def private_engine(
    name: str, tmp: Path, redis_uri: str, mongo_server: str, session_mongo_uri: str, **env: str
) -> Iterator[Engine]:
    """An engine with a database of its own on the session's MongoDB server, and the Redis
    database `redis_uri` (one of `private_redis`'s), so that no other process's reconciler
    acts on its jobs. Gives the session's database back to this process's MongoEngine
    connection afterwards."""
    engine = Engine(
        tmp,
        redis_uri,
        f"{mongo_server}engine_{name}_{uuid.uuid4().hex[:8]}",
        **env,
    )
    try:
        yield engine
    finally:
        engine.close()
        db.connect(load_settings(mongo_uri=session_mongo_uri))


def wait_final(job_ids: Iterable[str], timeout: float = 60) -> dict[str, Job]:
    """Wait until every job is succeeded, dead or cancelled; return them by id."""
    ids = [str(i) for i in job_ids]

    def final() -> dict[str, Job] | None:
        jobs = {str(j.id): j for j in Job.objects(id__in=ids)}
        assert len(jobs) == len(ids), f"jobs lost from MongoDB: {set(ids) - set(jobs)}"
        unfinished = [j for j in jobs.values() if j.state not in FINAL]
        return None if unfinished else jobs

    return wait_until(
        final, timeout=timeout, interval=0.1, message=f"{len(ids)} jobs to reach a final state"
    )


def reload(job_id: str) -> Job:
    return Job.objects.get(id=job_id)
