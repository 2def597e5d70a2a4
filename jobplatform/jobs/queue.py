"""Huey as the transport: one Huey queue per named queue; a message names a job by its id.

The message of a job just submitted, or of a workflow step just released, also carries
the job as it was stored (`enqueue_many`), so that the executor need not read it
back: such a message is named by the job's id, and a cancel of the waiting job revokes it
(`withdraw`). Every other message (a retry, run now, the reconciler's) carries only the
id, and the executor reads the job. A message put back on its queue loses the job it
carried (see `put_back`).

Redis backs the queues when REDIS_URI is set (many machines); otherwise a SqliteHuey file
under the data directory does (one machine, no set-up). Both honour message priorities
(on Redis, Huey's priority queue: a sorted set).

A message scheduled for later keeps its eta; once the job it names has another time (it
was run now, or failed again and was given a later retry), the message is stale and the
executor drops it (`stale`): the job's own message runs it.

A message taken and not run goes back on its queue by `put_back`: as it was (a message
taken as its queue is paused), or for later (one its job type's limits hold back, see
jobs/limits.py: it then also carries `held_back`, its job type, its own eta and how often it
was held, so that the next delivery asks the limits before reading the job).
"""

from __future__ import annotations

import struct
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from huey import Huey, PriorityRedisHuey, SqliteHuey
from huey.storage import PriorityRedisStorage

from jobplatform.config import Settings
from jobplatform.jobs.run import run_view

TASK_NAME = "run_job"


class HeldBack(Exception):
    """Raised by `execute`: the message's job may not start yet; put the message back for
    `delay` seconds, marked as held back by `job_type`'s limits for the `times`-th time."""

    def __init__(self, job_type: str, delay: float, times: int):
        super().__init__(f"held back by the limits of {job_type} for {delay:.2f}s")
        self.job_type = job_type
        self.delay = delay
        self.times = times


def stale(eta: datetime | None, run_at: datetime | None) -> bool:
    """Whether a message scheduled for `eta` is no longer the one of a job due at `run_at`:
    `enqueue` gives a message the job's time rounded up to the second, so a message of
    the job's current time has an eta from run_at to a second after it."""
    if eta is None:
        return False  # a message to run now: every such message is the job's own
    return run_at is None or not timedelta(0) <= eta - run_at <= timedelta(seconds=1)


