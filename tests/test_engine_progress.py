"""Progress and log lines of a running job (ctx.progress, ctx.log): live in the API while it
runs, kept on its attempt afterwards, within their caps, separately for each attempt of a
retried job; bad progress fails the attempt; a job that reports nothing costs the MongoDB
commands it always cost, and one that reports in a tight loop writes about once a second.

Real Redis, FerretDB and a worker subprocess running tests/plugins/testjobs.py's
`test.report`, which waits on a Redis key the test sets. The command counts come from an
executor in this process (commands_about counts the commands naming the job), on jobs
submitted for an hour later so that the worker subprocess leaves them alone."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from redis import Redis

from jobplatform.jobs.batching import GroupWriter
from jobplatform.jobs.executor import Executor
from jobplatform.jobs.models import Job
from jobplatform.jobs.service import JobService
from jobplatform.jobs.stats import StatsRecorder
from jobplatform.jobs.transitions import JobTransitions
from jobplatform.plugins.host import build_host
from jobplatform.plugins.report import LOG_LINE_CHARS, LOG_LINES, REPORT_SECONDS
from tests.api_app import app_client, bearer, login
from tests.conftest import ADMIN_PASSWORD
from tests.engine_harness import Engine, private_engine, reload, wait_final
from tests.helpers import commands_about, wait_until
from tests.plugins import testjobs

AN_HOUR = 3600


@pytest.fixture(scope="module")
def engine(private_redis, mongo_server, mongo_uri, tmp_path_factory):
    with private_engine(
        "progress", tmp_path_factory.mktemp("progress"), private_redis(), mongo_server, mongo_uri
    ) as engine:
        engine.worker()
        yield engine


@pytest.fixture
def api(engine, tmp_path):
    """The JSON API on the engine's MongoDB, logged in as the admin."""
    with app_client(
        engine.settings.mongo_uri,
        engine.settings.redis_uri,
        tmp_path,
        extra_plugins="tests.plugins.testjobs",
    ) as client:
        client.headers.update(bearer(login(client, "admin", ADMIN_PASSWORD)["access_token"]))
        yield client


def release(engine: Engine, key: str) -> None:
    Redis.from_url(engine.settings.redis_uri).set(key, 1)


def messages(lines) -> list[str]:
    return [line["message"] for line in lines]


def test_progress_and_lines_show_while_it_runs_and_stay_on_its_attempt(engine, api):
    key = f"release-{uuid.uuid4().hex}"
    data = {"lines": 3, "done": 2, "total": 5, "release": key}
    job_id = api.post("/api/jobs", json={"name": "test.report", "data": data}).json()["id"]

    running = wait_until(
        lambda: (
            (j := api.get(f"/api/jobs/{job_id}").json())["state"] == "running"
            and j["live_log"]
            and j
        ),
        message="the running job's progress and lines",
    )

    assert {k: v for k, v in running["progress"].items() if k != "at"} == {
        "done": 2,
        "total": 5,
        "message": "attempt 1 under way",
        "attempt": 1,
    }
    assert running["progress"]["at"].endswith("Z")
    assert messages(running["live_log"]) == [f"attempt 1 line {n} " for n in range(3)]
    assert {line["level"] for line in running["live_log"]} == {"info"}
    assert running["attempts"] == []
    [listed] = [
        j
        for j in api.get("/api/jobs", params={"name": "test.report"}).json()["jobs"]
        if j["id"] == job_id
    ]
    assert listed["progress"]["done"] == 2  # the list carries progress, not the lines
    assert listed["live_log"] is None and listed["attempts"] is None

    release(engine, key)
    wait_final([job_id])
    done = api.get(f"/api/jobs/{job_id}").json()

    assert done["state"] == "succeeded"
    assert done["progress"]["done"] == done["progress"]["total"] == 5
    assert done["progress"]["message"] == "finished"
    assert done["live_log"] == []
    [attempt] = done["attempts"]
    assert messages(attempt["log"]) == [
        *(f"attempt 1 line {n} " for n in range(3)),
        "attempt 1 finished",
    ]
    assert "live_log" not in Job._get_collection().find_one({"_id": reload(job_id).id})


def test_a_tight_loop_of_progress_is_stored_live_by_the_worker(engine):
    key = f"release-{uuid.uuid4().hex}"
    job = engine.jobs.submit("test.report", {"spin": True, "release": key})
    seen: set[int] = set()

    def stored_progress_moved() -> bool:
        stored = reload(job.id)
        if stored.state == "running" and stored.progress is not None:
            seen.add(stored.progress.done)
        return len(seen - {0}) >= 3

    wait_until(stored_progress_moved, message="three coalesced progress writes while it runs")
    release(engine, key)
    done = wait_final([job.id])[str(job.id)]

    assert done.state == "succeeded"
    assert done.progress.done == done.result["calls"]  # the last call, with the outcome
    assert max(seen) < done.result["calls"]


def test_an_attempt_keeps_its_last_lines_within_their_caps(engine):
    job = engine.jobs.submit("test.report", {"lines": 250, "long_line": 5000})

    [attempt] = wait_final([job.id])[str(job.id)].attempts
    lines = [line.describe() for line in attempt.log]

    logged = 250 + 1 + 1  # the lines, the long one, "finished"
    assert len(lines) == LOG_LINES + 1
    assert lines[0]["message"].startswith(f"{logged - LOG_LINES} earlier lines dropped")
    assert lines[1]["message"] == f"attempt 1 line {logged - LOG_LINES} "
    assert all(len(line["message"]) <= LOG_LINE_CHARS for line in lines)
    assert lines[-2]["level"] == "warning"
    assert lines[-2]["message"].endswith("more characters cut)")
    assert lines[-1]["message"] == "attempt 1 finished"


