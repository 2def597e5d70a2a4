"""A submission's message, and a released workflow step's, carries its job
(jobs/queue.py): the executor runs the job from it without reading it back, a cancel
revokes the message so the job never runs, and every other message names only the job's
id and is read. Real FerretDB and Redis; this process
takes and runs the messages itself (no worker serves the `tests` queue here)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from jobplatform.config import load_settings
from jobplatform.devservices import free_port
from jobplatform.jobs.batching import GroupWriter
from jobplatform.jobs.executor import Executor
from jobplatform.jobs.models import Job
from jobplatform.jobs.queue import JobQueue
from jobplatform.jobs.service import JobService
from jobplatform.jobs.stats import StatsRecorder
from jobplatform.jobs.transitions import JobTransitions
from jobplatform.jobs.workflows import cancel_workflow, submit_workflow
from jobplatform.plugins.host import build_host
from tests.engine_harness import private_engine, reload
from tests.helpers import commands_about
from tests.plugins import testjobs

AN_HOUR = 3600


@pytest.fixture(scope="module")
def engine(private_redis, mongo_server, mongo_uri, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("messages")
    with private_engine("messages", tmp, private_redis(), mongo_server, mongo_uri) as engine:
        yield engine


class Consumer:
    """A job service and an executor of this test's own on one queue object, and a way
    to take and run the next message of the `tests` queue as a worker's consumer does."""

    def __init__(self, settings):
        host = build_host(entry_points=False, plugins={"testjobs": testjobs})
        self.stats = StatsRecorder(flush_seconds=AN_HOUR)
        self.queue = JobQueue(settings, execute=lambda *message: self.executor(*message))
        transitions = JobTransitions(host, self.stats, GroupWriter(Job._get_collection), self.queue)
        self.executor = Executor(
            transitions, self.queue, "test:messages", lease_seconds=3, record_running_after=0.5
        )
        self.jobs = JobService(host, self.queue, self.stats, transitions.writer)
        self.huey = self.queue.huey(testjobs.QUEUE)

    def take(self):
        task = self.huey.dequeue()
        assert task is not None, "no message on the queue"
        return task

    def run_next(self) -> None:
        self.huey.execute(self.take())


@pytest.fixture
def consumer(engine):
    consumer = Consumer(engine.settings)
    consumer.huey.flush()  # messages an earlier test left
    yield consumer
    assert consumer.huey.pending_count() == 0, "a test left a message on the queue"
    consumer.stats.close()


def test_a_submitted_job_runs_from_its_message_without_a_read(consumer, tmp_path):
    job = consumer.jobs.submit("test.touch", {"path": str(tmp_path / "ran")})

    assert commands_about(job.id, consumer.run_next) == {"update": 1}  # its outcome only
    done = reload(str(job.id))
    assert done.state == "succeeded"
    assert [(a.number, a.outcome) for a in done.attempts] == [(1, "succeeded")]
    assert (tmp_path / "ran").read_text() == f"{job.id} 1\n"


def test_each_job_of_a_batch_runs_from_its_own_message(consumer, tmp_path):
    paths = [tmp_path / f"ran-{n}" for n in range(3)]
    jobs = consumer.jobs.submit_many(
        [
            {"name": "test.touch", "data": {"path": str(p)}, "priority": n}
            for n, p in enumerate(paths)
        ]
    )

    for job in reversed(jobs):  # the highest priority first
        assert commands_about(job.id, consumer.run_next) == {"update": 1}
    assert {reload(str(j.id)).state for j in jobs} == {"succeeded"}
    assert [p.read_text() for p in paths] == [f"{j.id} 1\n" for j in jobs]


def test_a_message_that_names_only_the_id_reads_the_job(consumer, tmp_path):
    """As the reconciler's, a retry's or a released step's message does."""
    job = consumer.jobs.submit("test.touch", {"path": str(tmp_path / "ran")})
    consumer.take()  # the submission's message is lost (a worker died with it)
    consumer.queue.enqueue(testjobs.QUEUE, str(job.id), requeued=True)

    assert commands_about(job.id, consumer.run_next) == {"find": 1, "update": 1}
    done = reload(str(job.id))
    assert done.state == "succeeded"
    assert done.attempts[0].requeued is True


