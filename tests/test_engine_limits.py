"""Rate and concurrency limits with real worker processes (real Redis and FerretDB, and the
single-machine mode's queue file): the job types of tests/plugins/limits.py record each
run's start and end in Redis, and the limits are checked from those times.

- a rate limit of 5 a second over 50 jobs, 2 workers × 4 threads: never more than 5
  starts in any second (less a tolerance for the moment between a start being admitted
  and the processor recording it), and every job runs once, on its first attempt;
- a concurrency limit of 2, 2 workers × 4 threads: never more than 2 running at once;
- jobs held back wait `queued`, untouched: no attempt, no history write;
- a worker killed holding a concurrency slot: the slot frees when its lease runs out;
- the queue file (no REDIS_URI) enforces both limits, counted in DATA_DIR."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path

import pytest
from redis import Redis

from jobplatform.jobs.limit_store import SQLITE_FILE, slots_key
from jobplatform.jobs.models import Job
from jobplatform.jobs.service import JobService
from jobplatform.services import load_host
from tests.engine_harness import Engine, private_engine, reload, wait_final
from tests.helpers import wait_until
from tests.plugins.limits import QUEUE

PLUGIN = "tests.plugins.limits"
# between a start being admitted (by the store's clock) and the worker noting the time
ADMITTED_TO_RECORDED = 0.1


@contextmanager
def limited_engine(
    name: str, tmp: Path, redis_uri: str, times_uri: str, mongo_server: str, mongo_uri: str
) -> Iterator[Engine]:
    """An engine (on `redis_uri`, or the queue file if it is empty) whose service and
    workers load the limited job types, recording their times at `times_uri`."""
    with private_engine(name, tmp, redis_uri, mongo_server, mongo_uri) as engine:
        engine.env.update(EXTRA_PLUGINS=PLUGIN, LIMITS_TIMES=times_uri)
        engine.settings = engine.settings.model_copy(update={"extra_plugins": PLUGIN})
        engine.jobs = JobService(load_host(engine.settings), engine.queue)
        yield engine


@pytest.fixture(scope="module")
def times_uri(private_redis) -> str:
    return f"{private_redis()}#times"


@pytest.fixture(scope="module")
def engine(private_redis, times_uri, mongo_server, mongo_uri, tmp_path_factory) -> Iterator:
    """An engine on Redis whose service and workers load the limited job types."""
    tmp = tmp_path_factory.mktemp("engine-limits")
    with limited_engine("limits", tmp, private_redis(), times_uri, mongo_server, mongo_uri) as e:
        yield e


@pytest.fixture
def times(times_uri) -> Iterator[Redis]:
    redis = Redis.from_url(times_uri.rsplit("#", 1)[0])
    redis.flushdb()
    yield redis


def events(times: Redis) -> list[dict]:
    return [json.loads(line) for line in times.lrange("times", 0, -1)]


def starts(times: Redis) -> list[float]:
    return sorted(e["at"] for e in events(times) if e["event"] == "start")


def attempt_starts(jobs: dict[str, Job]) -> list[float]:
    """When each job's attempts started, as the workers recorded them: the moments the
    limits admitted them."""
    return sorted(
        a.started_at.replace(tzinfo=UTC).timestamp() for j in jobs.values() for a in j.attempts
    )


def most_in_any_window(stamps: list[float], seconds: float) -> int:
    """The most of `stamps` (sorted) within any `seconds` (a window open at its end)."""
    most, first = 0, 0
    for last, stamp in enumerate(stamps):
        while stamp - stamps[first] >= seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


def most_at_once(times: Redis) -> int:
    """The most runs that overlapped, from the recorded starts and ends of the runs that
    ended (a run whose worker was killed records no end)."""
    recorded = events(times)
    ended = {(e["job"], e["attempt"]) for e in recorded if e["event"] == "end"}
    edges = sorted(
        (e["at"], 1 if e["event"] == "start" else -1)
        for e in recorded
        if (e["job"], e["attempt"]) in ended
    )  # an end sorts before a start at the same instant
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def workers(engine: Engine, count: int = 2, threads: int = 4) -> None:
    for _ in range(count):
        engine.worker("--queues", QUEUE, "--concurrency", str(threads))


def submit(engine: Engine, job_type: str, count: int, **data) -> list[str]:
    jobs = engine.jobs.submit_many([{"name": job_type, "data": data} for _ in range(count)])
    return [str(job.id) for job in jobs]


def assert_each_ran_once(jobs: dict[str, Job], times: Redis) -> None:
    """Every job succeeded on its first attempt: no attempt was spent on being held back."""
    for job in jobs.values():
        assert (job.state, job.attempt_count) == ("succeeded", 1), job.attempts
        assert [a.outcome for a in job.attempts] == ["succeeded"]
    ran = Counter(e["job"] for e in events(times) if e["event"] == "start")
    assert ran == dict.fromkeys(jobs, 1)


@pytest.fixture
def stop_workers(engine) -> Iterator[None]:
    yield
    engine.stop_workers()


def test_a_rate_limit_holds_across_workers(engine, times, stop_workers):
    """limits_rate: 5 starts in any second; 50 jobs take at least 9 seconds to start."""
    workers(engine)
    ids = submit(engine, "limits_rate", 50)

    done = wait_final(ids, timeout=120)

    assert_each_ran_once(done, times)
    started = attempt_starts(done)
    assert most_in_any_window(started, 1 - ADMITTED_TO_RECORDED) <= 5
    assert started[-1] - started[0] >= 9 - ADMITTED_TO_RECORDED
    assert len({e["pid"] for e in events(times)}) == 2  # both workers started some


def test_a_concurrency_limit_holds_across_workers(engine, times, stop_workers):
    """limits_pair: at most 2 running at once; 16 jobs of 0.4 s each."""
    workers(engine)
    ids = submit(engine, "limits_pair", 16, seconds=0.4)

    done = wait_final(ids, timeout=120)

    assert_each_ran_once(done, times)
    assert most_at_once(times) == 2  # the limit, and reached
    assert len({e["pid"] for e in events(times)}) == 2


def held_back_messages(engine: Engine) -> set[str]:
    """The job ids of messages waiting in the queue's schedule after being held back."""
    huey = engine.queue.huey(QUEUE)
    return {t.args[0] for t in huey.scheduled() if t.kwargs.get("held_back")}


