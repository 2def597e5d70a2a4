"""Huey as the transport: one Huey queue per named queue; a message carries only a job id.

Redis backs the queues when REDIS_URI is set (many machines); otherwise a SqliteHuey file
under the data directory does (one machine, no set-up). Both honour message priorities
(on Redis, Huey's priority queue: a sorted set).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from huey import Huey, PriorityRedisHuey, SqliteHuey
from huey.storage import PriorityRedisStorage

from jobplatform.config import Settings

TASK_NAME = "run_job"


class JobQueue:
    """Creates the Huey instance of each named queue and puts job ids on them.

    `execute(job_id)` is what a worker runs for each message; processes that only
    enqueue (the web process) leave it None.
    """

    def __init__(self, settings: Settings, execute: Callable[..., None] | None = None):
        self.settings = settings
        self._execute = execute
        self._queues: dict[str, tuple[Huey, Callable]] = {}

    def huey(self, queue: str) -> Huey:
        return self._queue(queue)[0]

    def _queue(self, queue: str) -> tuple[Huey, Callable]:
        if queue not in self._queues:
            huey = self._make_huey(f"jobplatform.{queue}")
            execute = self._execute

            def run_job(job_id: str, requeued: bool = False) -> None:
                if execute is None:
                    raise RuntimeError("this process only enqueues jobs; run a worker")
                execute(job_id, requeued)

            task = huey.task(name=TASK_NAME)(run_job)
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
            task.schedule(args=args, eta=eta, priority=priority)

    def enqueue_many(self, queue: str, messages: list[tuple[str, int]]) -> None:
        """Put (job id, priority) messages to run now on `queue`, in that order.

        On Redis this is one ZADD: Huey's priority storage keeps a message as an 8-byte
        big-endian microsecond stamp followed by the serialised task, scored by minus its
        priority, and orders equal priorities by that stamp; each message here gets the
        next microsecond, so they keep their order. The SQLite queue takes them one by one.
        """
        huey, task = self._queue(queue)
        if not isinstance(huey.storage, PriorityRedisStorage):
            for job_id, priority in messages:
                huey.enqueue(task.s(job_id, priority=priority))
            return
        stamp = int(time.time() * 1e6)
        members = {
            struct.pack(">Q", stamp + i) + huey.serialize_task(task.s(job_id)): -priority
            for i, (job_id, priority) in enumerate(messages)
        }
        huey.storage.conn.zadd(huey.storage.queue_key, members)

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
