"""Chaos: a worker killed mid-job, Redis restarted, Redis flushed, FerretDB restarted, while
jobs flow. In each, every submitted job reaches a final state, none is lost, and the
attempts say what happened. Each test has its own Redis and FerretDB, so it can break them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo.errors import AutoReconnect
from redis import Redis

from jobplatform import db
from jobplatform.config import load_settings
from jobplatform.devservices import FerretDB, RedisServer
from jobplatform.jobs.models import Job
from jobplatform.jobs.service import QueueUnavailable
from tests.engine_harness import Engine, wait_final
from tests.helpers import wait_until


@pytest.fixture
def chaos(tmp_path, mongo_uri) -> Iterator[tuple[Engine, RedisServer, FerretDB]]:
    redis = RedisServer(tmp_path / "redis").start()
    ferret = FerretDB(tmp_path / "ferretdb").start()
    engine = Engine(tmp_path, redis.uri, ferret.uri + "chaos")
    yield engine, redis, ferret
    engine.close()
    redis.stop()
    ferret.stop()
    db.connect(load_settings(mongo_uri=mongo_uri))  # give the session's database back


def restart(service: RedisServer | FerretDB) -> None:
    """Kill the server as a crash would, and start it again on the same port and data."""
    service.kill()
    service.start()


def hold_job(engine: Engine):
    started, release = Path(engine.path("hold.started")), Path(engine.path("hold.release"))
    job = engine.jobs.submit("test.hold", {"started": str(started), "release": str(release)})
    return job, started, release


def touch_jobs(engine: Engine, n: int, **options) -> list[str]:
    return [
        str(engine.jobs.submit("test.touch", {"path": engine.path("touched.txt")}, **options).id)
        for _ in range(n)
    ]


def assert_all_succeeded(jobs: dict) -> None:
    states = {job_id: job.state for job_id, job in jobs.items() if job.state != "succeeded"}
    assert not states, f"jobs that did not succeed: {states}"


def test_worker_killed_mid_job_its_job_runs_again_and_the_loss_is_recorded(chaos):
    engine, _, _ = chaos
    first = engine.worker()
    job, started, release = hold_job(engine)
    others = touch_jobs(engine, 20)
    wait_until(
        lambda: started.exists() and started.read_text() == "1", message="attempt 1 to start"
    )

    first.kill()
    engine.worker()
    wait_until(lambda: started.read_text() == "2", timeout=30, message="attempt 2 to start")
    release.touch()
    jobs = wait_final([job.id, *others])

    assert_all_succeeded(jobs)
    held = jobs[str(job.id)]
    lost, succeeded = held.attempts
    assert lost.outcome == "lost"
    assert lost.error_type == "LeaseExpired"
    assert lost.worker.endswith(f":{first.process.pid}")
    assert f"{lost.worker} stopped renewing" in lost.error_message
    assert succeeded.outcome == "succeeded" and succeeded.worker != lost.worker
    assert all(a.outcome in ("lost", "succeeded") for j in jobs.values() for a in j.attempts)


def test_redis_restarted_queued_jobs_are_put_back(chaos):
    engine, redis, _ = chaos
    engine.worker("--queues", "tests", "--concurrency", "1")
    job, started, release = hold_job(engine)
    wait_until(started.exists, message="the held job to start")
    queued = touch_jobs(engine, 15)
    scheduled = touch_jobs(engine, 5, delay=0.5)

    redis.kill()
    with pytest.raises(QueueUnavailable, match="nothing was stored"):
        engine.jobs.submit("test.noop", {})
    redis.start()
    later = touch_jobs(engine, 5)
    release.touch()
    jobs = wait_final([job.id, *queued, *scheduled, *later])

    assert_all_succeeded(jobs)
    assert all(len(j.attempts) == 1 for j in jobs.values())
    assert Path(engine.path("touched.txt")).read_text().count("\n") == 25


def test_redis_flushed_waiting_and_retrying_jobs_are_put_back(chaos):
    engine, redis, _ = chaos
    engine.worker("--queues", "tests", "--concurrency", "1")
    job, started, release = hold_job(engine)
    wait_until(started.exists, message="the held job to start")
    queued = touch_jobs(engine, 15)
    scheduled = touch_jobs(engine, 5, delay=0.5)

    Redis.from_url(redis.uri).flushall()
    release.touch()
    flaky = str(engine.jobs.submit("test.flaky", {"fail_times": 1}).id)
    wait_until(
        lambda: (
            Redis.from_url(redis.uri).zcard("huey.schedule.jobplatform.tests")
            or engine.jobs.get(flaky).state == "succeeded"
        ),
        message="the retry's schedule",
    )
    Redis.from_url(redis.uri).flushall()  # the flaky job's retry is on the schedule, or done
    jobs = wait_final([job.id, *queued, *scheduled, flaky])

    assert_all_succeeded(jobs)
    assert [a.outcome for a in jobs[flaky].attempts] == ["failed", "succeeded"]
    assert Path(engine.path("touched.txt")).read_text().count("\n") == 20


def test_ferretdb_restarted_while_jobs_flow(chaos):
    engine, _, ferret = chaos
    engine.worker("--queues", "tests", "--concurrency", "2")
    job, started, release = hold_job(engine)
    before = touch_jobs(engine, 20)
    wait_until(started.exists, message="the held job to start")

    restart(ferret)
    release.touch()
    accepted, refused = [], []
    for _ in range(20):  # a submission on a connection the restart cut is refused, not lost
        try:
            accepted += touch_jobs(engine, 1)
        except AutoReconnect as exc:
            refused.append(exc)
    stored = [str(row["_id"]) for row in Job.objects.only("id").as_pymongo()]
    jobs = wait_final(stored)

    assert len(refused) < 20
    assert {str(job.id), *before, *accepted} <= set(jobs)
    assert_all_succeeded(jobs)
    for done in jobs.values():
        *earlier, last = done.attempts
        assert last.outcome == "succeeded"
        assert all(a.outcome == "lost" and a.error_type == "LeaseExpired" for a in earlier)
