"""The worker process: Huey consumers for the named queues, running jobs through the executor.

SIGTERM or SIGINT stops taking new jobs; running jobs get the grace period to finish.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading

from huey.consumer import Consumer

from jobplatform import db
from jobplatform.config import Settings
from jobplatform.jobs.executor import Executor
from jobplatform.jobs.queue import JobQueue
from jobplatform.plugins.host import PluginHost

log = logging.getLogger("jobplatform.worker")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_worker(settings: Settings, host: PluginHost, queues: list[str] | None = None,
               concurrency: int | None = None, grace_seconds: float = 30.0) -> None:
    """Serve `queues` (default: every queue a loaded job type uses) until a stop signal."""
    db.connect(settings)
    names = queues or sorted({t.queue for t in host.job_types.values()} | {"default"})
    threads = concurrency or settings.worker_concurrency
    executor: Executor | None = None
    queue = JobQueue(settings, execute=lambda job_id: executor(job_id))
    executor = Executor(host, queue, worker_id())
    consumers = [
        Consumer(queue.huey(name), workers=threads, worker_type="thread", periodic=False,
                 initial_delay=0.05, backoff=1.5, max_delay=0.5, scheduler_interval=1,
                 shutdown_timeout=grace_seconds)
        for name in names
    ]
    for consumer in consumers:
        consumer.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("worker %s serving queues %s with %d threads each", executor.worker_id,
             ",".join(names), threads)
    print(f"worker {executor.worker_id} ready: queues {','.join(names)}", flush=True)
    while not stop.wait(5):
        for consumer in consumers:
            consumer.check_worker_health()
    log.info("worker stopping: no new jobs; waiting up to %ss for running ones", grace_seconds)
    for consumer in consumers:
        consumer.stop(graceful=True)
    log.info("worker stopped")
