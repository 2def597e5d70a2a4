"""Rate and concurrency limits per job type, across all workers: the rules.

A job type may declare `rate_limit` (at most N starts in any period, "10/s") and
`concurrency_limit` (at most M running at once), in its plugin or in plugins.toml; they
are counted in a `LimitStore` (jobs/limit_store.py: Redis, or a SQLite file on one
machine). The executor asks `JobLimits.admit` before an attempt starts:

- a type without limits is not asked about at all: its jobs cost what they always did;
- an admitted start is counted and, under a concurrency limit, holds a slot (`Slot`) that
  the executor renews with the attempt's lease and releases when the attempt ends,
  however it ends; a worker that crashed holding one frees it when its lease runs out;
- a refused start raises `HeldBack`: the queue puts the message back for a moment
  (`hold_delay`), the job stays `queued`, nothing is written to its history, and no
  attempt is spent. The message then carries its job type, so its next delivery asks
  the limits before reading the job from MongoDB.

A rate limit that frees a start within `WAIT_IN_THREAD` seconds is waited for in the
worker's thread instead, then asked once more: a message returns from the queue's
schedule on Huey's one-second tick, so without this a "5/s" limit would run about 5
jobs every two seconds. Like `record_running_after` (jobs/worker.py) that wait is at most
a quarter of REQUEUE_AFTER_SECONDS, so the reconciler never takes a message held in a
thread for one that was lost. If the store cannot be reached, starts are held back
(logged), not let through: a limit often protects something that must not be overrun.

An admitted attempt's `started_at` is the moment it was admitted: on a message held back
before, that comes before the job is read, and the rate limit holds for those times.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jobplatform.config import Settings
from jobplatform.jobs.limit_store import LimitStore, LimitStoreDown, Refusal, build_limit_store
from jobplatform.jobs.models import utcnow
from jobplatform.jobs.queue import HeldBack
from jobplatform.plugins.host import PluginHost
from jobplatform.plugins.jobtype import JobType, RateLimit

log = logging.getLogger("jobplatform.limits")
HOLD_SECONDS = 0.5  # the least a held-back message waits on the queue
HOLD_SPREAD_SECONDS = 10.0  # at most this much more, for a message held back many times
WAIT_IN_THREAD = 0.5  # a rate limit's start this close is waited for, not put back for
STORE_DOWN_SECONDS = 5.0


@dataclass(frozen=True)
class Slot:
    """An admitted start of one attempt; `holds` if it took a concurrency slot."""

    job_type: str
    token: str
    holds: bool
    admitted_at: datetime = field(default_factory=utcnow)


def hold_delay(
    wait: float | None,
    times: int,
    in_thread: float = WAIT_IN_THREAD,
    rng: random.Random | None = None,
) -> float:
    """Seconds a message held back for the `times`-th time stays off its queue: until the
    rate limit frees a start (less the `in_thread` seconds a thread waits for one), or
    HOLD_SECONDS for a concurrency limit (a slot frees when an attempt ends, which no one
    can foretell); spread by up to HOLD_SECONDS a time it was held before (at most
    HOLD_SPREAD_SECONDS), so a backlog of held messages comes back spread out."""
    base = max((wait or 0.0) - in_thread, HOLD_SECONDS)
    spread = min(HOLD_SECONDS * (times - 1), HOLD_SPREAD_SECONDS)
    return base + (rng or random).uniform(0, max(spread, 0.0))


class JobLimits:
    """The limits of the loaded job types, admitted and counted in one store."""

    def __init__(
        self,
        host: PluginHost,
        store: LimitStore | None,
        lease_seconds: float,
        wait_in_thread: float = WAIT_IN_THREAD,
    ):
        self.limits: dict[str, tuple[RateLimit | None, int | None]] = {
            name: (job_type.rate, job_type.concurrency_limit)
            for name, job_type in host.job_types.items()
            if job_type.limited
        }
        if self.limits and store is None:
            raise ValueError("job types with limits need a limit store")
        self.store = store
        self.lease_seconds = lease_seconds
        self.wait_in_thread = wait_in_thread

    @classmethod
    def for_host(cls, host: PluginHost, settings: Settings) -> JobLimits:
        """The limits of `host`'s job types, in the store of `settings` (built only if a
        type has limits)."""
        limited = any(job_type.limited for job_type in host.job_types.values())
        store = build_limit_store(settings) if limited else None
        in_thread = min(WAIT_IN_THREAD, settings.requeue_after_seconds / 4)
        return cls(host, store, settings.lease_seconds, in_thread)

    def admit(self, job_type: str, job_id: str, times: int = 0) -> Slot | None:
        """Count a start of `job_type` now; the slot it holds, None for a type without
        limits. Raises `HeldBack` (held back `times` times before) if a limit refuses."""
        limits = self.limits.get(job_type)
        if limits is None:
            return None
        rate, concurrency = limits
        token = f"{job_id}:{uuid.uuid4().hex[:12]}"
        try:
            refusal = self._acquire(job_type, token, rate, concurrency)
        except LimitStoreDown as exc:
            log.warning("job %s: its limits cannot be checked (%s); held back", job_id, exc)
            raise HeldBack(job_type, STORE_DOWN_SECONDS, times + 1) from None
        if refusal is not None:
            delay = hold_delay(refusal.wait, times + 1, self.wait_in_thread)
            log.debug("job %s held back by its %s limit for %.2fs", job_id, refusal.reason, delay)
            raise HeldBack(job_type, delay, times + 1)
        return Slot(job_type, token, holds=concurrency is not None)

    def _acquire(
        self, job_type: str, token: str, rate: RateLimit | None, concurrency: int | None
    ) -> Refusal | None:
        refusal = self.store.acquire(job_type, token, rate, concurrency, self.lease_seconds)
        if refusal is not None and refusal.wait is not None and refusal.wait <= self.wait_in_thread:
            time.sleep(max(refusal.wait, 0.0))  # the window frees a start in a moment
            refusal = self.store.acquire(job_type, token, rate, concurrency, self.lease_seconds)
        return refusal

    def renew(self, slot: Slot | None) -> None:
        """Keep a running attempt's slot taken for another lease."""
        if slot is None or not slot.holds:
            return
        try:
            self.store.renew(slot.job_type, slot.token, self.lease_seconds)
        except LimitStoreDown as exc:
            log.warning("could not renew a %s slot (%s); trying again", slot.job_type, exc)

    def release(self, slot: Slot | None) -> None:
        """Free an ended attempt's slot (if the store is down, its lease frees it)."""
        if slot is None or not slot.holds:
            return
        try:
            self.store.release(slot.job_type, slot.token)
        except LimitStoreDown as exc:
            log.warning("could not free a %s slot (%s); its lease will", slot.job_type, exc)


def describe_limits(
    job_types: dict[str, JobType], store: LimitStore | None
) -> dict[str, dict[str, Any]]:
    """Each limited type's limits, as the API and the admin app show them:
    `rate_limit`, `concurrency_limit` and `slots_taken` (running against the concurrency
    limit now, across all workers; None without one, or if the store cannot be read)."""
    limited = {name: t for name, t in sorted(job_types.items()) if t.limited}
    concurrent = [name for name, t in limited.items() if t.concurrency_limit is not None]
    taken: dict[str, int] = {}
    if concurrent and store is not None:
        try:
            taken = store.slots_taken(concurrent)
        except LimitStoreDown as exc:
            log.warning("could not read the job types' slots (%s)", exc)
    return {
        name: {
            "job_type": name,
            "rate_limit": str(t.rate) if t.rate else None,
            "concurrency_limit": t.concurrency_limit,
            "slots_taken": taken.get(name),
        }
        for name, t in limited.items()
    }
