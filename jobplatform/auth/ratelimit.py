"""Rate limits and the failed-login lockout, kept in Redis so they hold across processes.

- API: at most `API_RATE_LIMIT` requests a minute per token (fixed one-minute windows).
- Login: at most `LOGIN_RATE_LIMIT_IP` attempts a minute per client address and
  `LOGIN_RATE_LIMIT_USER` per username from one address; after `LOGIN_LOCKOUT_AFTER`
  failures in a row from one address a username is locked for that address for
  `LOGIN_LOCKOUT_SECONDS`, doubling with each further lockout that day, up to
  `LOGIN_LOCKOUT_MAX_SECONDS`. A successful login clears the failures of its address;
  `unlock` (`jobplatform users unlock NAME`) clears every address's.

The username's limits count per (username, address) so that failures sent from elsewhere
cannot lock a user out (the denial of service a per-username lockout hands out); guessing
from many addresses is still held to a few tries per address before each lockout.

Without REDIS_URI (the SQLite queue, one machine) the counters live in a SQLite file next
to the queue file, `DATA_DIR/limits.sqlite3`, shared by the processes of that machine.

If Redis cannot be reached, API requests are let through (reads of the history keep
working; the failure is logged) but logins are refused with 503, because a lockout that
cannot be checked must not be bypassed.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from redis import Redis
from redis.exceptions import RedisError

from jobplatform.config import Settings

log = logging.getLogger(__name__)
PREFIX = "jobplatform:limits:"
FAILURE_MEMORY_SECONDS = 900  # failures further apart than this do not add up
LOCKOUT_LEVEL_SECONDS = 86400  # how long earlier lockouts make the next one longer


class LimitStoreDown(Exception):
    """The store behind the limits cannot be reached."""


class Limited(Exception):
    """Refused by a limit; `retry_after` is in whole seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, retry_after)


