"""A hook reaches the job service through `context.jobs`: here an `on_job_event` that
submits a follow-up job, on a real job service (FerretDB and a Redis queue no worker reads)."""

from __future__ import annotations

import uuid
from types import ModuleType

import pytest

from jobplatform import db
from jobplatform.config import load_settings
from jobplatform.jobs.models import Job
from jobplatform.jobs.queue import JobQueue
from jobplatform.jobs.service import JobService
from jobplatform.plugins import JobType, hookimpl
from jobplatform.plugins.host import build_host
from tests.conftest import ROOT
from tests.plugins import testjobs


def follow_ups() -> ModuleType:
    """A plugin whose `followup.start` jobs, once queued, get a `test.noop` follow-up."""
    plugin = ModuleType("followups")

    def register_job_types():
        return [JobType(name="followup.start", processor=lambda ctx: None, schema={})]

    def on_job_event(event, context):
        if event["kind"] == "queued" and event["job_type"] == "followup.start":
            context.jobs.submit("test.noop", {}, idempotency_key=f"after-{event['job_id']}")

    plugin.register_job_types = hookimpl(register_job_types)
    plugin.on_job_event = hookimpl(on_job_event)
    return plugin


@pytest.fixture
def jobs(private_redis, mongo_server, mongo_uri, tmp_path):
    settings = load_settings(
        mongo_uri=f"{mongo_server}jp_context_{uuid.uuid4().hex[:8]}",
        redis_uri=private_redis(),  # no worker reads it
        data_dir=tmp_path,
        plugins_file=ROOT / "plugins.toml",
        app_env="test",
    )
    db.connect(settings)
    host = build_host(entry_points=False, plugins={"testjobs": testjobs, "followups": follow_ups()})
    service = JobService(host, JobQueue(settings))
    yield service
    service.stats.close()
    db.connect(load_settings(mongo_uri=mongo_uri))


def test_a_hook_submits_a_job_through_its_context(jobs):
    start = jobs.submit("followup.start", {})

    follow_up = Job.objects(idempotency_key=f"after-{start.id}").first()
    assert follow_up is not None and follow_up.type == "test.noop"
    assert jobs.host.plugins["followups"].status == "loaded"
