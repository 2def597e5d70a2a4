"""A job type (what a plugin registers) and its retry policy."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}\Z")


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
        return asdict(self)


@dataclass(frozen=True)
class JobType:
    """One kind of job: its processor, the shape of its data, and how it is run.

    `processor(ctx)` does the work and returns a JSON-serialisable result. `schema` is a
    cerberus schema for the job's data. `form_widgets` maps a data field to a callable that
    builds a NiceGUI input for it; `result_renderer(result)` draws a result in the admin app.
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
