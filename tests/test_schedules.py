"""Schedules through ScheduleService, on the real FerretDB and Redis: every validation rule
(nothing stored on an error), cron times against croniter's across time zones and DST
changes, a missed stretch firing once, two leaders racing over one slot, and the
plugins' default schedules. No worker reads this Redis database: the fired jobs stay
queued (the engine test, tests/test_schedules_engine.py, runs them)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from jobplatform import db
from jobplatform.config import load_settings
from jobplatform.jobs.models import Job
from jobplatform.jobs.queue import JobQueue
from jobplatform.jobs.schedule_times import cron_latest, cron_next, slot_key
from jobplatform.jobs.schedules import (
    InvalidSchedule,
    Schedule,
    ScheduleConflict,
    ScheduleNotFound,
    ScheduleService,
)
from jobplatform.jobs.service import JobService
from jobplatform.plugins.hookspecs import hookimpl
from jobplatform.plugins.jobtype import JobType
from jobplatform.services import load_host
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def settings(private_redis, mongo_server, tmp_path_factory):
    return load_settings(
        mongo_uri=f"{mongo_server}jp_schedules_{uuid.uuid4().hex[:8]}",
        redis_uri=private_redis(),  # no worker reads it
        data_dir=tmp_path_factory.mktemp("schedules"),
        plugins_file=ROOT / "plugins.toml",
        extra_plugins="tests.plugins.testjobs",
        app_env="test",
    )


@pytest.fixture(scope="module")
def jobs(settings, mongo_uri):
    """A database of its own, so no reconciler of the session's processes fires these."""
    db.connect(settings)
    service = JobService(load_host(settings), JobQueue(settings))
    yield service
    service.stats.close()
    db.connect(load_settings(mongo_uri=mongo_uri))


@pytest.fixture
def schedules(jobs) -> ScheduleService:
    return ScheduleService(jobs)


def every(seconds: int = 60, **fields) -> dict:
    return {
        "name": f"s-{uuid.uuid4().hex[:8]}",
        "job_type": "test.touch",
        "data": {"path": "/tmp/never-run"},
        "interval_seconds": seconds,
        **fields,
    }


def cron(expression: str, zone: str = "UTC", **fields) -> dict:
    return every(**{"interval_seconds": None, "cron": expression, "timezone": zone, **fields})


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        (cron("61 * * * *"), "cron", "invalid cron expression"),
        (cron("* * * *"), "cron", "must have 5 fields"),
        (cron("0 0 * * * 2030"), "cron", "must have 5 fields"),
        (cron("not a cron at all"), "cron", "invalid cron expression"),
        (cron("0 0 31 2 *"), "cron", "never occurs"),
        (cron("0 9 * * *", "Mars/Olympus_Mons"), "timezone", "unknown time zone"),
        (cron("0 9 * * *", "Etc"), "timezone", "unknown time zone"),
        (cron("0 9 * * *", "../../etc/passwd"), "timezone", "unknown time zone"),
        (every(0), "interval_seconds", "between 1 and"),
        (every(-5), "interval_seconds", "between 1 and"),
        (every(1.5), "interval_seconds", "whole number"),
        (every(cron="* * * * *"), "cron", "not both"),
        (every(interval_seconds=None), "interval_seconds", "give either"),
        (every(job_type="no.such.type"), "job_type", "unknown job type 'no.such.type'"),
        (every(data={}), "data.path", "required field"),
        (every(data={"path": 7}), "data.path", "must be of string type"),
        (every(data={"path": "/x", "extra": 1}), "data.extra", "unknown field"),
        (every(data={"$where": "1"}), "data.$where", "may not start with '$'"),
        (every(data=[1, 2]), "data", "must be an object"),
        (every(max_attempts=9), "max_attempts", "between 1 and 3"),
        (every(timeout=0), "timeout", "must be above 0"),
        (every(timeout=float("nan")), "timeout", "finite"),
        (every(float("inf")), "interval_seconds", "whole number"),
        (every(priority=101), "priority", "-100 to 100"),
        (every(name=""), "name", "required"),
        (every(name="tab\there"), "name", "printable ASCII"),
        (every(colour="red"), "colour", "unknown field"),
    ],
)
def test_invalid_schedules_are_refused_naming_the_field_and_nothing_is_stored(
    schedules, fields, field, says
):
    before = Schedule.objects.count()
    with pytest.raises(InvalidSchedule) as refused:
        schedules.create(fields, created_by="tester")
    assert field in refused.value.details, refused.value.details
    assert says in str(refused.value.details[field]), refused.value.details
    assert Schedule.objects.count() == before


