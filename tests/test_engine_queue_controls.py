"""Queue controls and run now with real worker processes (real Redis and FerretDB): a paused
queue holds a submitted job, across a worker restart, while other queues keep running, and
runs it once when resumed; a running job finishes while its queue is paused; run now starts
a scheduled or retrying job at once, and the message scheduled for its old time does not
run it again. The job types are tests/plugins/queuecontrols.py's, on queues of their own."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis

from jobplatform import db
from jobplatform.config import load_settings
from jobplatform.jobs.errors import InvalidTransition
from jobplatform.jobs.models import Job, utcnow
from jobplatform.jobs.queue import JobQueue, stale
from jobplatform.jobs.queue_controls import QueueControls, UnknownQueue
from jobplatform.jobs.service import JobService
from jobplatform.services import load_host
from tests.engine_harness import Engine, WorkerProcess, reload, wait_final
from tests.helpers import wait_until
from tests.plugins.queuecontrols import QUEUE_A, QUEUE_B

PLUGIN = "tests.plugins.queuecontrols"
PAUSED_LINE = f"queue {QUEUE_A} paused: this worker takes nothing new from it"


@pytest.fixture(scope="module")
def engine(private_redis, mongo_server, mongo_uri, tmp_path_factory):
    """An engine of its own (a MongoDB database and a Redis database) whose in-process
    service and workers load the queue controls' job types; runs are counted in Redis."""
    redis = private_redis()
    engine = Engine(
        tmp_path_factory.mktemp("queue-controls"),
        redis,
        f"{mongo_server}engine_queues_{uuid.uuid4().hex[:8]}",
        TESTJOBS_EXECUTIONS=f"{redis}#runs-{uuid.uuid4().hex[:8]}",
    )
    engine.env["EXTRA_PLUGINS"] = PLUGIN
    engine.settings = engine.settings.model_copy(update={"extra_plugins": PLUGIN})
    engine.jobs = JobService(load_host(engine.settings), engine.queue)
    try:
        yield engine
    finally:
        engine.close()
        db.connect(load_settings(mongo_uri=mongo_uri))


@pytest.fixture
def controls(engine) -> Iterator[QueueControls]:
    """The queue controls; afterwards every worker is stopped and `controls_a` resumed."""
    yield QueueControls(engine.jobs.host)
    for worker in engine.workers:
        worker.stop()  # kept in the list: the next worker writes a log file of its own
    QueueControls(engine.jobs.host).resume(QUEUE_A)


def start_worker(engine) -> WorkerProcess:
    """A worker serving both queues with one thread each."""
    return engine.worker("--queues", f"{QUEUE_A},{QUEUE_B}", "--concurrency", "1")


def runs(engine, job: Job) -> int:
    uri, key = engine.env["TESTJOBS_EXECUTIONS"].rsplit("#", 1)
    return int(Redis.from_url(uri).hget(key, str(job.id)) or 0)


def touch(engine, job_type: str = "controls.touch", **options) -> Job:
    path = engine.path(f"touched-{uuid.uuid4().hex[:8]}")
    return engine.jobs.submit(job_type, {"path": path}, **options)


def assert_held(engine, job: Job) -> None:
    """The job waits with no attempt, its message still on its queue."""
    now = reload(str(job.id))
    assert (now.state, now.attempt_count, now.attempts) == ("queued", 0, [])
    assert str(job.id) in engine.queue.job_ids(QUEUE_A)
    assert runs(engine, job) == 0


def test_a_paused_queue_holds_its_job_across_a_worker_restart(engine, controls):
    controls.pause(QUEUE_A, "tester")
    worker = start_worker(engine)
    worker.wait_for(PAUSED_LINE)  # read at start, before its consumers take anything
    held = touch(engine)
    other = touch(engine, "controls.other")

    assert wait_final([other.id])[str(other.id)].state == "succeeded"  # another queue runs
    assert_held(engine, held)

    worker.stop()
    start_worker(engine).wait_for(PAUSED_LINE)  # a log file of its own
    again = touch(engine, "controls.other")
    assert wait_final([again.id])[str(again.id)].state == "succeeded"
    assert_held(engine, held)
    listed = {row["name"]: row for row in controls.list()}
    assert listed[QUEUE_A]["paused"] and listed[QUEUE_A]["paused_by"] == "tester"
    assert not listed[QUEUE_B]["paused"]

    controls.resume(QUEUE_A, "tester")
    done = wait_final([held.id])[str(held.id)]

    assert done.state == "succeeded" and len(done.attempts) == 1
    assert runs(engine, held) == 1