class JobQueue:
    """Creates the Huey instance of each named queue and puts job ids on them.

    `execute(job_id, requeued, eta, held_back, job)` is what a worker runs for each message
    (it may raise `HeldBack`); processes that only enqueue (the web process) leave it None.
    A worker passes `held(queue, wait)`, true while the queue is paused
    (`PauseWatch.holds`): its consumers then take nothing from that queue, and its
    messages stay on it untouched.
    """

    def __init__(
        self,
        settings: Settings,
        execute: Callable[..., None] | None = None,
        held: Callable[..., bool] | None = None,
    ):
        self.settings = settings
        self._execute = execute
        self._held = held
        self._queues: dict[str, tuple[Huey, Callable]] = {}

    def huey(self, queue: str) -> Huey:
        return self._queue(queue)[0]

    def _queue(self, queue: str) -> tuple[Huey, Callable]:
        if queue not in self._queues:
            huey = self._make_huey(f"jobplatform.{queue}")
            execute = self._execute

            def run_job(
                job_id: str,
                requeued: bool = False,
                held_back: dict | None = None,
                job: dict | None = None,
                task=None,
            ) -> None:
                if execute is None:
                    raise RuntimeError("this process only enqueues jobs; run a worker")
                # a message held back keeps its own eta: its schedule's is the time it returns
                eta = held_back["eta"] if held_back else task.eta if task is not None else None
                try:
                    execute(job_id, requeued, eta, held_back, job)
                except HeldBack as back:
                    mark = {"type": back.job_type, "eta": eta, "times": back.times}
                    task.kwargs["held_back"] = mark
                    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=back.delay)
                    put_back(huey, task, later)

            task = huey.task(name=TASK_NAME, context=True)(run_job)
            if self._held is not None:
                huey.dequeue = _unless_held(huey, queue, self._held)
            self._queues[queue] = (huey, task)
        return self._queues[queue]

    def _make_huey(self, name: str) -> Huey:
        if self.settings.redis_uri:
            return PriorityRedisHuey(name, url=self.settings.redis_uri, results=False, utc=True)
        path = self.settings.data_dir / "queue.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path), results=False, utc=True)

    def enqueue(
        self,
        queue: str,
        job_id: str,
        *,
        eta: datetime | None = None,
        priority: int = 0,
        requeued: bool = False,
    ) -> None:
        """Put `job_id` on `queue`, to run now or at `eta` (a naive UTC datetime).

        Huey's Redis schedule keeps whole seconds (it truncates), so `eta` is rounded up to
        the next second: a job never starts before its time, and at most about two seconds
        after it (the rounding plus the scheduler's one-second tick).
        """
        _, task = self._queue(queue)
        args = (job_id, True) if requeued else (job_id,)
        if eta is None:
            task.huey.enqueue(task.s(*args, priority=priority))
        else:
            whole = eta.replace(microsecond=0)
            eta = whole if whole == eta else whole + timedelta(seconds=1)
            # aware: Huey reads a naive eta as the host's local time
            task.schedule(args=args, eta=eta.replace(tzinfo=UTC), priority=priority)

    def enqueue_many(self, jobs: list[dict[str, Any]]) -> None:
        """Put jobs just stored or released (their documents) on their queues to run now, in
        that order, one command a queue; each message carries its job (without its history,
        `run_view`) and is named by its id.

        On Redis this is one ZADD: Huey's priority storage keeps a message as an 8-byte
        big-endian microsecond stamp followed by the serialised task, scored by minus its
        priority, and orders equal priorities by that stamp; each message here gets the
        next microsecond, so they keep their order. The SQLite queue takes them one by one.
        """
        by_queue: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for job in jobs:
            by_queue[job["queue"]].append(job)
        for queue, queued in by_queue.items():
            huey, task = self._queue(queue)
            messages = [_carrying(task, job) for job in queued]
            if not isinstance(huey.storage, PriorityRedisStorage):
                for message in messages:
                    huey.enqueue(message)
                continue
            stamp = int(time.time() * 1e6)
            members = {
                struct.pack(">Q", stamp + i) + huey.serialize_task(message): -message.priority
                for i, message in enumerate(messages)
            }
            huey.storage.conn.zadd(huey.storage.queue_key, members)

    def withdraw(self, queue: str, job_id: str) -> None:
        """Revoke, once, the message that carries job `job_id` (named by the job's id; see
        the module's docstring), so that no worker runs the job from it. Huey
        drops the revocation when it meets that message; one left behind (there was no such
        message waiting) costs a few bytes of the queue's storage."""
        self.huey(queue).revoke_by_id(job_id, revoke_once=True)

    def pending(self, queue: str) -> int:
        return self.huey(queue).pending_count()

    def lengths(self, queue: str) -> dict[str, int]:
        """Messages waiting to be taken, and messages waiting for their eta."""
        storage = self.huey(queue).storage
        return {"pending": storage.queue_size(), "scheduled": storage.schedule_size()}

    def job_ids(self, queue: str) -> set[str]:
        """The job ids of every message on `queue`, waiting or scheduled (reads them all)."""
        huey = self.huey(queue)
        raw = huey.storage.enqueued_items() + huey.storage.scheduled_items()
        return {huey.serializer.deserialize(item).args[0] for item in raw}

    def ping(self) -> None:
        """Raise if the queue's backing store cannot be reached."""
        huey = self.huey("default")
        if self.settings.redis_uri:
            huey.storage.conn.ping()
        else:
            huey.pending_count()


def _carrying(task, job: dict[str, Any]):
    """A message to run `job` now that carries it and is named by its id."""
    job_id = str(job["_id"])
    return task.s(job_id, job=run_view(job), id=job_id, priority=job["priority"])


def _unless_held(huey: Huey, queue: str, held: Callable[..., bool]) -> Callable:
    """Huey's dequeue of `huey`, answering "nothing to take" while `held(queue)` (which
    waits a moment first, so a consumer polling a paused queue does not spin). A message
    taken while the queue was being paused (the read blocks up to a second) goes back on
    the queue untouched."""
    dequeue = huey.dequeue

    def dequeue_unless_held():
        if held(queue):
            return None
        task = dequeue()
        if task is not None and held(queue, 0):
            put_back(huey, task)
            return None
        return task

    return dequeue_unless_held


def put_back(huey: Huey, task, eta: datetime | None = None) -> None:
    """Put a message taken from `huey`'s queue back on it: as it was, or (`eta`, naive UTC)
    in the queue's schedule, from which the consumers' scheduler returns it once due (it
    reads the schedule once a second). Its priority and id are kept; the job it carried
    is not: the job may change while the message waits, so its next delivery reads it
    (Huey also forgets a revocation made while the message was being run)."""
    task.kwargs.pop("job", None)
    if eta is None:
        huey.enqueue(task)
        return
    task.eta = eta
    huey.add_schedule(task)
