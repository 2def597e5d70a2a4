"""api/shared_reads.py: identical reads at once share one, and none answers with a read
that began before its caller asked."""

from __future__ import annotations

import asyncio

import pytest

from jobplatform.api.shared_reads import SharedReads


class Store:
    """A value that changes, read by reads the test lets finish one at a time."""

    def __init__(self):
        self.value = 0
        self.begun: list[int] = []  # the value each read saw when it began
        self.release = asyncio.Event()
        self.running = 0
        self.most_running = 0

    async def read(self) -> int:
        seen = self.value
        self.begun.append(seen)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        return seen


async def settle() -> None:
    """Let every ready task run until each waits on something the test controls."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_callers_of_a_running_read_share_the_next_one_which_begins_after_them():
    reads, store = SharedReads(slots=4), Store()
    first = [asyncio.create_task(reads.read("page", store.read)) for _ in range(3)]
    await settle()
    assert store.begun == [0]  # three callers, one read
    store.value = 1  # e.g. a job submitted after the read began
    later = [asyncio.create_task(reads.read("page", store.read)) for _ in range(5)]
    await settle()
    assert store.begun == [0]  # the later callers wait: the running read began too early
    store.release.set()
    assert await asyncio.gather(*first) == [0, 0, 0]
    assert await asyncio.gather(*later) == [1] * 5  # one more read, begun after they asked
    assert store.begun == [0, 1]


async def test_different_keys_do_not_share_and_at_most_slots_run_at_once():
    reads, store = SharedReads(slots=2), Store()
    tasks = [asyncio.create_task(reads.read(key, store.read)) for key in "abcab"]
    await settle()
    assert store.running == 2 and len(store.begun) == 2
    store.release.set()
    await asyncio.gather(*tasks)
    assert store.most_running == 2
    assert len(store.begun) == 3  # a, b and c once each: the second a and b shared


async def test_an_error_is_every_sharers_and_the_next_round_reads_again():
    reads, calls = SharedReads(slots=1), []

    async def failing() -> int:
        calls.append(1)
        await asyncio.sleep(0)
        raise LookupError("gone")

    tasks = [asyncio.create_task(reads.read("k", failing)) for _ in range(3)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(r) for r in results] == [LookupError] * 3 and len(calls) == 1

    async def fine() -> str:
        return "ok"

    assert await reads.read("k", fine) == "ok"


async def test_a_caller_that_gives_up_leaves_the_round_to_the_others():
    reads, store = SharedReads(slots=1), Store()
    leaving = asyncio.create_task(reads.read("k", store.read))
    staying = asyncio.create_task(reads.read("k", store.read))
    await settle()
    leaving.cancel()
    await settle()
    store.release.set()
    assert await staying == 0
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert store.begun == [0]