def test_a_running_job_finishes_while_its_queue_is_paused(engine, controls):
    worker = start_worker(engine)
    started, release = Path(engine.path("hold-started")), Path(engine.path("hold-release"))
    running = engine.jobs.submit(
        "controls.hold", {"started": str(started), "release": str(release)}
    )
    wait_until(started.exists, message="the held job to start")

    controls.pause(QUEUE_A, "tester")
    worker.wait_for(PAUSED_LINE)
    waiting = touch(engine)
    release.touch()

    assert wait_final([running.id])[str(running.id)].state == "succeeded"
    marker = touch(engine, "controls.other")
    assert wait_final([marker.id])[str(marker.id)].state == "succeeded"
    assert_held(engine, waiting)

    controls.resume(QUEUE_A, "tester")
    worker.wait_for(f"queue {QUEUE_A} resumed")
    assert wait_final([waiting.id])[str(waiting.id)].state == "succeeded"
    assert runs(engine, waiting) == 1


def test_pausing_an_unknown_queue_is_refused_and_changes_nothing(engine, controls):
    before = controls.list()
    for change in (controls.pause, controls.resume):
        with pytest.raises(UnknownQueue) as refused:
            change("no-such-queue", "tester")
        assert "no job type uses a queue named 'no-such-queue'" in refused.value.message
        assert QUEUE_A in refused.value.details["known"]
    assert controls.list() == before


def retrying(job: Job, attempts: int) -> Job:
    """The job once attempt number `attempts` has failed and it waits for the next."""

    def failed() -> Job | None:
        now = reload(str(job.id))
        return now if (now.state, now.attempt_count) == ("retrying", attempts) else None

    return wait_until(failed, message=f"attempt {attempts} to fail")


def test_run_now_starts_a_retrying_job_with_a_long_backoff_at_once(engine, controls):
    start_worker(engine)
    job = engine.jobs.submit("controls.slow_retry", {"fail_times": 1})
    waiting = retrying(job, 1)
    assert waiting.run_at > utcnow() + timedelta(minutes=59)  # an hour's backoff

    assert engine.jobs.run_now(str(job.id)).state == "queued"
    done = wait_final([job.id])[str(job.id)]

    assert [a.outcome for a in done.attempts] == ["failed", "succeeded"]
    assert runs(engine, job) == 2
    with pytest.raises(InvalidTransition, match="job is succeeded; only scheduled or retrying"):
        engine.jobs.run_now(str(job.id))
    assert reload(str(job.id)).updated_at == done.updated_at


def test_run_now_starts_a_scheduled_job_once(engine, controls):
    start_worker(engine)
    job = touch(engine, delay=3600)
    assert job.state == "scheduled"

    engine.jobs.run_now(str(job.id))
    done = wait_final([job.id])[str(job.id)]

    assert done.state == "succeeded" and len(done.attempts) == 1
    assert runs(engine, job) == 1


def scheduled_etas(engine, job: Job) -> list[datetime]:
    """The etas of the job's messages waiting in Huey's schedule."""
    huey = engine.queue.huey(QUEUE_A)
    tasks = [huey.deserialize_task(item) for item in huey.storage.scheduled_items()]
    return [task.eta for task in tasks if task.args[0] == str(job.id)]


