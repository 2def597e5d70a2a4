"""The threads that run processors, kept for the next attempt.

The executor runs each processor apart from the consumer thread, so that it can renew the
attempt's lease, notice a cancel and give up at the job's timeout while the processor
runs. Starting a thread costs about 60 µs of CPU, more than a no-op job's processor and a
seventh of the worker's whole share of it, so a thread whose processor returned waits
for the next one instead of ending. A processor abandoned at its timeout keeps its thread
until it returns (Python cannot stop a thread); meanwhile another thread serves, started
when no idle one is left.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger("jobplatform.worker")


class Runners:
    def __init__(self) -> None:
        self._idle: list[_Runner] = []
        self._lock = threading.Lock()
        self._started = 0

    def run(self, target: Callable[[], None]) -> threading.Event:
        """Run `target` (which must not raise) in an idle thread, or a new one; the event
        is set once it has returned."""
        with self._lock:
            runner = self._idle.pop() if self._idle else None
            if runner is None:
                self._started += 1
                runner = _Runner(self, f"job-runner-{self._started}")
        return runner.give(target)

    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def _rest(self, runner: _Runner) -> None:
        with self._lock:
            self._idle.append(runner)


class _Runner:
    def __init__(self, pool: Runners, name: str):
        self._pool = pool
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def give(self, target: Callable[[], None]) -> threading.Event:
        done = threading.Event()
        self._work.put((target, done))
        return done

    def _serve(self) -> None:
        while True:
            target, done = self._work.get()
            try:
                target()
            except BaseException:  # noqa: BLE001 - a target's bug must not end its runner
                log.exception("a processor's runner caught what its target raised")
            self._pool._rest(self)  # idle before the waiter wakes, so that it can be reused
            done.set()
