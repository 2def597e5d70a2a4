"""Where the job types' rate and concurrency limits are counted, across all workers: Redis
when the platform runs on Redis, a SQLite file under DATA_DIR on one machine without it.
One interface (`LimitStore`), two stores; jobs/limits.py holds the rules that use them.

Per limited job type a store keeps
- its starts: one entry a start, kept for the rate limit's period (a sliding window log:
  "at most N starts in any period" holds exactly, not only within fixed windows);
- its slots: one entry per running attempt, with a deadline (a lease) its worker moves
  on while the attempt runs; an entry past its deadline is free again, so a worker that
  crashed holding one frees it within a lease.

`acquire` checks both and, only if both allow it, records the start and takes the slot,
all in one step (one Lua script on Redis, one write transaction on SQLite): a refused
start leaves nothing behind and two workers can never both take the last slot. Times are
the store's own (Redis's clock on Redis), so workers' clocks do not need to agree.

Why not a library: `limits` keeps moving windows in Redis or memory, not SQLite, and has
no concurrency slots; Huey's own `rate_limit` is a fixed window of non-atomic counter
steps. A check of both limits in one round trip needs its own script either way.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from redis import Redis
from redis.exceptions import RedisError

from jobplatform.config import Settings
from jobplatform.plugins.jobtype import RateLimit

PREFIX = "jobplatform:job-limits:"
SQLITE_FILE = "job_limits.sqlite3"

# KEYS: starts, slots. ARGV: token, rate count (0: none), rate period, concurrency (0:
# none), lease. Answers nil when admitted, else {reason, seconds until a start frees}.
ACQUIRE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local count, per = tonumber(ARGV[2]), tonumber(ARGV[3])
local most, lease = tonumber(ARGV[4]), tonumber(ARGV[5])
if most > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= most then return {'concurrency', ''} end
end
if count > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per)
  if redis.call('ZCARD', KEYS[1]) >= count then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {'rate', tostring(tonumber(oldest[2]) + per - now)}
  end
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], math.ceil(per * 1000))
end
if most > 0 then
  redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], math.ceil(lease * 1000))
end
return false
"""
# KEYS: slots. ARGV: token, lease. Moves a slot's deadline on if it is still there.
RENEW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local lease = tonumber(ARGV[2])
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + lease, ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], math.ceil(lease * 1000))
end
"""


class LimitStoreDown(Exception):
    """The store behind the job limits cannot be reached."""


@dataclass(frozen=True)
class Refusal:
    """Why a start was refused: `rate` (`wait`: seconds until a start leaves the window)
    or `concurrency` (`wait` None: a slot frees when an attempt ends)."""

    reason: str
    wait: float | None = None


class LimitStore(Protocol):
    def acquire(
        self,
        job_type: str,
        token: str,
        rate: RateLimit | None,
        concurrency: int | None,
        lease_seconds: float,
    ) -> Refusal | None:
        """Record a start under `token` and take a slot for `lease_seconds`, if both limits
        allow it now (None); or change nothing and say why not."""

    def renew(self, job_type: str, token: str, lease_seconds: float) -> None:
        """Move a taken slot's deadline to `lease_seconds` from now (a freed one stays free)."""

    def release(self, job_type: str, token: str) -> None:
        """Free a slot."""

    def slots_taken(self, job_types: list[str]) -> dict[str, int]:
        """How many slots of each type are taken now."""


def starts_key(job_type: str) -> str:
    return f"{PREFIX}{job_type}:starts"


def slots_key(job_type: str) -> str:
    return f"{PREFIX}{job_type}:slots"


