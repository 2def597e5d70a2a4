"""Rate and concurrency limits in an executor of this process (real FerretDB and Redis, no
worker serves the `limits` queue): a job held back costs one read and no write, and its
next delivery not even the read; a type without limits costs the MongoDB commands it
always did; an attempt's concurrency slot is freed however the attempt ends."""

from __future__ import annotations

import threading
import uuid

import pytest
from redis import Redis

from jobplatform.jobs.batching import GroupWriter
from jobplatform.jobs.executor import Executor
from jobplatform.jobs.limit_store import RedisLimitStore
from jobplatform.jobs.limits import JobLimits
from jobplatform.jobs.models import Job
from jobplatform.jobs.queue import HeldBack
from jobplatform.jobs.service import JobService
from jobplatform.jobs.stats import StatsRecorder
from jobplatform.jobs.transitions import JobTransitions
from jobplatform.plugins.host import build_host
from tests.engine_harness import private_engine, reload
from tests.helpers import commands_about, wait_until
from tests.plugins import limits as limits_plugin
from tests.plugins import testjobs

AN_HOUR = 3600


@pytest.fixture(scope="module")
def engine(private_redis, mongo_server, mongo_uri, tmp_path_factory):
    """MongoDB and Redis of the module's own; no worker serves the `limits` queue."""
    tmp = tmp_path_factory.mktemp("job-limits")
    with private_engine("limits", tmp, private_redis(), mongo_server, mongo_uri) as engine:
        yield engine


@pytest.fixture
def in_process(engine, monkeypatch):
    """A service and an executor of this test's own, with the limited and the test job
    types, counting their limits in the engine's Redis, and counters that never flush."""
    monkeypatch.setenv("LIMITS_TIMES", f"{engine.settings.redis_uri}#times-{uuid.uuid4().hex}")
    host = build_host(entry_points=False, plugins={"limits": limits_plugin, "testjobs": testjobs})
    stats = StatsRecorder(flush_seconds=AN_HOUR)
    transitions = JobTransitions(host, stats, GroupWriter(Job._get_collection), engine.queue)
    limits = JobLimits(host, RedisLimitStore(engine.settings.redis_uri), lease_seconds=3)
    executor = Executor(
        transitions,
        engine.queue,
        "test:in-process",
        lease_seconds=3,
        record_running_after=0.05,
        limits=limits,
    )
    jobs = JobService(host, engine.queue, stats=stats)
    yield jobs, executor, limits.store
    Redis.from_url(engine.settings.redis_uri).flushdb()  # slots a test left taken


def test_a_type_without_limits_costs_what_it_did(in_process):
    jobs, executor, _ = in_process
    job = jobs.submit("test.noop", {})

    assert commands_about(job.id, lambda: executor(str(job.id))) == {"find": 1, "update": 1}
    assert reload(str(job.id)).state == "succeeded"


def held_back(executor, job_id: str, mark: dict | None = None) -> HeldBack:
    with pytest.raises(HeldBack) as back:
        executor(job_id, False, None, mark)
    return back.value


def test_a_job_held_back_waits_queued_without_an_attempt(in_process):
    jobs, executor, store = in_process
    assert store.acquire("limits_single", "occupant", None, 1, 60) is None
    job = jobs.submit("limits_single", {})
    before = reload(str(job.id))

    first = {}
    assert commands_about(job.id, lambda: first.update(back=held_back(executor, str(job.id)))) == {
        "find": 1  # read the job; nothing written
    }
    mark = {"type": "limits_single", "eta": None, "times": first["back"].times}
    assert first["back"].times == 1
    assert commands_about(job.id, lambda: held_back(executor, str(job.id), mark)) == {}  # no read

    after = reload(str(job.id))
    assert (after.state, after.attempt_count, after.attempts) == ("queued", 0, [])
    assert after.updated_at == before.updated_at

    store.release("limits_single", "occupant")
    sent = commands_about(job.id, lambda: executor(str(job.id), False, None, mark))

    assert sent == {"find": 1, "update": 1}
    done = reload(str(job.id))
    assert (done.state, [a.outcome for a in done.attempts]) == ("succeeded", ["succeeded"])
    assert store.slots_taken(["limits_single"]) == {"limits_single": 0}  # freed


def test_a_timed_out_attempt_frees_its_slot(in_process):
    jobs, executor, store = in_process
    job = jobs.submit("limits_single", {"seconds": 30}, timeout=0.3, max_attempts=1)

    executor(str(job.id))

    assert reload(str(job.id)).attempts[0].outcome == "timeout"
    assert store.slots_taken(["limits_single"]) == {"limits_single": 0}


def test_a_put_back_attempt_frees_its_slot_at_once(in_process, engine):
    """A worker shutting down puts back an attempt still running: its slot frees then,
    not when the abandoned attempt's thread ends."""
    jobs, executor, store = in_process
    key = f"release-{uuid.uuid4().hex}"
    job = jobs.submit("limits_single", {"release": key})
    running = threading.Thread(target=executor, args=(str(job.id),))
    running.start()
    wait_until(lambda: str(job.id) in executor.running, message="the attempt to start")
    assert store.slots_taken(["limits_single"]) == {"limits_single": 1}

    assert executor.put_back(str(job.id), "the test stops the worker")

    assert store.slots_taken(["limits_single"]) == {"limits_single": 0}
    Redis.from_url(engine.settings.redis_uri).set(key, 1)  # the attempt ignored the stop
    running.join(30)
    assert reload(str(job.id)).attempts[0].outcome == "interrupted"