def test_an_invalid_change_is_refused_and_the_schedule_stays_as_it_was(schedules):
    schedule = schedules.create(cron("0 9 * * *", "Europe/Berlin"), created_by="tester")
    for changes, field in [
        ({"cron": "0 25 * * *"}, "cron"),
        ({"timezone": "Nowhere/Special"}, "timezone"),
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"data": {"path": 1}}, "data.path"),
        ({"job_type": "gone"}, "job_type"),
    ]:
        with pytest.raises(InvalidSchedule) as refused:
            schedules.update(str(schedule.id), changes)
        assert field in refused.value.details
    after = schedules.get(str(schedule.id))
    assert (after.cron, after.timezone, after.interval_seconds) == (
        "0 9 * * *",
        "Europe/Berlin",
        None,
    )
    assert after.next_run_at == schedule.next_run_at


def test_names_are_unique_and_unknown_ids_are_not_found(schedules):
    fields = every()
    schedules.create(fields)
    with pytest.raises(ScheduleConflict, match="exists already"):
        schedules.create({**fields, "interval_seconds": 5})
    assert Schedule.objects(name=fields["name"]).count() == 1
    other = schedules.create(every())
    with pytest.raises(ScheduleConflict):
        schedules.update(str(other.id), {"name": fields["name"]})
    for unknown in ("000000000000000000000000", "not-an-id"):
        with pytest.raises(ScheduleNotFound):
            schedules.get(unknown)
        with pytest.raises(ScheduleNotFound):
            schedules.delete(unknown)


def _croniters(expression: str, zone: str, start: datetime, count: int) -> list[datetime]:
    """croniter's own answer: tz-aware in the zone, converted to UTC naive."""
    it = croniter(expression, start.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)))
    return [it.get_next(datetime).astimezone(UTC).replace(tzinfo=None) for _ in range(count)]


def _ours(expression: str, zone: str, start: datetime, count: int) -> list[datetime]:
    times, at = [], start
    for _ in range(count):
        at = cron_next(expression, zone, at)
        times.append(at)
    return times


