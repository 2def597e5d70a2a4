"""History retention: finished jobs older than the retention age are removed, with their
counts; newer ones, and unfinished ones however old, are kept. A job's id says when it was
created, and retention reads only ids older than the age."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobplatform.jobs.models import Job, utcnow
from jobplatform.jobs.retention import apply_retention
from jobplatform.jobs.stats import StatsRecorder, read_stats
from tests.engine_harness import private_engine
from tests.helpers import object_id_at


@pytest.fixture(scope="module")
def engine(private_redis, mongo_server, mongo_uri, tmp_path_factory):
    with private_engine(
        "retention", tmp_path_factory.mktemp("retention"), private_redis(), mongo_server, mongo_uri
    ) as engine:
        yield engine


def made_at(job: Job, when) -> Job:
    """The job, as if created (and, if finished, finished) at `when`: its document moved
    to an id of that time, as such a job's would be."""
    jobs = Job._get_collection()
    document = jobs.find_one({"_id": job.id})
    jobs.delete_one({"_id": job.id})
    document.update(_id=object_id_at(when), created_at=when, updated_at=when)
    if document.get("finished_at"):
        document["finished_at"] = when
    jobs.insert_one(document)
    return Job.objects.get(id=document["_id"])


def test_retention_removes_only_old_finished_jobs(engine):
    now = utcnow()
    old, recent, waiting, imported = (
        engine.jobs.submit("test.noop", {}, delay=3600) for _ in range(4)
    )
    for job in (old, recent, imported):
        engine.jobs.cancel(str(job.id))
    old = made_at(old, now - timedelta(days=31))
    recent = made_at(recent, now - timedelta(days=29))
    waiting = made_at(waiting, now - timedelta(days=90))
    # finished long ago by its record, but its id is new (copied in from elsewhere): it
    # is kept until its id is as old too
    Job.objects(id=imported.id).update_one(set__finished_at=now - timedelta(days=31))
    stats = StatsRecorder()

    removed = apply_retention(30, stats, now)

    assert removed >= 1
    assert Job.objects(id=old.id).first() is None
    assert Job.objects(id=recent.id).first().state == "cancelled"
    assert Job.objects(id=waiting.id).first().state == "scheduled"
    assert Job.objects(id=imported.id).first().state == "cancelled"
    engine.jobs.stats.flush()
    stats.flush()
    counts = read_stats({}, [])["by_type"]["test.noop"]
    assert counts["cancelled"] == Job.objects(type="test.noop", state="cancelled").count()
