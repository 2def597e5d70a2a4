"""Huey as the transport: one Huey queue per named queue; a message carries only a job id.

Redis backs the queues when REDIS_URI is set (many machines); otherwise a SqliteHuey file
under the data directory does (one machine, no set-up).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from huey import Huey, RedisHuey, SqliteHuey

from jobplatform.config import Settings

TASK_NAME = "run_job"


class JobQueue:
    """Creates the Huey instance of each named queue and puts job ids on them.

    `execute(job_id)` is what a worker runs for each message; processes that only
    enqueue (the web process) leave it None.
    """

    def __init__(self, settings: Settings, execute: Callable[[str], None] | None = None):
        self.settings = settings
        self._execute = execute
        self._queues: dict[str, tuple[Huey, Callable]] = {}

    def huey(self, queue: str) -> Huey:
        return self._queue(queue)[0]

    def _queue(self, queue: str) -> tuple[Huey, Callable]:
        if queue not in self._queues:
            huey = self._make_huey(f"jobplatform.{queue}")
            execute = self._execute

            def run_job(job_id: str) -> None:
                if execute is None:
                    raise RuntimeError("this process only enqueues jobs; run a worker")
                execute(job_id)

            task = huey.task(name=TASK_NAME)(run_job)
            self._queues[queue] = (huey, task)
        return self._queues[queue]

    def _make_huey(self, name: str) -> Huey:
        if self.settings.redis_uri:
            return RedisHuey(name, url=self.settings.redis_uri, results=False, utc=True)
        path = self.settings.data_dir / "queue.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path), results=False, utc=True)

    def enqueue(self, queue: str, job_id: str, *, eta: datetime | None = None,
                priority: int = 0) -> None:
        """Put `job_id` on `queue`, to run now or at `eta` (a naive UTC datetime)."""
        _, task = self._queue(queue)
        if eta is None:
            task.huey.enqueue(task.s(job_id, priority=priority))
        else:
            task.schedule(args=(job_id,), eta=eta, priority=priority)

    def pending(self, queue: str) -> int:
        return self.huey(queue).pending_count()

    def ping(self) -> None:
        """Raise if the queue's backing store cannot be reached."""
        huey = self.huey("default")
        if self.settings.redis_uri:
            huey.storage.conn.ping()
        else:
            huey.pending_count()
