"""Identical reads asked for at the same time share one read.

A request that arrives while the same read (same key) is running does not take that
read's answer: the read began before the request arrived, so it could miss a job the
caller has just submitted. It joins the next round instead, which starts when the running
one ends, together with every other request that arrived meanwhile. So each answer comes
from a read that began after its request arrived, as without sharing, and fifty clients
polling the same first page of the job list cost about one read a round instead of fifty.

At most `slots` distinct reads run at once; the others wait their turn on the event
loop, holding no thread. A read's error is every sharer's error. A caller that gives up
(its client went away) leaves the round running for the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class SharedReads:
    """The rounds of one event loop, by key."""

    def __init__(self, slots: int):
        self._slots = asyncio.Semaphore(slots)
        self._next: dict[Hashable, asyncio.Task] = {}  # gathering callers, not begun
        self._running: dict[Hashable, asyncio.Task] = {}

    async def read(self, key: Hashable, read: Callable[[], Awaitable[Any]]) -> Any:
        """`await read()` in the round that starts after this call, shared with every
        caller of the same key that joined it."""
        round_ = self._next.get(key)
        if round_ is None or round_.done():  # done before it began: cancelled
            round_ = asyncio.ensure_future(self._round(key, self._running.get(key), read))
            round_.add_done_callback(_retrieve)
            self._next[key] = round_
        return await asyncio.shield(round_)

    async def _round(self, key: Hashable, previous: asyncio.Task | None, read) -> Any:
        if previous is not None:
            await asyncio.wait([previous])
        me = asyncio.current_task()
        del self._next[key]  # from now on, callers gather for the round after this one
        self._running[key] = me
        try:
            async with self._slots:
                return await read()
        finally:
            if self._running.get(key) is me:
                del self._running[key]


def _retrieve(round_: asyncio.Task) -> None:
    """Mark a failed round's error as seen: every sharer may have gone away."""
    if not round_.cancelled():
        round_.exception()
