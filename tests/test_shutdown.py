"""Graceful shutdown: on SIGTERM a worker takes no new jobs, lets the running one finish
within the grace period and exits; a job that outlives the grace period is put back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine_harness import Engine, private_engine, reload, wait_final
from tests.helpers import wait_until


@pytest.fixture(scope="module")
def shared_engine(private_redis, mongo_server, mongo_uri, tmp_path_factory):
    with private_engine(
        "shutdown", tmp_path_factory.mktemp("shutdown"), private_redis(), mongo_server, mongo_uri
    ) as engine:
        yield engine


@pytest.fixture
def engine(shared_engine):
    """The module's engine; the workers a test starts stop when it ends."""
    yield shared_engine
    shared_engine.stop_workers()


def hold(engine: Engine, name: str):
    started, release = Path(engine.path(f"{name}.started")), Path(engine.path(f"{name}.release"))
    job = engine.jobs.submit("test.hold", {"started": str(started), "release": str(release)})
    wait_until(started.exists, message=f"{name} to start")
    return job, release


def test_sigterm_lets_the_running_job_finish_and_takes_no_new_one(engine):
    worker = engine.worker("--queues", "tests", "--concurrency", "1", "--grace", "30")
    job, release = hold(engine, "finishing")

    worker.terminate()
    worker.wait_for("stopping")
    waiting = engine.jobs.submit("test.touch", {"path": engine.path("never.txt")})
    release.touch()
    assert worker.process.wait(30) == 0

    done = reload(str(job.id))
    assert done.state == "succeeded"
    [attempt] = done.attempts
    assert attempt.worker.endswith(f":{worker.process.pid}")  # recorded by the exiting worker
    assert "stopped" in worker.output().split("stopping", 1)[1]
    untouched = reload(str(waiting.id))
    assert untouched.state == "queued" and untouched.attempts == []
    assert str(waiting.id) in engine.queue.job_ids("tests")
    assert not Path(engine.path("never.txt")).exists()

    engine.worker("--queues", "tests")  # the next worker runs what was left waiting
    assert wait_final([waiting.id])[str(waiting.id)].state == "succeeded"


def test_a_job_outliving_the_grace_period_is_put_back_on_record(engine):
    worker = engine.worker("--queues", "tests", "--concurrency", "1", "--grace", "0.5")
    job, release = hold(engine, "outliving")

    worker.terminate()
    assert worker.process.wait(30) == 0

    put_back = reload(str(job.id))
    assert put_back.state == "queued"
    [interrupted] = put_back.attempts
    assert interrupted.outcome == "interrupted"
    assert "0.5s grace period" in interrupted.error_message
    assert put_back.max_attempts == 4 + 1  # the interrupted attempt does not count

    release.touch()
    engine.worker("--queues", "tests")
    done = wait_final([job.id])[str(job.id)]
    assert done.state == "succeeded"
    assert [a.outcome for a in done.attempts] == ["interrupted", "succeeded"]
