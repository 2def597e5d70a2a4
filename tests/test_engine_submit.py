"""Submission and control: idempotency keys, cancelling waiting and running jobs, per-job
timeouts, the counters behind the stats and the workers' heartbeats. Real Redis, FerretDB
and one worker subprocess with a single thread, so a held job keeps the others waiting."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from jobplatform.jobs.errors import InvalidTransition
from jobplatform.jobs.heartbeat import live_workers
from jobplatform.jobs.models import Job
from jobplatform.jobs.stats import read_stats
from tests.engine_harness import Engine, private_engine, reload, wait_final
from tests.helpers import wait_until


@pytest.fixture(scope="module")
def engine(private_redis, mongo_server, mongo_uri, tmp_path_factory):
    with private_engine(
        "submit", tmp_path_factory.mktemp("submit"), private_redis(), mongo_server, mongo_uri
    ) as engine:
        engine.worker("--queues", "tests", "--concurrency", "1")
        yield engine


def hold(engine: Engine, name: str) -> tuple[Job, Path, Path]:
    """Submit a job that runs until its release file exists; wait until it has started."""
    started, release = Path(engine.path(f"{name}.started")), Path(engine.path(f"{name}.release"))
    job = engine.jobs.submit("test.hold", {"started": str(started), "release": str(release)})
    wait_until(started.exists, message=f"{name} to start")
    return job, started, release


def test_same_idempotency_key_returns_the_first_job_even_when_racing(engine):
    key = "order-4711-confirmation"
    touched = engine.path("idempotent.txt")
    with ThreadPoolExecutor(8) as pool:
        jobs = list(
            pool.map(
                lambda _: engine.jobs.submit("test.touch", {"path": touched}, idempotency_key=key),
                range(8),
            )
        )

    assert len({str(j.id) for j in jobs}) == 1
    assert Job.objects(idempotency_key=key).count() == 1
    wait_final([jobs[0].id])
    assert Path(touched).read_text().count("\n") == 1

    again = engine.jobs.submit("test.touch", {"path": touched}, idempotency_key=key)
    assert again.id == jobs[0].id
    with pytest.raises(InvalidTransition, match="already used by job"):
        engine.jobs.submit("test.noop", {}, idempotency_key=key)


def test_cancelled_queued_and_scheduled_jobs_never_run(engine):
    blocker, _, release = hold(engine, "blocker")
    queued = engine.jobs.submit("test.touch", {"path": engine.path("queued-ran.txt")})
    scheduled = engine.jobs.submit(
        "test.touch", {"path": engine.path("scheduled-ran.txt")}, delay=0.5
    )
    assert (queued.state, scheduled.state) == ("queued", "scheduled")

    assert engine.jobs.cancel(str(queued.id)).state == "cancelled"
    assert engine.jobs.cancel(str(scheduled.id)).state == "cancelled"
    release.touch()
    # a later job on the same queue, due after both: once it ran, their turn has passed
    sentinel = engine.jobs.submit("test.touch", {"path": engine.path("sentinel.txt")}, delay=1)
    wait_final([blocker.id, sentinel.id])

    for job, ran in ((queued, "queued-ran.txt"), (scheduled, "scheduled-ran.txt")):
        after = reload(str(job.id))
        assert after.state == "cancelled"
        assert after.attempts == []
        assert not Path(engine.path(ran)).exists()
    with pytest.raises(InvalidTransition, match="already cancelled"):
        engine.jobs.cancel(str(queued.id))


def test_cancelling_a_running_job_stops_it_and_records_cancelled(engine):
    job, _, _ = hold(engine, "long")
    wait_until(lambda: reload(str(job.id)).state == "running", message="the attempt's claim")

    asked = engine.jobs.cancel(str(job.id))
    assert asked.state == "running" and asked.cancel_requested

    done = wait_final([job.id])[str(job.id)]
    assert done.state == "cancelled"
    assert [a.outcome for a in done.attempts] == ["cancelled"]
    assert done.result is None


def test_an_attempt_past_its_timeout_fails_as_timeout(engine):
    started = engine.path("slow.started")
    job = engine.jobs.submit(
        "test.hold",
        {"started": started, "release": engine.path("never")},
        timeout=0.5,
        max_attempts=1,
    )

    done = wait_final([job.id])[str(job.id)]

    assert done.state == "dead"
    [attempt] = done.attempts
    assert attempt.outcome == "timeout"
    assert attempt.error_type == "AttemptTimeout"
    assert "longer than 0.5s" in attempt.error_message


def test_stats_counters_match_the_jobs(engine):
    jobs = [
        engine.jobs.submit("test.touch", {"path": engine.path("counted.txt")}) for _ in range(3)
    ]
    wait_final([j.id for j in jobs])
    types = ("test.touch", "test.hold")

    def counted_equals_stored():
        stats = read_stats({}, [])
        stored = {t: Counter(j.state for j in Job.objects(type=t).only("state")) for t in types}
        hour = stats["last_hour"]["totals"]
        return (
            all(
                stats["by_type"].get(t, {}).get(state, 0) == stored[t][state]
                for t in types
                for state in stats["by_state"]
            )
            and hour["succeeded"] >= 3
            and hour["cancelled"] >= 1
            and stats
        )

    stats = wait_until(counted_equals_stored, timeout=15, message="counters to settle")
    assert stats["by_type"]["test.touch"]["succeeded"] >= 3
    assert 0 < stats["last_hour"]["failure_rate"] < 1  # the timeout above failed


def test_live_workers_show_their_queues_and_running_jobs(engine):
    job, _, release = hold(engine, "visible")

    [me] = wait_until(
        lambda: [w for w in live_workers(0.5) if str(job.id) in w["jobs"]],
        message="the heartbeat to show the running job",
    )
    assert me["queues"] == ["tests"]
    assert me["concurrency"] == 1
    assert me["pid"] == engine.workers[0].process.pid
    release.touch()
    wait_final([job.id])