class CounterStore(Protocol):
    def incr(self, key: str, ttl: int) -> int:
        """Add one to `key` (created with a `ttl`-second life) and return the new value."""

    def ttl(self, key: str) -> int:
        """Seconds until `key` expires; 0 when it does not exist."""

    def set(self, key: str, ttl: int) -> None: ...

    def delete(self, *keys: str) -> None: ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every key that starts with `prefix`; return how many there were."""


class RedisStore:
    def __init__(self, uri: str):
        self.redis = Redis.from_url(uri, socket_timeout=1, socket_connect_timeout=1)

    def incr(self, key: str, ttl: int) -> int:
        try:
            pipe = self.redis.pipeline()
            pipe.set(key, 0, ex=ttl, nx=True)
            pipe.incr(key)
            return pipe.execute()[1]
        except RedisError as exc:
            raise LimitStoreDown(str(exc)) from exc

    def ttl(self, key: str) -> int:
        try:
            return max(0, self.redis.ttl(key))
        except RedisError as exc:
            raise LimitStoreDown(str(exc)) from exc

    def set(self, key: str, ttl: int) -> None:
        try:
            self.redis.set(key, 1, ex=ttl)
        except RedisError as exc:
            raise LimitStoreDown(str(exc)) from exc

    def delete(self, *keys: str) -> None:
        try:
            self.redis.delete(*keys)
        except RedisError as exc:
            raise LimitStoreDown(str(exc)) from exc

    def delete_prefix(self, prefix: str) -> int:
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"
        try:
            keys = list(self.redis.scan_iter(match=pattern, count=1000))
            return self.redis.delete(*keys) if keys else 0
        except RedisError as exc:
            raise LimitStoreDown(str(exc)) from exc


class SqliteStore:
    """Counters in a SQLite file under DATA_DIR, for one machine without REDIS_URI: every
    process there (web processes, `jobplatform users unlock`) sees the same counts, and they
    outlive a restart. Nothing in it needs to survive a power loss, so it is not synced."""

    PURGE_EVERY = 1000  # writes between removals of expired counters

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._writes = itertools.count(1)
        self._execute(
            "CREATE TABLE IF NOT EXISTS counters"
            " (key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires REAL NOT NULL)"
        )

    def _execute(self, sql: str, *args) -> sqlite3.Cursor:
        db = getattr(self._local, "db", None)
        try:
            if db is None:  # one connection a thread; each statement commits on its own
                db = sqlite3.connect(self.path, timeout=5, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=OFF")
                self._local.db = db
            return db.execute(sql, args)
        except sqlite3.Error as exc:
            raise LimitStoreDown(f"{self.path}: {exc}") from exc

    def incr(self, key: str, ttl: int) -> int:
        now = time.time()
        if next(self._writes) % self.PURGE_EVERY == 0:
            self._execute("DELETE FROM counters WHERE expires <= ?", now)
        (value,) = self._execute(
            "INSERT INTO counters VALUES (?, 1, ?) ON CONFLICT (key) DO UPDATE SET"
            " value = CASE WHEN expires <= ? THEN 1 ELSE value + 1 END,"
            " expires = CASE WHEN expires <= ? THEN excluded.expires ELSE expires END"
            " RETURNING value",
            key,
            now + ttl,
            now,
            now,
        ).fetchone()
        return value

    def ttl(self, key: str) -> int:
        now = time.time()
        row = self._execute(
            "SELECT expires FROM counters WHERE key = ? AND expires > ?", key, now
        ).fetchone()
        return math.ceil(row[0] - now) if row else 0

    def set(self, key: str, ttl: int) -> None:
        self._execute("INSERT OR REPLACE INTO counters VALUES (?, 1, ?)", key, time.time() + ttl)

    def delete(self, *keys: str) -> None:
        for key in keys:
            self._execute("DELETE FROM counters WHERE key = ?", key)

    def delete_prefix(self, prefix: str) -> int:
        after = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # the first text not starting so
        now = time.time()
        cursor = self._execute(
            "DELETE FROM counters WHERE key >= ? AND key < ? RETURNING expires", prefix, after
        )
        return sum(1 for (expires,) in cursor.fetchall() if expires > now)


@dataclass
class RateLimiter:
    settings: Settings
    store: CounterStore

    def _window(self, name: str, limit: int, what: str) -> None:
        if limit <= 0:
            return
        now = time.time()
        window = int(now // 60)
        count = self.store.incr(f"{PREFIX}{name}:{window}", ttl=61)
        if count > limit:
            raise Limited(
                f"too many requests {what}: the limit is {limit} a minute",
                retry_after=int(60 - now % 60) + 1,
            )

    def check_api(self, token_key: str) -> None:
        """Count one API request for a token; raise `Limited` over the limit."""
        try:
            self._window(f"api:{token_key}", self.settings.api_rate_limit, "for this token")
        except LimitStoreDown as exc:
            log.warning("rate limit store unreachable, request let through: %s", exc)

    def check_login(self, client_ip: str, username: str) -> None:
        """Before checking a password: raise `Limited` if this login may not be tried now."""
        pair = _pair(username, client_ip)
        locked_for = self.store.ttl(f"{PREFIX}lock:{pair}")
        if locked_for:
            raise Limited(
                f"too many failed logins for '{username}' from this address; locked, try "
                f"again in {locked_for} seconds",
                retry_after=locked_for,
            )
        self._window(
            f"login-ip:{client_ip}", self.settings.login_rate_limit_ip, "from this address"
        )
        self._window(f"login-user:{pair}", self.settings.login_rate_limit_user, f"for '{username}'")

    def login_failed(self, client_ip: str, username: str) -> int:
        """Record a failed login; return the seconds of lockout it started (0 if none)."""
        pair = _pair(username, client_ip)
        failures = self.store.incr(f"{PREFIX}fail:{pair}", ttl=FAILURE_MEMORY_SECONDS)
        if failures < self.settings.login_lockout_after:
            return 0
        level = self.store.incr(f"{PREFIX}level:{pair}", ttl=LOCKOUT_LEVEL_SECONDS)
        seconds = min(
            self.settings.login_lockout_seconds * 2 ** (level - 1),
            self.settings.login_lockout_max_seconds,
        )
        self.store.set(f"{PREFIX}lock:{pair}", ttl=seconds)
        self.store.delete(f"{PREFIX}fail:{pair}")
        return seconds

    def login_succeeded(self, client_ip: str, username: str) -> None:
        pair = _pair(username, client_ip)
        self.store.delete(f"{PREFIX}fail:{pair}", f"{PREFIX}level:{pair}")

    def unlock(self, username: str) -> int:
        """Lift the lockout of `username` from every address and forget its failures;
        return how many lockouts were lifted."""
        lifted = self.store.delete_prefix(f"{PREFIX}lock:{_pair(username, '')}")
        for kind in ("fail", "level"):
            self.store.delete_prefix(f"{PREFIX}{kind}:{_pair(username, '')}")
        return lifted


def _pair(username: str, client_ip: str) -> str:
    """The key part of a (username, address) pair. An address holds no `|`, so no
    username, whatever it holds, makes the key of another user's pair."""
    return f"{username}|{client_ip}"


def build_limiter(settings: Settings) -> RateLimiter:
    if settings.redis_uri:
        return RateLimiter(settings, RedisStore(settings.redis_uri))
    return RateLimiter(settings, SqliteStore(settings.data_dir / "limits.sqlite3"))