def test_the_message_for_the_old_time_does_not_run_the_job_again(engine, controls):
    """Attempt 1 fails and is given 4 s; run now starts attempt 2 at once, which fails and
    is given an hour. The message of the 4 s retry still comes, and must run nothing."""
    start_worker(engine)
    job = engine.jobs.submit("controls.stepped_retry", {"fail_times": 2})
    retrying(job, 1)
    engine.jobs.run_now(str(job.id))
    later = retrying(job, 2)
    assert later.run_at > utcnow() + timedelta(minutes=59)

    def only_the_hours_message() -> bool:
        etas = scheduled_etas(engine, job)
        return len(etas) == 1 and not stale(etas[0], later.run_at)

    wait_until(only_the_hours_message, timeout=30, message="the old message to be due")
    wait_until(lambda: engine.queue.lengths(QUEUE_A)["pending"] == 0, message="it to be taken")
    marker = touch(engine)  # one thread: once this ran, the old message has been handled
    assert wait_final([marker.id])[str(marker.id)].state == "succeeded"

    now = reload(str(job.id))
    assert (now.state, now.attempt_count) == ("retrying", 2)
    assert runs(engine, job) == 2


def test_run_now_refuses_jobs_that_are_not_waiting_for_their_time(engine):
    queued = touch(engine)
    due = touch(engine, delay=3600)
    Job.objects(id=due.id).update_one(set__run_at=utcnow())

    for job, reason in ((queued, "job is queued; only scheduled"), (due, "job is due already")):
        before = reload(str(job.id))
        with pytest.raises(InvalidTransition, match=reason):
            engine.jobs.run_now(str(job.id))
        after = reload(str(job.id))
        assert (after.state, after.run_at, after.updated_at) == (
            before.state,
            before.run_at,
            before.updated_at,
        )


def test_a_message_keeps_its_eta_whatever_the_host_time_zone(engine, monkeypatch):
    """Huey reads a naive eta as the host's local time; the queue hands it an aware one."""
    queue = JobQueue(engine.settings)
    huey = queue.huey("tz_check")
    eta = datetime(2031, 3, 9, 6, 30, 0, 250_000)  # UTC; rounded up to the second
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        queue.enqueue("tz_check", "0" * 24, eta=eta)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    [item] = huey.storage.enqueued_items()
    huey.storage.flush_queue()
    sent = huey.deserialize_task(item).eta
    assert sent == datetime(2031, 3, 9, 6, 30, 1)
    assert not stale(sent, eta)


def test_a_message_is_stale_once_its_job_has_another_time():
    run_at = datetime(2031, 1, 1, 12, 0, 0, 400_000)
    assert not stale(None, run_at) and not stale(None, None)  # to run now: always the job's
    assert not stale(datetime(2031, 1, 1, 12, 0, 1), run_at)  # its time, rounded up
    assert stale(datetime(2031, 1, 1, 12, 0, 1), None)  # run now: no time any more
    assert stale(datetime(2031, 1, 1, 12, 0, 1), run_at + timedelta(hours=1))  # retried since


def test_the_queue_file_holds_a_paused_queue_too(tmp_path):
    """Without REDIS_URI (the SQLite queue file) a held queue's dequeue answers nothing and
    leaves the message; once it is no longer held the message is taken, its eta kept."""
    paused = {"q"}
    settings = load_settings(redis_uri=None, data_dir=tmp_path)
    queue = JobQueue(settings, held=lambda name, wait=1.0: name in paused)
    eta = datetime(2031, 1, 1, 12, 0, 0, 400_000)
    queue.enqueue("q", "1" * 24, eta=eta)
    huey = queue.huey("q")

    assert huey.dequeue() is None
    assert queue.lengths("q")["pending"] == 1
    paused.clear()
    task = huey.dequeue()
    assert (task.args[0], task.eta) == ("1" * 24, datetime(2031, 1, 1, 12, 0, 1))
    assert queue.lengths("q")["pending"] == 0


def test_a_message_taken_as_the_pause_arrives_goes_back_untouched(tmp_path):
    """The consumer asked before its read (not paused yet) and again once it had a message
    (paused meanwhile): the message goes back on the queue as it was."""
    answers = iter([False, True])
    settings = load_settings(redis_uri=None, data_dir=tmp_path)
    queue = JobQueue(settings, held=lambda name, wait=1.0: next(answers))
    queue.enqueue("q", "2" * 24, priority=7)
    huey = queue.huey("q")

    assert huey.dequeue() is None
    [item] = huey.storage.enqueued_items()
    back = huey.deserialize_task(item)
    assert (back.args, back.priority) == (("2" * 24,), 7)
