"""Small test helpers: waiting on a condition with a deadline (never a bare sleep), running
the `jobplatform` command, checking a crash test's executions against the history, and
ids of jobs made in the past."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


def object_id_at(when: datetime):
    """A new ObjectId whose time is `when` (naive UTC), as one made then would have: a job's
    id says when it was created, and retention and the reconciler rely on it."""
    from bson import ObjectId

    seconds = int(when.replace(tzinfo=UTC).timestamp())
    return ObjectId(seconds.to_bytes(4, "big") + os.urandom(8))


def wait_until(
    probe: Callable[[], T],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Call `probe` until it returns something truthy; return that, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {message}; last value {last!r}")


def within_one_rate_window(seconds: float = 20.0) -> None:
    """Wait until the current minute has `seconds` left: the rate limits count in fixed
    minute windows, so a burst that straddles a minute's end would start counting again."""
    wait_until(
        lambda: time.time() % 60 < 60 - seconds,
        timeout=seconds + 1,
        interval=0.2,
        message=f"a minute with {seconds:g}s left",
    )


async def eventually(
    probe: Callable[[], object], *, timeout: float = 10.0, message: str = "condition"
) -> None:
    """`wait_until` for async tests: await `probe()` becoming true while the event loop runs."""
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"timed out after {timeout:g}s waiting for {message}"
        await asyncio.sleep(0.05)


def redis_database(uri: str, number: int) -> str:
    """`uri` with another Redis database number (tests get theirs from `private_redis`)."""
    return urlunsplit(urlsplit(uri)._replace(path=f"/{number}"))


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, stdin: str = ""
) -> subprocess.CompletedProcess:
    """Run `python -m jobplatform *args` to its end, capturing its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "jobplatform", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_runs_explained(
    runs: Mapping[str, int],
    attempts: Mapping[str, Iterable[tuple[str | None, bool]]],
    *,
    crashed: bool,
) -> None:
    """Each job ran once per recorded attempt; only where a crash made it unavoidable,
    once more for each attempt whose record says so (`lost` before it, or `requeued`:
    an earlier delivery ran unrecorded). Without a crash, every job ran exactly once.
    `runs` is {job id: executions}; `attempts` is {job id: [(outcome, requeued), ...]}."""
    for job_id, history in attempts.items():
        history = list(history)
        recorded = len([o for o, _ in history if o != "lost"])
        lost = len([o for o, _ in history if o == "lost"])
        requeued = len([r for _, r in history if r])
        ran = runs.get(job_id, 0)
        assert recorded <= ran <= recorded + lost + requeued, (job_id, ran, history)
        if not crashed:
            assert ran == 1, (job_id, ran, history)


def commands_about(job_id: object, action: Callable[[], object]) -> dict[str, int]:
    """The MongoDB commands, by name, that this process sent about one job while `action`
    ran: those whose body names the job's id. Other threads of the test process (a stats
    flush, another fixture's app) send commands of their own at any moment, which a plain
    difference of `jobplatform.db.COMMANDS` would count too."""
    from jobplatform import db

    needle, lock, seen = str(job_id), threading.Lock(), Counter()
    counted = db.COMMANDS.started

    def started(event) -> None:
        counted(event)
        if needle in repr(event.command):
            with lock:
                seen[event.command_name] += 1

    db.COMMANDS.started = started  # pymongo looks the method up at every event
    try:
        action()
    finally:
        del db.COMMANDS.started
    return dict(seen)
