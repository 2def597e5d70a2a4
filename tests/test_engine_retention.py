"""History retention: finished jobs older than the retention age are removed, with their
counts; newer ones, and unfinished ones however old, are kept."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobplatform.jobs.models import Job, utcnow
from jobplatform.jobs.retention import apply_retention
from jobplatform.jobs.stats import StatsRecorder, read_stats
from tests.engine_harness import private_engine


@pytest.fixture(scope="module")
def engine(private_redis, mongo_server, mongo_uri, tmp_path_factory):
    with private_engine(
        "retention", tmp_path_factory.mktemp("retention"), private_redis(), mongo_server, mongo_uri
    ) as engine:
        yield engine


def test_retention_removes_only_old_finished_jobs(engine):
    now = utcnow()
    old, recent, waiting = (engine.jobs.submit("test.noop", {}, delay=3600) for _ in range(3))
    for job, finished in ((old, now - timedelta(days=31)), (recent, now - timedelta(days=29))):
        engine.jobs.cancel(str(job.id))
        Job.objects(id=job.id).update_one(set__finished_at=finished)
    Job.objects(id=waiting.id).update_one(set__created_at=now - timedelta(days=90))
    stats = StatsRecorder()

    removed = apply_retention(30, stats, now)

    assert removed >= 1
    assert Job.objects(id=old.id).first() is None
    assert Job.objects(id=recent.id).first().state == "cancelled"
    assert Job.objects(id=waiting.id).first().state == "scheduled"
    engine.jobs.stats.flush()
    stats.flush()
    counts = read_stats({}, [])["by_type"]["test.noop"]
    assert counts["cancelled"] == Job.objects(type="test.noop", state="cancelled").count()
