"""A job type (what a plugin registers), its retry policy and its limits."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}\Z")
RATE_PATTERN = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([smh])\s*\Z")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
MAX_RATE_COUNT = 100_000  # starts kept for a period: a longer period needs a smaller count
MAX_RATE_PERIOD = 86_400.0
MAX_CONCURRENCY = 10_000


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon a failed job runs again.

    The delay before attempt n+1 is `initial_delay * backoff_factor ** (n - 1)`, capped at
    `max_delay`, then spread by up to +/- `jitter` (a fraction) so that retries of many
    jobs that failed together do not arrive together.
    """

    max_attempts: int = 3
    initial_delay: float = 1.0
    backoff_factor: float = 2.0
    max_delay: float = 300.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")
        if self.backoff_factor < 1:
            raise ValueError("backoff_factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def delay_after(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        base = min(self.initial_delay * self.backoff_factor ** (attempt - 1), self.max_delay)
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, min(base * (1 + spread), self.max_delay))

    def with_overrides(self, overrides: dict[str, Any]) -> RetryPolicy:
        return replace(self, **overrides)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # all plain numbers


@dataclass(frozen=True)
class RateLimit:
    """At most `count` starts in any `per_seconds`, across all workers: what a job type's
    `rate_limit` text says ("10/s", "100/m", "1000/h", "5/2s": COUNT/PERIOD, the period a
    unit s, m or h with an optional number of them before it)."""

    count: int
    per_seconds: float

    @classmethod
    def parse(cls, text: Any) -> RateLimit:
        """The rate limit `text` states; a ValueError saying what is wrong otherwise."""
        match = RATE_PATTERN.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(
                f"{text!r} is not COUNT/PERIOD; write it as '10/s', '100/m', '1000/h' or "
                "'5/2s' (5 starts in any 2 seconds)"
            )
        count, number, unit = int(match.group(1)), match.group(2), match.group(3)
        per = float(number or 1) * UNIT_SECONDS[unit]
        if not 1 <= count <= MAX_RATE_COUNT:
            raise ValueError(f"{text!r}: the count must be from 1 to {MAX_RATE_COUNT:,}")
        if not 0 < per <= MAX_RATE_PERIOD:
            raise ValueError(f"{text!r}: the period must be longer than 0 and at most 24h")
        return cls(count, per)

    def __str__(self) -> str:
        units = {1: "s", 60: "m", 3600: "h"}
        unit = units.get(self.per_seconds)
        return f"{self.count}/{unit}" if unit else f"{self.count}/{self.per_seconds:g}s"


def check_concurrency_limit(value: Any) -> int | None:
    """`value` if it is a fit concurrency limit (None: no limit); a ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number; give how many may run at once")
    if not 1 <= value <= MAX_CONCURRENCY:
        raise ValueError(f"{value} is out of range; it must be from 1 to {MAX_CONCURRENCY:,}")
    return value


@dataclass(frozen=True)
class JobType:
    """One kind of job: its processor, the shape of its data, and how it is run.

    `processor(ctx)` does the work and returns a JSON-serialisable result. `schema` is a
    cerberus schema for the job's data. `form_widgets` maps a data field to a callable that
    builds a NiceGUI input for it; `result_renderer(result)` draws a result in the admin app.

    `rate_limit` ("10/s", see `RateLimit`) and `concurrency_limit` (at most that many
    running at once) hold across all workers; a job they hold back waits, still queued,
    without spending an attempt (jobs/limits.py). A bad value is a ValueError.
    """

    name: str
    processor: Callable[..., Any]
    schema: dict[str, Any]
    title: str = ""
    description: str = ""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float | None = 300.0
    queue: str = "default"
    priority: int = 0
    form_widgets: dict[str, Callable[..., Any]] = field(default_factory=dict)
    result_renderer: Callable[[Any], Any] | None = None
    rate_limit: str | None = None
    concurrency_limit: int | None = None

    def __post_init__(self) -> None:
        try:
            RateLimit.parse(self.rate_limit) if self.rate_limit is not None else None
        except ValueError as exc:
            raise ValueError(f"rate_limit {exc}") from None
        try:
            check_concurrency_limit(self.concurrency_limit)
        except ValueError as exc:
            raise ValueError(f"concurrency_limit {exc}") from None

    @property
    def rate(self) -> RateLimit | None:
        return None if self.rate_limit is None else RateLimit.parse(self.rate_limit)

    @property
    def limited(self) -> bool:
        return self.rate_limit is not None or self.concurrency_limit is not None

    def describe(self) -> dict[str, Any]:
        """The public description served by the API and shown in the admin app."""
        return {
            "name": self.name,
            "title": self.title or self.name,
            "description": self.description,
            "schema": json_safe(self.schema),
            "retry": self.retry.as_dict(),
            "timeout": self.timeout,
            "queue": self.queue,
            "priority": self.priority,
            "rate_limit": str(self.rate) if self.rate else None,
            "concurrency_limit": self.concurrency_limit,
        }


def json_safe(value: Any) -> Any:
    """A copy of a cerberus schema fit for JSON: a callable (`coerce`, `check_with`) by name."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if callable(value):
        return getattr(value, "__name__", repr(value))
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