def test_a_job_cancelled_while_queued_never_runs(consumer, tmp_path):
    job = consumer.jobs.submit("test.touch", {"path": str(tmp_path / "ran")})

    assert consumer.jobs.cancel(str(job.id)).state == "cancelled"
    consumer.run_next()

    assert not (tmp_path / "ran").exists()
    cancelled = reload(str(job.id))
    assert cancelled.state == "cancelled"
    assert cancelled.attempts == []
    assert not consumer.huey.is_revoked(str(job.id))  # the revocation went with the message


def test_a_workflow_cancelled_before_its_first_step_ran_runs_nothing(consumer, tmp_path):
    steps = [
        {"key": "a", "name": "test.touch", "data": {"path": str(tmp_path / "a")}},
        {"key": "b", "name": "test.touch", "data": {"path": str(tmp_path / "b")}, "after": ["a"]},
    ]
    workflow = submit_workflow(consumer.jobs, "cancel-me", steps)

    assert cancel_workflow(consumer.jobs, str(workflow.id)).state == "cancelled"
    consumer.run_next()

    assert list(tmp_path.iterdir()) == []
    assert {reload(str(s.job_id)).state for s in workflow.steps} == {"cancelled"}


def test_a_cancel_that_cannot_reach_the_queue_stands_and_keeps_what_ran(
    consumer, engine, tmp_path, caplog
):
    """The message could not be revoked, so a worker runs the job from it; the job stays
    cancelled, with the attempt on its record."""
    job = consumer.jobs.submit("test.touch", {"path": str(tmp_path / "ran")})
    unreachable = load_settings(
        mongo_uri=engine.settings.mongo_uri, redis_uri=f"redis://127.0.0.1:{free_port()}/0"
    )
    offline = JobService(consumer.jobs.host, JobQueue(unreachable), consumer.stats)

    with caplog.at_level(logging.WARNING, logger="jobplatform.jobs"):
        assert offline.cancel(str(job.id)).state == "cancelled"
    assert "its message was not revoked" in caplog.text
    consumer.run_next()

    assert Path(tmp_path / "ran").read_text() == f"{job.id} 1\n"
    cancelled = reload(str(job.id))
    assert cancelled.state == "cancelled"
    assert [(a.number, a.outcome) for a in cancelled.attempts] == [(1, "succeeded")]


def chain(consumer, tmp_path, keys: str):
    """A workflow of test.touch steps, each after the one before; its steps' job ids."""
    steps = [
        {"key": k, "name": "test.touch", "data": {"path": str(tmp_path / k)}}
        | ({"after": [keys[i - 1]]} if i else {})
        for i, k in enumerate(keys)
    ]
    workflow = submit_workflow(consumer.jobs, f"chain-{keys}", steps)
    return {s.key: str(s.job_id) for s in workflow.steps}


def test_a_released_step_runs_from_its_message_without_a_read(consumer, tmp_path):
    ids = chain(consumer, tmp_path, "abc")
    consumer.run_next()  # a, which releases b

    sent = commands_about(ids["b"], consumer.run_next)

    assert "find" not in sent and sent["update"] == 1
    assert reload(ids["b"]).state == "succeeded"
    assert (tmp_path / "b").read_text() == f"{ids['b']} 1\n"
    consumer.run_next()  # c
    assert reload(ids["c"]).state == "succeeded"


def test_a_released_step_cancelled_while_queued_never_runs(consumer, tmp_path):
    ids = chain(consumer, tmp_path, "ab")
    consumer.run_next()  # a, which releases b

    assert consumer.jobs.cancel(ids["b"]).state == "cancelled"
    consumer.run_next()

    assert not (tmp_path / "b").exists()
    assert reload(ids["b"]).attempts == []