class RedisLimitStore:
    """Two sorted sets a job type: its starts (scored by time) and its slots (scored by
    deadline), each expiring once its newest entry has, so an idle type keeps no keys."""

    def __init__(self, uri: str):
        self.redis = Redis.from_url(uri, socket_timeout=5, socket_connect_timeout=5)
        self._acquire = self.redis.register_script(ACQUIRE)
        self._renew = self.redis.register_script(RENEW)

    def acquire(self, job_type, token, rate, concurrency, lease_seconds):
        args = [
            token,
            rate.count if rate else 0,
            rate.per_seconds if rate else 0,
            concurrency or 0,
            lease_seconds,
        ]
        try:
            answer = self._acquire(keys=[starts_key(job_type), slots_key(job_type)], args=args)
        except RedisError as exc:
            raise LimitStoreDown(str(exc)) from exc
        if answer is None:
            return None
        reason, wait = (part.decode() for part in answer)
        return Refusal(reason, float(wait) if wait else None)

    def renew(self, job_type, token, lease_seconds):
        try:
            self._renew(keys=[slots_key(job_type)], args=[token, lease_seconds])
        except RedisError as exc:
            raise LimitStoreDown(str(exc)) from exc

    def release(self, job_type, token):
        try:
            self.redis.zrem(slots_key(job_type), token)
        except RedisError as exc:
            raise LimitStoreDown(str(exc)) from exc

    def slots_taken(self, job_types):
        now = time.time()  # this machine's clock: a count to show, not to decide on
        pipe = self.redis.pipeline(transaction=False)
        for name in job_types:
            pipe.zcount(slots_key(name), f"({now}", "+inf")
        try:
            return dict(zip(job_types, pipe.execute(), strict=True))
        except RedisError as exc:
            raise LimitStoreDown(str(exc)) from exc


class SqliteLimitStore:
    """Two tables in a SQLite file under DATA_DIR, shared by the processes of one machine.
    Each `acquire` is one write transaction (BEGIN IMMEDIATE), so the processes take turns.
    A file of its own, not the queue file: SQLite locks a whole file for a write, and the
    limits' writes need not wait behind Huey's. Nothing in it must survive a power loss."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS job_starts"
                " (job_type TEXT NOT NULL, token TEXT NOT NULL, at REAL NOT NULL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS job_starts_by_type ON job_starts (job_type, at)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS job_slots"
                " (token TEXT PRIMARY KEY, job_type TEXT NOT NULL, until REAL NOT NULL)"
            )
            db.execute(
                "CREATE INDEX IF NOT EXISTS job_slots_by_type ON job_slots (job_type, until)"
            )

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:  # one connection a thread; transactions are explicit
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            self._local.db = db
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise LimitStoreDown(f"{self.path}: {exc}") from exc
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as exc:
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise LimitStoreDown(f"{self.path}: {exc}") from exc
            raise

    def acquire(self, job_type, token, rate, concurrency, lease_seconds):
        with self._transaction() as db:
            now = time.time()
            if concurrency is not None:
                db.execute(
                    "DELETE FROM job_slots WHERE job_type = ? AND until <= ?", (job_type, now)
                )
                (taken,) = db.execute(
                    "SELECT count(*) FROM job_slots WHERE job_type = ?", (job_type,)
                ).fetchone()
                if taken >= concurrency:
                    return Refusal("concurrency")
            if rate is not None:
                db.execute(
                    "DELETE FROM job_starts WHERE job_type = ? AND at <= ?",
                    (job_type, now - rate.per_seconds),
                )
                started, oldest = db.execute(
                    "SELECT count(*), min(at) FROM job_starts WHERE job_type = ?", (job_type,)
                ).fetchone()
                if started >= rate.count:
                    return Refusal("rate", oldest + rate.per_seconds - now)
                db.execute("INSERT INTO job_starts VALUES (?, ?, ?)", (job_type, token, now))
            if concurrency is not None:
                db.execute(
                    "INSERT INTO job_slots VALUES (?, ?, ?)", (token, job_type, now + lease_seconds)
                )
        return None

    def renew(self, job_type, token, lease_seconds):
        with self._transaction() as db:
            db.execute(
                "UPDATE job_slots SET until = ? WHERE token = ?",
                (time.time() + lease_seconds, token),
            )

    def release(self, job_type, token):
        with self._transaction() as db:
            db.execute("DELETE FROM job_slots WHERE token = ?", (token,))

    def slots_taken(self, job_types):
        taken = dict.fromkeys(job_types, 0)
        try:
            rows = self._connection().execute(
                "SELECT job_type, count(*) FROM job_slots WHERE until > ? GROUP BY job_type",
                (time.time(),),
            )
            taken.update((name, n) for name, n in rows if name in taken)
        except sqlite3.Error as exc:
            raise LimitStoreDown(f"{self.path}: {exc}") from exc
        return taken


def build_limit_store(settings: Settings) -> LimitStore:
    if settings.redis_uri:
        return RedisLimitStore(settings.redis_uri)
    return SqliteLimitStore(settings.data_dir / SQLITE_FILE)
