"""The worker process: Huey consumers for the named queues, running jobs through the executor.

Beside the consumers it runs a heartbeat (the live-workers list), the reconciler (which
acts only while this process holds its lock) and the stats flusher.

SIGTERM or SIGINT stops taking new jobs (a message taken after that goes back on its
queue untouched); running jobs get the grace period to finish; a job still running
after it is put back on its queue, its interrupted attempt on record; then the process
exits.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

from huey.consumer import Consumer

from jobplatform import db
from jobplatform.config import Settings
from jobplatform.jobs.batching import GroupWriter
from jobplatform.jobs.executor import Executor
from jobplatform.jobs.heartbeat import Heartbeat
from jobplatform.jobs.limits import JobLimits
from jobplatform.jobs.models import Job
from jobplatform.jobs.queue import JobQueue
from jobplatform.jobs.queue_controls import PauseWatch
from jobplatform.jobs.reconciler import Reconciler
from jobplatform.jobs.service import JobService
from jobplatform.jobs.stats import StatsRecorder
from jobplatform.jobs.transitions import JobTransitions
from jobplatform.plugins.host import PluginHost

log = logging.getLogger("jobplatform.worker")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def record_running_after(settings: Settings) -> float:
    """How long an attempt runs before it is recorded as running: well within its lease
    and well before the reconciler would take its job for one whose message was lost."""
    return min(1.0, settings.lease_seconds / 3, settings.requeue_after_seconds / 4)


def run_worker(
    settings: Settings,
    host: PluginHost,
    queues: list[str] | None = None,
    concurrency: int | None = None,
    grace_seconds: float = 30.0,
) -> None:
    """Serve `queues` (default: every queue a loaded job type uses) until a stop signal."""
    db.connect(settings)
    names = queues or sorted({t.queue for t in host.job_types.values()} | {"default"})
    threads = concurrency or settings.worker_concurrency
    me = worker_id()
    stats = StatsRecorder()
    executor: Executor | None = None
    # the paused queues, read before any consumer starts: they take nothing from those
    pauses = PauseWatch(names).start()
    queue = JobQueue(settings, execute=lambda *message: executor(*message), held=pauses.holds)
    transitions = JobTransitions(host, stats, GroupWriter(Job._get_collection), queue)
    JobService(host, queue, stats, transitions.writer)  # what hooks reach as `context.jobs`
    executor = Executor(
        transitions,
        queue,
        me,
        lease_seconds=settings.lease_seconds,
        record_running_after=record_running_after(settings),
        limits=JobLimits.for_host(host, settings),
    )
    consumers = _start_consumers(queue, names, threads, grace_seconds)
    heartbeat = Heartbeat(
        me, names, threads, lambda: sorted(executor.running), settings.heartbeat_seconds
    ).start()
    reconciler = Reconciler(settings, transitions, queue, owner=me).start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("worker %s serving queues %s with %d threads each", me, ",".join(names), threads)
    print(f"worker {me} ready: queues {','.join(names)}", flush=True)
    while not stop.wait(5):
        for consumer in consumers:
            consumer.check_worker_health()
    print(f"worker {me} stopping: no new jobs; running jobs get {grace_seconds:g}s", flush=True)
    log.info("worker stopping: no new jobs; waiting up to %ss for running ones", grace_seconds)
    executor.stopping.set()
    _stop_consumers(consumers, grace_seconds)
    _put_back_unfinished(executor, grace_seconds)
    reconciler.stop()
    pauses.stop()
    heartbeat.stop()
    stats.close()
    log.info("worker stopped")
    print(f"worker {me} stopped", flush=True)


def _start_consumers(
    queue: JobQueue, names: list[str], threads: int, grace_seconds: float
) -> list[Consumer]:
    """One Huey consumer a queue, each with `threads` threads, polling quickly when idle."""
    consumers = [
        Consumer(
            queue.huey(name),
            workers=threads,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            backoff=1.5,
            max_delay=0.5,
            scheduler_interval=1,
            shutdown_timeout=grace_seconds,
        )
        for name in names
    ]
    for consumer in consumers:
        consumer.start()
    return consumers


def _put_back_unfinished(executor: Executor, grace_seconds: float) -> None:
    for job_id in list(executor.running):
        if executor.put_back(
            job_id,
            f"the worker shut down and the attempt did not finish "
            f"within the {grace_seconds:g}s grace period",
        ):
            log.warning("job %s did not finish in time; put back on its queue", job_id)


def _stop_consumers(consumers: list[Consumer], grace_seconds: float) -> None:
    """Stop every consumer taking messages, then wait for their running jobs, all within
    one grace period."""
    for consumer in consumers:
        consumer.stop_flag.set()
    deadline = time.monotonic() + grace_seconds
    for consumer in consumers:
        consumer.shutdown_timeout = max(deadline - time.monotonic(), 0)
        consumer.stop(graceful=True)
