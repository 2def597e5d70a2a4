"""The attempt counters over the last hour, 24 hours and 7 days, written through the stats
recorder with explicit times (no waiting for the clock) into a database of their own on the
session's FerretDB: each range at its resolution, the retention of each level, the cost of
a flush, and counters that stay exact when several recorders write at once."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta

import pytest
from mongoengine.connection import get_db

from jobplatform import db
from jobplatform.config import load_settings
from jobplatform.jobs import attempt_series
from jobplatform.jobs.attempt_series import UnknownRange, read_series
from jobplatform.jobs.stats import StatsRecorder, read_stats, trim_counters

NOW = datetime(2025, 3, 10, 12, 7, 30)


@pytest.fixture
def outcomes(mongo_server, mongo_uri):
    """A fresh database for each test; the session's one is connected again afterwards."""
    db.connect(load_settings(mongo_uri=f"{mongo_server}stats_{uuid.uuid4().hex[:8]}"))
    yield get_db()[attempt_series.COLLECTION]
    db.connect(load_settings(mongo_uri=mongo_uri))


def record(events: list[tuple[str, str, datetime]], owner: str) -> None:
    recorder = StatsRecorder(owner=owner)
    for job_type, outcome, at in events:
        recorder.ended(job_type, outcome, at)
    recorder.close()


def nonzero(series: dict) -> dict[str, dict[str, int]]:
    """{bucket start: {outcome: n}} of the buckets that counted something."""
    return {
        b["start"]: {o: b[o] for o in attempt_series.OUTCOMES if b[o]}
        for b in series["buckets"]
        if any(b[o] for o in attempt_series.OUTCOMES)
    }


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_each_range_adds_the_buckets_of_every_process_at_its_resolution(outcomes):
    record(
        [
            ("a", "succeeded", at("2025-03-10T12:07:20")),
            ("b", "succeeded", at("2025-03-10T12:07:01")),
            ("a", "succeeded", at("2025-03-10T11:30:10")),  # 37 minutes ago
            ("a", "cancelled", at("2025-03-09T12:20:00")),  # in the 24 hours' first quarter
            ("a", "failed", at("2025-03-09T12:10:00")),  # just before the 24 hours
            ("a", "succeeded", at("2025-03-03T13:05:00")),  # in the 7 days' first hour
            ("a", "succeeded", at("2025-03-03T12:55:00")),  # just before the 7 days
        ],
        owner="worker-1",
    )
    record(
        [
            ("a", "failed", at("2025-03-10T12:07:05")),
            ("b", "dead", at("2025-03-10T10:59:00")),  # 68 minutes ago: not in the last hour
        ],
        owner="worker-2",
    )

    hour = read_series("1h", NOW)
    assert (hour["range"], hour["bucket_seconds"], len(hour["buckets"])) == ("1h", 60, 60)
    assert hour["buckets"][0]["start"] == "2025-03-10T11:08Z"
    assert hour["buckets"][-1]["start"] == "2025-03-10T12:07Z"
    assert nonzero(hour) == {
        "2025-03-10T11:30Z": {"succeeded": 1},
        "2025-03-10T12:07Z": {"succeeded": 2, "failed": 1},
    }
    assert hour["failure_rate"] == 0.25

    day = read_series("24h", NOW)
    assert (day["bucket_seconds"], len(day["buckets"])) == (900, 96)
    assert day["buckets"][0]["start"] == "2025-03-09T12:15Z"
    assert nonzero(day) == {
        "2025-03-09T12:15Z": {"cancelled": 1},
        "2025-03-10T10:45Z": {"dead": 1},
        "2025-03-10T11:30Z": {"succeeded": 1},
        "2025-03-10T12:00Z": {"succeeded": 2, "failed": 1},
    }

    week = read_series("7d", NOW)
    assert (week["bucket_seconds"], len(week["buckets"])) == (3600, 168)
    assert week["buckets"][0]["start"] == "2025-03-03T13:00Z"
    assert week["buckets"][-1]["start"] == "2025-03-10T12:00Z"
    assert nonzero(week) == {
        "2025-03-03T13:00Z": {"succeeded": 1},
        "2025-03-09T12:00Z": {"failed": 1, "cancelled": 1},
        "2025-03-10T10:00Z": {"dead": 1},
        "2025-03-10T11:00Z": {"succeeded": 1},
        "2025-03-10T12:00Z": {"succeeded": 2, "failed": 1},
    }
    assert week["totals"] == {"succeeded": 4, "failed": 2, "dead": 1, "cancelled": 1}