def test_a_retried_job_keeps_each_attempts_lines_apart(engine):
    key = f"release-{uuid.uuid4().hex}"
    job = engine.jobs.submit("test.report", {"lines": 2, "release": key, "fail_times": 1})
    wait_until(
        lambda: (j := reload(job.id)).state == "running" and j.live_log,
        message="the first attempt running, its lines stored",
    )
    release(engine, key)

    done = wait_final([job.id])[str(job.id)]

    first, second = done.attempts
    assert first.outcome == "failed" and second.outcome == "succeeded"
    assert messages(first.log) == [
        "attempt 1 line 0 ",
        "attempt 1 line 1 ",
        "attempt 1 fails on purpose",
    ]
    assert first.log[-1].level == "error"
    assert messages(second.log) == ["attempt 2 line 0 ", "attempt 2 line 1 ", "attempt 2 finished"]
    assert (done.progress.attempt, done.progress.message) == (2, "finished")
    assert not done.live_log


def test_a_lost_attempt_keeps_the_lines_its_worker_stored(engine):
    engine.stop_workers()
    doomed = engine.worker()
    key = f"release-{uuid.uuid4().hex}"
    job = engine.jobs.submit("test.report", {"lines": 2, "release": key})
    wait_until(
        lambda: (j := reload(job.id)).state == "running" and j.live_log,
        message="the job running, its lines stored",
    )
    doomed.kill()
    engine.workers.remove(doomed)
    release(engine, key)  # the next attempt will not wait
    engine.worker()  # its reconciler takes the job back once the lease runs out

    done = wait_final([job.id])[str(job.id)]

    lost, second = done.attempts
    assert lost.outcome == "lost"
    assert messages(lost.log) == ["attempt 1 line 0 ", "attempt 1 line 1 "]
    assert second.outcome == "succeeded"
    assert messages(second.log)[-1] == "attempt 2 finished"
    assert not done.live_log


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"done": -1}, "ValueError: progress: done must be 0 or more, not -1"),
        ({"done": 5, "total": 3}, "ValueError: progress: done (5) must not be more than total (3)"),
    ],
)
def test_bad_progress_fails_the_attempt_like_any_error(engine, data, error):
    job = engine.jobs.submit("test.report", {"lines": 1, **data}, max_attempts=1)

    done = wait_final([job.id])[str(job.id)]

    assert done.state == "dead"
    assert done.error == error
    [attempt] = done.attempts
    assert attempt.error_type == "ValueError"
    assert messages(attempt.log) == ["attempt 1 line 0 "]  # what it logged before
    assert done.progress is None


# -- the cost, counted in this process ------------------------------------------------------


def in_process(engine: Engine, record_running_after: float = 0.05) -> tuple[JobService, Executor]:
    """A service and an executor of this test's own on the engine's MongoDB and Redis,
    with the test job types only (other plugins' event hooks send commands of their own,
    which the benchmark counts) and counters that never flush (their writes would be
    counted too)."""
    host = build_host(entry_points=False, plugins={"testjobs": testjobs})
    stats = StatsRecorder(flush_seconds=AN_HOUR)
    transitions = JobTransitions(host, stats, GroupWriter(Job._get_collection), engine.queue)
    executor = Executor(
        transitions,
        engine.queue,
        "test:in-process",
        lease_seconds=3,
        record_running_after=record_running_after,
    )
    return JobService(host, engine.queue, stats=stats), executor


def test_a_job_that_reports_nothing_costs_what_it_did(engine):
    # a short attempt, however slow the machine: one that outlives record_running_after is
    # claimed (one more update), and the claim is not what this counts
    jobs, executor = in_process(engine, record_running_after=AN_HOUR)
    job = jobs.submit("test.noop", {}, delay=AN_HOUR)

    sent = commands_about(job.id, lambda: executor(str(job.id)))

    assert sent == {"find": 1, "update": 1}  # read the job; store its outcome
    stored = Job._get_collection().find_one({"_id": job.id})
    assert stored["state"] == "succeeded"
    assert "progress" not in stored and "live_log" not in stored
    assert "log" not in stored["attempts"][0]


def test_a_tight_loop_of_progress_writes_about_once_a_second(engine, monkeypatch):
    monkeypatch.setenv("REDIS_URI", engine.settings.redis_uri)  # test.report waits there
    jobs, executor = in_process(engine)
    key = f"release-{uuid.uuid4().hex}"
    job = jobs.submit("test.report", {"spin": True, "release": key}, delay=AN_HOUR)
    seen: set[int] = set()

    def run() -> None:
        thread = threading.Thread(target=executor, args=(str(job.id),))
        thread.start()
        wait_until(
            lambda: seen.add((reload(job.id).progress or {"done": 0})["done"]) or len(seen) >= 4,
            message="three coalesced progress writes while it runs",
        )
        release(engine, key)
        thread.join(60)

    start = time.monotonic()
    sent = commands_about(job.id, run)
    elapsed = time.monotonic() - start

    done = reload(job.id)
    assert done.state == "succeeded"
    calls = done.result["calls"]
    assert done.progress.done == calls
    writes = sent.get("update", 0) + sent.get("findAndModify", 0)
    # the claim, one write a REPORT_SECONDS (renewals carry it), the outcome
    assert writes <= elapsed / REPORT_SECONDS + 3, (writes, elapsed, sent)
    assert writes * 1000 < calls, (writes, calls)
