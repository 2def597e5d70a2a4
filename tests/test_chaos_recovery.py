"""Chaos: a worker killed mid-job (recorded as running, or not yet), a worker killed while
its group commit is in flight, Redis restarted, Redis flushed, FerretDB restarted, while
jobs flow. In each, every submitted job reaches a final state, none is lost, and the
attempts say what happened. Each test has its own Redis and FerretDB, so it can break them;
every processor run is counted in the session's Redis, which no test breaks, so each test
also checks that no job ran more often than its attempts explain."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo.errors import AutoReconnect
from redis import Redis

from jobplatform import db
from jobplatform.config import load_settings
from jobplatform.devservices import FerretDB, RedisServer
from jobplatform.jobs.errors import QueueUnavailable
from jobplatform.jobs.models import Job
from tests import helpers
from tests.engine_harness import Engine, reload, wait_final
from tests.helpers import wait_until


@pytest.fixture
def executions(redis_uri) -> Iterator[tuple[str, Redis, str]]:
    """Where the workers count processor runs: a hash of its own on the session's Redis."""
    key = f"executions:{uuid.uuid4().hex[:8]}"
    counter = Redis.from_url(redis_uri)
    yield f"{redis_uri}#{key}", counter, key
    counter.delete(key)


@pytest.fixture
def chaos(tmp_path, mongo_uri, executions) -> Iterator[tuple[Engine, RedisServer, FerretDB]]:
    redis = RedisServer(tmp_path / "redis").start()
    ferret = FerretDB(tmp_path / "ferretdb").start()
    engine = Engine(tmp_path, redis.uri, ferret.uri + "chaos", TESTJOBS_EXECUTIONS=executions[0])
    yield engine, redis, ferret
    engine.close()
    redis.stop()
    ferret.stop()
    db.connect(load_settings(mongo_uri=mongo_uri))  # give the session's database back


def runs_per_job(executions) -> dict[str, int]:
    _, counter, key = executions
    return {k.decode(): int(v) for k, v in counter.hgetall(key).items()}


def assert_runs_explained(jobs: dict, executions, *, crashed: bool) -> None:
    attempts = {i: [(a.outcome, a.requeued) for a in job.attempts] for i, job in jobs.items()}
    helpers.assert_runs_explained(runs_per_job(executions), attempts, crashed=crashed)


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


def test_worker_killed_mid_job_its_job_runs_again_and_the_loss_is_recorded(chaos, executions):
    engine, _, _ = chaos
    first = engine.worker()
    job, started, release = hold_job(engine)
    others = touch_jobs(engine, 20)
    wait_until(
        lambda: started.exists() and started.read_text() == "1", message="attempt 1 to start"
    )
    wait_until(lambda: reload(str(job.id)).state == "running", message="attempt 1's claim")

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
    assert_runs_explained(jobs, executions, crashed=True)
    assert runs_per_job(executions)[str(job.id)] == 2


def test_worker_killed_before_recording_a_short_attempt_the_job_is_requeued(chaos, executions):
    engine, _, _ = chaos
    slow_recording = {"REQUEUE_AFTER_SECONDS": "8", "LEASE_SECONDS": "30"}  # claim after 1 s
    first = engine.worker("--queues", "tests", "--concurrency", "1", **slow_recording)
    job, started, release = hold_job(engine)
    wait_until(started.exists, message="the attempt to start")
    assert reload(str(job.id)).state == "queued"  # not yet recorded as running

    first.kill()
    started.unlink()
    release.touch()
    engine.worker("--queues", "tests", "--concurrency", "1", **slow_recording)
    jobs = wait_final([job.id])

    [attempt] = jobs[str(job.id)].attempts
    assert attempt.outcome == "succeeded" and attempt.requeued
    assert attempt.worker != f"{os.uname().nodename}:{first.process.pid}"
    assert runs_per_job(executions)[str(job.id)] == 2
    assert_runs_explained(jobs, executions, crashed=True)


def test_worker_killed_while_its_group_commit_is_in_flight(chaos, executions):
    """Four attempts end while FerretDB is stopped (SIGSTOP), so the worker's writer waits
    on its socket with their outcomes; the worker is killed then, and FerretDB goes on.
    Whether or not the outcomes it had sent reach FerretDB, no job is lost or recorded
    twice: a job whose outcome did not land is still queued with no message, and the next
    worker's reconciler sends it again."""
    engine, _, ferret = chaos
    slow_recording = {"REQUEUE_AFTER_SECONDS": "8", "LEASE_SECONDS": "30"}  # claim after 1 s
    first = engine.worker("--queues", "tests", "--concurrency", "4", **slow_recording)
    release = Path(engine.path("release"))
    held = [
        (
            engine.jobs.submit(
                "test.hold",
                {
                    "started": engine.path(f"started-{i}"),
                    "release": str(release),
                    "done": engine.path(f"done-{i}"),
                },
            ),
            Path(engine.path(f"started-{i}")),
            Path(engine.path(f"done-{i}")),
        )
        for i in range(4)
    ]
    wait_until(lambda: all(s.exists() for _, s, _ in held), message="four attempts to start")
    ferret.process.send_signal(signal.SIGSTOP)
    try:
        release.touch()
        wait_until(lambda: all(d.exists() for _, _, d in held), message="four attempts to end")
        first.kill()
    finally:
        ferret.process.send_signal(signal.SIGCONT)
    engine.worker("--queues", "tests", "--concurrency", "4", **slow_recording)
    jobs = wait_final([job.id for job, _, _ in held])

    assert_all_succeeded(jobs)
    for job in jobs.values():
        [attempt] = job.attempts
        assert attempt.outcome == "succeeded"
    assert_runs_explained(jobs, executions, crashed=True)


def test_redis_restarted_queued_jobs_are_put_back(chaos, executions):
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
    assert_runs_explained(jobs, executions, crashed=False)  # messages lost, none ran twice


def test_redis_flushed_waiting_and_retrying_jobs_are_put_back(chaos, executions):
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
    runs = runs_per_job(executions)
    assert runs[flaky] == 2 and all(runs[j] == 1 for j in jobs if j != flaky)


def test_ferretdb_restarted_while_jobs_flow(chaos, executions):
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
    assert_runs_explained(jobs, executions, crashed=True)
