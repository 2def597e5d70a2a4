"""Small test helpers: waiting on a condition with a deadline (never a bare sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

T = TypeVar("T")


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


async def eventually(
    probe: Callable[[], object], *, timeout: float = 10.0, message: str = "condition"
) -> None:
    """`wait_until` for async tests: await `probe()` becoming true while the event loop runs."""
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"timed out after {timeout:g}s waiting for {message}"
        await asyncio.sleep(0.05)


def private_redis_db(uri: str, number: int) -> str:
    """`uri` with another Redis database number: keys (queues, rate limits) of their own."""
    return urlunsplit(urlsplit(uri)._replace(path=f"/{number}"))