@pytest.mark.parametrize(
    ("expression", "zone", "start"),
    [
        ("0 9 * * *", "Europe/Berlin", datetime(2026, 3, 26)),  # spring forward, 29 March
        ("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 27)),  # 02:30 missing on 29 March
        ("0 * * * *", "Europe/Berlin", datetime(2026, 10, 24, 22)),  # fall back, 25 October
        ("*/30 1 * * *", "America/New_York", datetime(2026, 10, 31)),  # 01:xx twice on 1 Nov
        ("0 8 * * 1-5", "America/New_York", datetime(2026, 3, 5)),  # spring forward, 8 March
        ("15 3 1 * *", "Australia/Sydney", datetime(2026, 3, 1)),  # fall back, 5 April
        ("0 12 * * *", "Asia/Kolkata", datetime(2026, 1, 1)),  # +05:30, no DST
        ("*/7 * * * *", "UTC", datetime(2026, 12, 31, 23)),
    ],
)
def test_cron_next_times_are_croniters_in_the_schedules_zone(expression, zone, start):
    ours = _ours(expression, zone, start, 40)
    assert ours == _croniters(expression, zone, start, 40)
    assert ours == sorted(set(ours))  # strictly increasing in UTC, no slot twice


def test_a_daily_cron_keeps_its_local_time_across_a_dst_change():
    days = _ours("0 9 * * *", "Europe/Berlin", datetime(2026, 3, 27), 4)
    # 09:00 CET is 08:00 UTC; from 29 March 09:00 CEST is 07:00 UTC
    assert days == [
        datetime(2026, 3, 27, 8),
        datetime(2026, 3, 28, 8),
        datetime(2026, 3, 29, 7),
        datetime(2026, 3, 30, 7),
    ]
    assert cron_latest("0 9 * * *", "Europe/Berlin", datetime(2026, 3, 29, 7)) == datetime(
        2026, 3, 29, 7
    )  # a slot exactly at now is due
    assert cron_latest("0 9 * * *", "Europe/Berlin", datetime(2026, 3, 29, 6, 59)) == datetime(
        2026, 3, 28, 8
    )


def test_a_cron_schedule_computes_next_run_at_in_its_zone(schedules):
    schedule = schedules.create(cron("0 9 * * *", "America/New_York"))
    local = schedule.next_run_at.replace(tzinfo=UTC).astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (9, 0)
    assert schedule.next_run_at > schedule.created_at


def test_slots_missed_while_nothing_ran_fire_once_the_latest(schedules):
    schedule = schedules.create(every(2))
    first = schedule.next_run_at
    now = first + timedelta(seconds=61)  # 31 slots passed; the latest is first + 60 s

    fired = schedules.fire_due(now)

    mine = [job for job in fired if job.created_by == f"schedule:{schedule.name}"]
    assert len(mine) == 1
    assert mine[0].idempotency_key == slot_key(schedule.id, first + timedelta(seconds=60))
    after = schedules.get(str(schedule.id))
    assert after.next_run_at == first + timedelta(seconds=62) > now
    assert after.last_fired_at == first + timedelta(seconds=60)
    assert after.last_job_id == str(mine[0].id)
    assert Job.objects(created_by=f"schedule:{schedule.name}").count() == 1
    # the same round again (a restart, another leader) fires nothing more
    assert not [j for j in schedules.fire_due(now) if j.created_by == mine[0].created_by]
    assert Job.objects(created_by=f"schedule:{schedule.name}").count() == 1


def test_a_cron_schedule_missed_for_hours_fires_its_latest_hour_once(schedules):
    schedule = schedules.create(cron("0 * * * *"))
    now = schedule.next_run_at + timedelta(hours=5, minutes=20)

    schedules.fire_due(now)

    [job] = Job.objects(created_by=f"schedule:{schedule.name}")
    assert job.idempotency_key == slot_key(schedule.id, schedule.next_run_at + timedelta(hours=5))
    assert job.data == {"path": "/tmp/never-run"} and job.state == "queued"
    assert schedules.get(str(schedule.id)).next_run_at == schedule.next_run_at + timedelta(hours=6)


def test_two_leaders_racing_over_one_slot_fire_it_once(jobs):
    leaders = [ScheduleService(jobs) for _ in range(6)]
    schedule = leaders[0].create(every(2, name=f"race-{uuid.uuid4().hex[:6]}"))
    for round_ in range(1, 4):
        now = schedule.next_run_at + timedelta(seconds=2 * round_ - 2, milliseconds=500)
        with ThreadPoolExecutor(len(leaders)) as pool:
            list(pool.map(lambda leader, at=now: leader.fire_due(at), leaders))
    keys = [j.idempotency_key for j in Job.objects(created_by=f"schedule:{schedule.name}")]
    assert sorted(keys) == [
        slot_key(schedule.id, schedule.next_run_at + timedelta(seconds=2 * n)) for n in range(3)
    ]


def test_disabled_schedules_do_not_fire_and_enabling_starts_from_now(schedules):
    schedule = schedules.create(every(2, enabled=False))
    assert schedule.next_run_at is None
    schedules.fire_due(schedule.created_at + timedelta(hours=1))
    assert Job.objects(created_by=f"schedule:{schedule.name}").count() == 0

    enabled = schedules.update(str(schedule.id), {"enabled": True})
    assert enabled.next_run_at is not None and enabled.next_run_at > schedule.created_at
    disabled = schedules.update(str(enabled.id), {"enabled": False})
    assert disabled.next_run_at is None


def test_changing_the_timing_switches_cron_and_interval(schedules):
    schedule = schedules.create(every(30))
    as_cron = schedules.update(str(schedule.id), {"cron": "0 3 * * *", "timezone": "Asia/Tokyo"})
    assert (as_cron.cron, as_cron.interval_seconds) == ("0 3 * * *", None)
    local = as_cron.next_run_at.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    assert local.hour == 3
    back = schedules.update(str(schedule.id), {"interval_seconds": 10})
    assert (back.cron, back.interval_seconds) == (None, 10)


def test_a_slot_whose_data_the_schema_now_refuses_is_skipped_and_said_so(schedules):
    schedule = schedules.create(every(2))
    Schedule.objects(id=schedule.id).update_one(set__data={"path": 5})  # a schema changed
    schedules.fire_due(schedule.next_run_at)
    after = schedules.get(str(schedule.id))
    assert "does not match the 'test.touch' schema" in after.last_error
    assert after.next_run_at == schedule.next_run_at + timedelta(seconds=2)
    assert Job.objects(created_by=f"schedule:{schedule.name}").count() == 0


class DefaultsPlugin:
    """A plugin with a job type and default schedules (one of them invalid)."""

    @hookimpl
    def register_job_types(self, settings):
        return [JobType(name="defaults.ping", processor=lambda ctx: None, schema={})]

    @hookimpl
    def default_schedules(self, settings):
        return [
            {"name": "defaults-nightly", "job_type": "defaults.ping", "cron": "0 3 * * *"},
            {"name": "defaults-broken", "job_type": "defaults.ping", "cron": "99 * * * *"},
            "not a dict",
        ]


class RaisingPlugin:
    @hookimpl
    def default_schedules(self):
        raise RuntimeError("boom")


def test_plugin_default_schedules_are_created_disabled_once(settings, jobs):
    from jobplatform.plugins.host import build_host

    host = build_host(
        entry_points=False, plugins={"defaults": DefaultsPlugin(), "raising": RaisingPlugin()}
    )
    service = ScheduleService(JobService(host, jobs.queue, jobs.stats, jobs.writer))
    Schedule.objects(name__in=["defaults-nightly", "defaults-broken"]).delete()

    assert service.ensure_defaults() == ["defaults-nightly"]
    [nightly] = Schedule.objects(name__in=["defaults-nightly", "defaults-broken"])
    assert (nightly.enabled, nightly.next_run_at, nightly.created_by) == (
        False,
        None,
        "plugin:defaults",
    )
    service.update(str(nightly.id), {"enabled": True, "cron": "0 4 * * *"})
    assert service.ensure_defaults() == []  # an existing one is left as the operator set it
    assert Schedule.objects.get(name="defaults-nightly").cron == "0 4 * * *"
