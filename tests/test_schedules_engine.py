"""Schedules fired by the reconciler's leader and run by a real worker (real Redis and
FerretDB): a schedule every 2 seconds across leader changes (the lock released, then
left to expire) never fires one slot twice, every job it fires succeeds and runs once,
and a stretch missed while nothing ran fires once, its latest slot.

The test drives two Reconciler instances of its own, with different owners; the
worker's reconciler is slowed to once an hour so that the two are the only leaders."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from jobplatform.jobs.models import Job, utcnow
from jobplatform.jobs.reconciler import Reconciler
from jobplatform.jobs.schedule_times import slot_key
from jobplatform.jobs.schedules import Schedule, ScheduleService
from tests.engine_harness import private_engine, wait_final
from tests.helpers import wait_until


@pytest.fixture(scope="module")
def engine(private_redis, mongo_server, mongo_uri, tmp_path_factory):
    with private_engine(
        "schedules", tmp_path_factory.mktemp("schedules"), private_redis(), mongo_server, mongo_uri
    ) as engine:
        engine.worker("--queues", "tests", "--concurrency", "2", RECONCILE_SECONDS="3600")
        yield engine


def leader(engine, owner: str) -> Reconciler:
    return Reconciler(engine.settings, engine.jobs.transitions, engine.queue, owner=owner)


def fired(schedule: Schedule) -> list[Job]:
    return list(Job.objects(created_by=f"schedule:{schedule.name}").order_by("created_at"))


def slot_time(schedule: Schedule, job: Job) -> datetime:
    prefix = f"schedule:{schedule.id}:"
    assert job.idempotency_key.startswith(prefix), job.idempotency_key
    return datetime.strptime(job.idempotency_key.removeprefix(prefix), "%Y-%m-%dT%H:%M:%SZ")


def test_every_two_seconds_across_leader_changes_fires_each_slot_once(engine):
    touched = Path(engine.path(f"scheduled-{uuid.uuid4().hex[:6]}.txt"))
    schedule = ScheduleService(engine.jobs).create(
        {
            "name": f"every-2s-{uuid.uuid4().hex[:6]}",
            "job_type": "test.touch",
            "data": {"path": str(touched)},
            "interval_seconds": 2,
        },
        created_by="tester",
    )
    a, b = leader(engine, "leader-a"), leader(engine, "leader-b")
    b.lock.ttl = 1.5  # b will stop without releasing: its lock then expires quickly

    def until(count: int, *leaders: Reconciler, refused: Reconciler | None = None):
        def probe() -> bool:
            for one in leaders:
                one.run_once()
            if refused is not None:
                assert not refused.run_once(), f"{refused.lock.owner} acted while another led"
            return len(fired(schedule)) >= count

        return probe

    # a leads; b is refused every round while a holds the lock
    wait_until(until(2, a, refused=b), timeout=30, message="two jobs under leader a")
    # a stops and releases the lock: b takes over at once
    a.lock.release()
    wait_until(until(4, b, refused=a), timeout=30, message="two more jobs under leader b")
    # b dies holding the lock (no release): a leads again once that lock has expired
    wait_until(until(6, a), timeout=30, message="two more jobs once b's lock expired")
    a.lock.release()

    jobs = fired(schedule)
    slots = [slot_time(schedule, job) for job in jobs]
    first = schedule.next_run_at
    assert Counter(slots).most_common(1)[0][1] == 1  # never two jobs for one slot
    assert Counter(j.idempotency_key for j in jobs).most_common(1)[0][1] == 1
    assert all((slot - first) % timedelta(seconds=2) == timedelta(0) for slot in slots)
    assert slots == sorted(slots)
    assert all(job.created_at >= slot for job, slot in zip(jobs, slots, strict=True))  # never early
    done = wait_final([job.id for job in jobs])
    assert {job.state for job in done.values()} == {"succeeded"}
    runs = Counter(line.split()[0] for line in touched.read_text().splitlines())
    assert runs == {str(job.id): 1 for job in jobs}  # each ran once


def test_a_stretch_missed_while_nothing_ran_fires_once_on_start(engine):
    touched = Path(engine.path(f"missed-{uuid.uuid4().hex[:6]}.txt"))
    service = ScheduleService(engine.jobs)
    schedule = service.create(
        {
            "name": f"missed-{uuid.uuid4().hex[:6]}",
            "job_type": "test.touch",
            "data": {"path": str(touched)},
            "interval_seconds": 2,
        }
    )
    # as if nothing had run for a minute: thirty slots went by
    long_ago = schedule.next_run_at - timedelta(seconds=60)
    Schedule.objects(id=schedule.id).update_one(set__next_run_at=long_ago)
    starting = leader(engine, f"fresh-{uuid.uuid4().hex[:6]}")
    now = utcnow()
    try:
        assert starting.run_once(now)
    finally:
        starting.lock.release()

    [job] = fired(schedule)
    latest = long_ago + (now - long_ago) // timedelta(seconds=2) * timedelta(seconds=2)
    assert job.idempotency_key == slot_key(schedule.id, latest)
    after = Schedule.objects.get(id=schedule.id)
    assert after.next_run_at == latest + timedelta(seconds=2) > now
    assert wait_final([job.id])[str(job.id)].state == "succeeded"
