"""Rate and concurrency limits per job type, without worker processes: the `rate_limit`
form and its errors, plugins.toml overrides (a bad one fails only its plugin, naming the
file and line), both limit stores (a real Redis database and a SQLite file) and their
rules, and a held-back message put back on its queue (Redis and the queue file) marked
and with its own eta.

tests/test_executor_limits.py runs an executor in this process, tests/test_engine_limits.py
real workers."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from jobplatform.config import load_settings
from jobplatform.jobs.limit_store import RedisLimitStore, Refusal, SqliteLimitStore
from jobplatform.jobs.limits import HOLD_SECONDS, HOLD_SPREAD_SECONDS, hold_delay
from jobplatform.jobs.models import utcnow
from jobplatform.jobs.queue import HeldBack, JobQueue
from jobplatform.plugins.hookspecs import hookimpl
from jobplatform.plugins.host import build_host
from jobplatform.plugins.jobtype import JobType, RateLimit
from jobplatform.plugins.manifest import load_manifest
from tests.helpers import wait_until
from tests.plugins import limits as limits_plugin
from tests.plugins import testjobs

AN_HOUR = 3600


# -- the form ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count", "per", "shown"),
    [
        ("10/s", 10, 1, "10/s"),
        ("100/m", 100, 60, "100/m"),
        ("1000/h", 1000, 3600, "1000/h"),
        (" 5 / 2s", 5, 2, "5/2s"),
        ("3/1.5s", 3, 1.5, "3/1.5s"),
        ("7/60s", 7, 60, "7/m"),
    ],
)
def test_a_rate_limit_is_count_per_period(text, count, per, shown):
    rate = RateLimit.parse(text)
    assert (rate.count, rate.per_seconds, str(rate)) == (count, per, shown)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rate_limit", "often", "rate_limit 'often' is not COUNT/PERIOD; write it as '10/s'"),
        ("rate_limit", "10 per second", "is not COUNT/PERIOD"),
        ("rate_limit", "0/s", "rate_limit '0/s': the count must be from 1 to 100,000"),
        ("rate_limit", "5/0s", "the period must be longer than 0 and at most 24h"),
        ("rate_limit", "5/25h", "the period must be longer than 0 and at most 24h"),
        ("rate_limit", 5, "rate_limit 5 is not COUNT/PERIOD"),
        ("concurrency_limit", 0, "concurrency_limit 0 is out of range; it must be from 1"),
        ("concurrency_limit", True, "concurrency_limit True is not a whole number"),
        ("concurrency_limit", "2", "concurrency_limit '2' is not a whole number"),
        ("concurrency_limit", 2.5, "concurrency_limit 2.5 is not a whole number"),
    ],
)
def test_a_bad_limit_is_refused_with_what_is_wrong(field, value, message):
    with pytest.raises(ValueError) as refused:
        JobType(name="x", processor=print, schema={}, **{field: value})
    assert message in str(refused.value)


def test_a_job_type_describes_its_limits():
    described = JobType(
        name="x", processor=print, schema={}, rate_limit="10/60s", concurrency_limit=3
    ).describe()
    assert (described["rate_limit"], described["concurrency_limit"]) == ("10/m", 3)
    plain = JobType(name="y", processor=print, schema={})
    assert not plain.limited
    assert (plain.describe()["rate_limit"], plain.describe()["concurrency_limit"]) == (None, None)


# -- plugins.toml ----------------------------------------------------------------------------


def host_with(tmp_path: Path, lines: str, **plugins):
    path = tmp_path / "plugins.toml"
    path.write_text(f"# per-type limits\n{lines}\n", encoding="utf-8")
    given = {"limits": limits_plugin, "testjobs": testjobs, **plugins}
    return path, build_host(load_manifest(path), entry_points=False, plugins=given)


def test_plugins_toml_sets_and_lifts_limits(tmp_path):
    _, host = host_with(
        tmp_path,
        '[job_types.limits_rate]\nrate_limit = "7/m"\nconcurrency_limit = 3\n\n'
        "[job_types.limits_both]\nconcurrency_limit = false\n",
    )
    assert host.plugins["limits"].status == "loaded"
    rated, both = host.job_type("limits_rate"), host.job_type("limits_both")
    assert (str(rated.rate), rated.concurrency_limit) == ("7/m", 3)
    assert (str(both.rate), both.concurrency_limit) == ("4/s", None)  # its rate kept


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('rate_limit = "often"', "rate_limit 'often' is not COUNT/PERIOD"),
        ('rate_limit = "0/m"', "rate_limit '0/m': the count must be from 1"),
        ("rate_limit = true", "rate_limit True is not COUNT/PERIOD"),
        ("concurrency_limit = 0", "concurrency_limit 0 is out of range"),
        ('concurrency_limit = "2"', "concurrency_limit '2' is not a whole number"),
        ("concurrency_limit = 1.5", "concurrency_limit 1.5 is not a whole number"),
    ],
)
def test_a_bad_limit_in_plugins_toml_fails_only_its_plugin(tmp_path, line, message):
    path, host = host_with(tmp_path, f'[job_types.limits_pair]\nqueue = "limits"\n{line}')

    record = host.plugins["limits"]
    assert record.status == "failed"
    assert record.error.startswith(f"{path}:4: [job_types.limits_pair] {message}")
    assert record.error.endswith("fix it in plugins.toml (or write false for no limit)")
    assert "limits_pair" not in host.job_types and "limits_rate" not in host.job_types
    assert host.plugins["testjobs"].status == "loaded" and "test.noop" in host.job_types


class BadLimitsPlugin:
    @hookimpl
    def register_job_types(self, settings):
        return [JobType(name="bad", processor=print, schema={}, rate_limit="fast")]


def test_a_plugin_declaring_a_bad_limit_fails_with_the_reason(tmp_path):
    _, host = host_with(tmp_path, "", badlimits=BadLimitsPlugin())
    record = host.plugins["badlimits"]
    assert record.status == "failed"
    assert "ValueError: rate_limit 'fast' is not COUNT/PERIOD" in record.error
    assert host.plugins["limits"].status == "loaded"


# -- the stores --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limits_redis(private_redis) -> str:
    return private_redis()


@pytest.fixture(params=["redis", "sqlite"])
def store(request, limits_redis, tmp_path):
    if request.param == "redis":
        return RedisLimitStore(limits_redis)
    return SqliteLimitStore(tmp_path / "job_limits.sqlite3")


def a_type() -> str:
    return f"type-{uuid.uuid4().hex[:8]}"  # each test its own, in the shared Redis database


def test_a_rate_limit_admits_its_count_then_says_how_long_to_wait(store):
    name, rate = a_type(), RateLimit(3, 10)
    assert [store.acquire(name, f"t{i}", rate, None, 5) for i in range(3)] == [None] * 3

    refusal = store.acquire(name, "t3", rate, None, 5)

    assert refusal.reason == "rate" and 9 < refusal.wait <= 10
    assert store.acquire(a_type(), "t3", rate, None, 5) is None  # another type: its own


def test_a_concurrency_limit_admits_until_its_slots_are_taken(store):
    name = a_type()
    assert store.acquire(name, "a", None, 2, 60) is None
    assert store.acquire(name, "b", None, 2, 60) is None
    assert store.acquire(name, "c", None, 2, 60) == Refusal("concurrency")
    assert store.slots_taken([name]) == {name: 2}

    store.release(name, "a")

    assert store.acquire(name, "c", None, 2, 60) is None
    assert store.slots_taken([name, a_type()])[name] == 2


def test_a_refused_start_is_not_counted(store):
    """Refused by the concurrency limit, a start does not use up the rate limit."""
    name, rate = a_type(), RateLimit(2, AN_HOUR)
    assert store.acquire(name, "first", rate, 1, 60) is None
    assert store.acquire(name, "second", rate, 1, 60) == Refusal("concurrency")
    store.release(name, "first")
    assert store.acquire(name, "second", rate, 1, 60) is None  # the rate's second start
    store.release(name, "second")
    assert store.acquire(name, "third", rate, 1, 60).reason == "rate"
    assert store.slots_taken([name]) == {name: 0}  # refused by the rate: no slot taken


def test_a_slot_whose_lease_ran_out_is_free_again(store):
    """A worker that crashed holding a slot never releases it: its lease frees it."""
    name = a_type()
    assert store.acquire(name, "crashed", None, 1, 0.3) is None
    assert store.acquire(name, "next", None, 1, 0.3) == Refusal("concurrency")

    wait_until(
        lambda: store.acquire(name, "next", None, 1, 60) is None,
        timeout=10,
        message="the crashed worker's slot to expire",
    )
    assert store.slots_taken([name]) == {name: 1}


def test_a_renewed_slot_outlives_its_first_lease(store):
    name, other = a_type(), a_type()
    assert store.acquire(name, "long", None, 1, 0.3) is None
    store.renew(name, "long", 60)
    assert store.acquire(other, "short", None, 1, 0.3) is None  # taken after it, same lease

    wait_until(lambda: store.slots_taken([other]) == {other: 0}, message="the short one to end")

    assert store.slots_taken([name]) == {name: 1}
    assert store.acquire(name, "next", None, 1, 60) == Refusal("concurrency")
    store.release(name, "long")
    store.renew(name, "long", 60)  # a freed slot stays free
    assert store.slots_taken([name]) == {name: 0}


def test_racing_starts_never_pass_the_limits(store):
    rated, paired = a_type(), a_type()
    with ThreadPoolExecutor(16) as pool:
        by_rate = list(
            pool.map(lambda i: store.acquire(rated, f"r{i}", RateLimit(5, 60), None, 60), range(40))
        )
        by_slots = list(pool.map(lambda i: store.acquire(paired, f"c{i}", None, 3, 60), range(40)))
    assert by_rate.count(None) == 5
    assert by_slots.count(None) == 3 and store.slots_taken([paired]) == {paired: 3}


def test_a_held_back_message_waits_spread_out():
    assert hold_delay(None, 1) == HOLD_SECONDS  # a concurrency limit: a moment
    assert hold_delay(5.0, 1) == pytest.approx(4.5)  # a rate limit: until a start frees,
    # less what the worker's thread waits for itself
    spread = [hold_delay(None, 100) for _ in range(200)]
    assert HOLD_SECONDS <= min(spread) and max(spread) <= HOLD_SECONDS + HOLD_SPREAD_SECONDS
    assert max(spread) - min(spread) > 1  # not all at once


# -- the queue -------------------------------------------------------------------------------


@pytest.fixture(params=["redis", "queue file"])
def queue_settings(request, limits_redis, tmp_path):
    if request.param == "redis":
        # a database of the module's own; the queue name makes the keys this test's
        return load_settings(redis_uri=limits_redis, data_dir=tmp_path)
    return load_settings(redis_uri=None, data_dir=tmp_path)


def test_a_held_back_message_returns_later_with_its_own_eta(queue_settings):
    """Put back in the queue's schedule, marked with its type, its eta and its holds; its
    priority kept, the job it carried dropped; the next delivery gets the mark and the
    message's own eta, and reads the job."""
    calls = []

    def execute(job_id, requeued, eta, held_back, job):
        calls.append((job_id, eta, held_back, job))
        if held_back is None:
            raise HeldBack("limited", 30.0, 1)

    name = f"q-{uuid.uuid4().hex[:8]}"
    queue = JobQueue(queue_settings, execute=execute)
    huey = queue.huey(name)
    due = (utcnow() - timedelta(seconds=5)).replace(microsecond=0)
    carried = {"_id": "a" * 24, "queue": name, "priority": 3, "type": "limited", "state": "queued"}
    queue.enqueue_many([carried])
    queue.enqueue(name, "b" * 24, eta=due)
    for task in huey.read_schedule():
        huey.enqueue(task)  # as the consumer's scheduler does with a due message

    for _ in range(2):
        huey.execute(huey.dequeue())

    assert calls[0][3] == carried
    assert queue.lengths(name) == {"pending": 0, "scheduled": 2}
    assert queue.job_ids(name) == {"a" * 24, "b" * 24}  # the reconciler sees them waiting
    held = {task.args[0]: task for task in huey.scheduled()}
    assert held["a" * 24].priority == 3
    assert held["a" * 24].id == "a" * 24  # still the message a cancel revokes
    assert "job" not in held["a" * 24].kwargs
    assert held["a" * 24].kwargs["held_back"] == {"type": "limited", "eta": None, "times": 1}
    assert held["b" * 24].kwargs["held_back"] == {"type": "limited", "eta": due, "times": 1}
    for task in held.values():
        assert utcnow() + timedelta(seconds=25) < task.eta < utcnow() + timedelta(seconds=31)

    later = utcnow() + timedelta(seconds=31)  # as the scheduler sees it once they are due
    for task in huey.read_schedule(later):
        huey.enqueue(task)
        huey.execute(huey.dequeue(), later)

    again = {job_id: (eta, mark) for job_id, eta, mark, job in calls[2:] if job is None}
    assert again["a" * 24] == (None, held["a" * 24].kwargs["held_back"])
    assert again["b" * 24][0] == due  # its own eta, not the time it was held back for
    assert queue.lengths(name) == {"pending": 0, "scheduled": 0}