def test_stats_keep_the_last_hour_for_existing_clients_and_refuse_an_unknown_range(outcomes):
    record([("a", "succeeded", at("2025-03-10T12:00:00"))], owner="worker-1")
    stats = read_stats({}, [], NOW, range_name="7d")
    assert stats["attempts"]["range"] == "7d"
    assert len(stats["last_hour"]["minutes"]) == 60
    assert stats["last_hour"]["minutes"][-8] == {
        "minute": "2025-03-10T12:00Z",
        "succeeded": 1,
        "failed": 0,
        "dead": 0,
        "cancelled": 0,
    }
    assert read_stats({}, [], NOW)["attempts"]["range"] == "1h"
    with pytest.raises(UnknownRange, match="use one of 1h, 24h, 7d"):
        read_stats({}, [], NOW, range_name="30d")


def test_counters_past_their_level_retention_are_gone(outcomes):
    # one attempt every ten minutes for nine days, all written by one process
    times = [NOW - timedelta(days=9) + timedelta(minutes=10 * i) for i in range(9 * 144)]
    record([("a", "succeeded", t) for t in times], owner="worker-1")
    before = {name: read_series(name, NOW) for name in attempt_series.RANGES}

    removed = trim_counters(NOW)

    kept = {(d["level"], d["start"]) for d in outcomes.find({}, {"level": 1, "start": 1})}
    minutes = sorted(s for level, s in kept if level == "minutes")
    quarters = sorted(s for level, s in kept if level == "quarters")
    # minutes: the hour documents that began in the last two hours (the last began 11:00)
    assert minutes == [at("2025-03-10T11:00")]
    # quarter hours: the day documents that began in the last eight days
    assert quarters == [at("2025-03-02T00:00") + timedelta(days=d) for d in range(1, 9)]
    assert removed == (9 * 24 - 1) + (10 - 8)
    assert {name: read_series(name, NOW) for name in attempt_series.RANGES} == before
    in_range = {"1h": at("2025-03-10T11:08"), "7d": at("2025-03-03T13:00")}
    for name, first in in_range.items():
        assert before[name]["totals"]["succeeded"] == len([t for t in times if t >= first])


def test_a_flush_is_one_command_a_collection_and_concurrent_recorders_lose_nothing(outcomes):
    recorders = [StatsRecorder(flush_seconds=0.01) for _ in range(4)]
    assert len({r.owner for r in recorders}) == 4  # one process's recorders are told apart

    def work(recorder: StatsRecorder) -> None:
        for i in range(300):
            job_type = ("a", "b", "c")[i % 3]
            recorder.moved(job_type, "running", "succeeded")
            recorder.ended(job_type, "succeeded", NOW - timedelta(minutes=i % 5))
            if i % 50 == 0:
                recorder.flush()  # while the flush thread runs too

    threads = [threading.Thread(target=work, args=(r,)) for r in recorders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for recorder in recorders:
        recorder.close()
    assert read_series("1h", NOW)["totals"]["succeeded"] == 1200
    assert read_series("7d", NOW)["totals"]["succeeded"] == 1200

    recorder = StatsRecorder(flush_seconds=3600)
    for job_type in ("a", "b", "c"):
        recorder.moved(job_type, "running", "succeeded")
        for minute in range(3):
            recorder.ended(job_type, "succeeded", NOW - timedelta(minutes=minute))
    before = sum(db.COMMANDS.counts().values())
    recorder.flush()
    assert sum(db.COMMANDS.counts().values()) - before == 2  # job_counts, job_outcomes
    recorder.close()