def test_jobs_held_back_wait_queued_and_untouched(engine, times, stop_workers):
    workers(engine)
    release = f"release-{uuid.uuid4().hex}"
    ids = submit(engine, "limits_pair", 5, release=release)
    submitted = {job_id: reload(job_id).updated_at for job_id in ids}
    wait_until(lambda: len(starts(times)) == 2, message="two jobs to start")
    running = {e["job"] for e in events(times)}
    waiting = set(ids) - running
    seen: set[str] = set()

    def all_held_back() -> bool:
        seen.update(held_back_messages(engine) & waiting)
        return seen == waiting

    wait_until(all_held_back, message="the other three to be held back")

    for job_id in waiting:
        job = reload(job_id)
        assert (job.state, job.attempt_count, job.attempts) == ("queued", 0, [])
        assert job.updated_at == submitted[job_id]  # nothing written since its submission
    assert len(starts(times)) == 2

    times.set(release, 1)
    done = wait_final(ids, timeout=60)

    assert_each_ran_once(done, times)
    assert most_at_once(times) == 2


def slot_deadlines(engine: Engine, job_type: str) -> list[float]:
    redis = Redis.from_url(engine.settings.redis_uri)
    return [score for _, score in redis.zrange(slots_key(job_type), 0, -1, withscores=True)]


def test_a_killed_worker_frees_its_slot_when_its_lease_runs_out(engine, times, stop_workers):
    """limits_single: 1 at once. The worker running the first job is killed; the slot it
    held is still taken until its lease (LEASE_SECONDS, 3 s here) runs out, and only then
    does a job start on the other worker."""
    doomed = engine.worker("--queues", QUEUE, "--concurrency", "1")
    release = f"release-{uuid.uuid4().hex}"
    [first] = submit(engine, "limits_single", 1, release=release)
    wait_until(lambda: len(starts(times)) == 1, message="the first job to start")
    engine.worker("--queues", QUEUE, "--concurrency", "2")
    [second] = submit(engine, "limits_single", 1, release=release)
    wait_until(lambda: second in held_back_messages(engine), message="the second held back")

    doomed.kill()
    [deadline] = slot_deadlines(engine, "limits_single")  # the dead worker's slot, still there
    wait_until(lambda: len(starts(times)) == 2, timeout=30, message="a job to start again")

    assert starts(times)[1] >= deadline  # not before the dead worker's lease ran out
    times.set(release, 1)
    done = wait_final([first, second], timeout=60)
    assert {job.state for job in done.values()} == {"succeeded"}
    assert [a.outcome for a in done[second].attempts] == ["succeeded"]
    assert [a.outcome for a in done[first].attempts] == ["lost", "succeeded"]
    assert most_at_once(times) == 1


def test_the_queue_file_enforces_both_limits(
    times, times_uri, mongo_server, mongo_uri, tmp_path_factory
):
    """No REDIS_URI: the queue is the SQLite file and the limits are counted in
    DATA_DIR/job_limits.sqlite3; limits_both: 4 starts a second and 2 at once."""
    tmp = tmp_path_factory.mktemp("engine-limits-file")
    with limited_engine("limits_file", tmp, "", times_uri, mongo_server, mongo_uri) as engine:
        assert engine.settings.redis_uri is None
        workers(engine)
        ids = submit(engine, "limits_both", 16, seconds=0.3)

        done = wait_final(ids, timeout=120)

        assert_each_ran_once(done, times)
        assert most_in_any_window(attempt_starts(done), 1 - ADMITTED_TO_RECORDED) <= 4
        assert most_at_once(times) <= 2
        assert (tmp / "data" / SQLITE_FILE).exists()
        assert (tmp / "data" / "queue.sqlite3").exists()
