"""The API's answers as dataclasses: jobs, attempts, pages, stats, schedules, workflows,
tokens.

Times are timezone-aware UTC datetimes. Fields the API adds later are ignored, so an
older client keeps reading a newer platform."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

FINAL_STATES = ("succeeded", "dead", "cancelled")
WORKFLOW_FINAL_STATES = ("succeeded", "failed", "cancelled")
TIME_FIELDS = frozenset(
    {"created_at", "updated_at", "run_at", "started_at", "finished_at"}
    | {"next_run_at", "last_fired_at", "seen_at", "at"}
)
M = TypeVar("M")


def parse_time(value: str | None) -> datetime | None:
    """An API time ("2026-01-31T09:00:00.123Z") as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def build(cls: type[M], body: Mapping[str, Any], **nested: Any) -> M:
    """`cls` from an API object: its known fields, times parsed, `nested` ones as given."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {
        key: parse_time(value) if key in TIME_FIELDS else value
        for key, value in body.items()
        if key in names
    }
    return cls(**{**values, **nested})


def to_json(value: Any) -> Any:
    """A model (or anything holding models) as the API's JSON: times back in ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"
    if isinstance(value, dict):
        return {key: to_json(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(inner) for inner in value]
    return value


@dataclass(frozen=True)
class LogLine:
    """A line a processor logged with `ctx.log`."""

    level: str
    message: str
    at: datetime | None = None


def _lines(body: Mapping[str, Any], key: str) -> list[LogLine] | None:
    lines = body.get(key)
    return None if lines is None else [build(LogLine, line) for line in lines]


@dataclass(frozen=True)
class Progress:
    """What the processor last reported with `ctx.progress`."""

    done: float
    total: float | None = None
    message: str | None = None
    at: datetime | None = None
    attempt: int | None = None


@dataclass(frozen=True)
class Attempt:
    """One run of a job: who ran it, when, and how it ended (with the traceback)."""

    number: int
    outcome: str | None = None  # succeeded, failed, dead, cancelled, lost; None while running
    worker: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    retry_delay: float | None = None
    requeued: bool = False
    log: list[LogLine] = field(default_factory=list)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Attempt:
        return build(cls, body, log=_lines(body, "log") or [])


@dataclass(frozen=True)
class Job:
    id: str
    name: str
    state: str  # queued, scheduled, running, retrying, succeeded, dead, cancelled
    data: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"
    priority: int = 0
    attempt_count: int = 0
    max_attempts: int = 1
    result: Any = None
    error: str | None = None
    idempotency_key: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    run_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: Progress | None = None
    attempts: list[Attempt] | None = None  # None in list pages: read the job for them
    live_log: list[LogLine] | None = None  # what the running attempt logged so far

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Job:
        attempts, progress = body.get("attempts"), body.get("progress")
        return build(
            cls,
            body,
            progress=build(Progress, progress) if progress else None,
            attempts=None if attempts is None else [Attempt.from_api(a) for a in attempts],
            live_log=_lines(body, "live_log"),
        )


@dataclass(frozen=True)
class JobPage:
    """One page of `GET /api/jobs`; pass `next_cursor` as `cursor` for the next."""

    jobs: list[Job]
    next_cursor: str | None = None
    total: int | None = None  # first page only, counted up to 1000; None when not counted
    total_capped: bool = False

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> JobPage:
        return build(cls, body, jobs=[Job.from_api(j) for j in body.get("jobs", [])])


@dataclass(frozen=True)
class NewJob:
    """A job to submit with `submit_many`; the options are those of `submit`."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    delay: float | None = None
    run_at: datetime | str | None = None
    priority: int | None = None
    idempotency_key: str | None = None
    max_attempts: int | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class LastHour:
    minutes: list[dict[str, Any]]  # {"minute", "succeeded", "failed", "dead", "cancelled"}
    totals: dict[str, int]
    failure_rate: float

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> LastHour:
        return build(cls, body)


@dataclass(frozen=True)
class Stats:
    """`GET /api/stats`: jobs by state and by type, the last hour, queues, live workers."""

    by_state: dict[str, int]
    by_type: dict[str, dict[str, int]]
    last_hour: LastHour
    queues: dict[str, dict[str, int]] = field(default_factory=dict)
    workers: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Stats:
        return build(cls, body, last_hour=LastHour.from_api(body.get("last_hour", {})))


@dataclass(frozen=True)
class LastJob:
    id: str
    state: str | None = None  # None when the job is gone (retention)


@dataclass(frozen=True)
class Schedule:
    """A periodic job: a cron expression in a time zone, or an interval in seconds."""

    id: str
    name: str
    job_type: str
    data: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    timezone: str = "UTC"
    interval_seconds: int | None = None
    priority: int | None = None
    max_attempts: int | None = None
    timeout: float | None = None
    enabled: bool = True
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    next_run_at: datetime | None = None  # None while disabled
    last_fired_at: datetime | None = None
    last_error: str | None = None
    last_job: LastJob | None = None

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Schedule:
        last = body.get("last_job")
        return build(cls, body, last_job=build(LastJob, last) if last else None)


@dataclass(frozen=True)
class RetriedJobs:
    """`POST /api/jobs/retry`: how many matching jobs were retried (at most the limit of
    one call; call again for more) and their ids."""

    retried: int
    ids: list[str] = field(default_factory=list)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> RetriedJobs:
        return build(cls, body)


@dataclass(frozen=True)
class NewStep:
    """A workflow step to submit: a job of type `name` that starts once every step whose
    key is in `after` has succeeded; the options are those of `submit`."""

    key: str
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)
    priority: int | None = None
    max_attempts: int | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class WorkflowStep:
    """A step of a workflow and its job's state (`blocked` until its parents succeeded;
    `removed` once retention deleted the job). Retry or cancel it as a job (`job_id`)."""

    key: str
    job_id: str
    name: str
    state: str
    attempt_count: int = 0
    error: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    after: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Workflow:
    """A workflow: running, then succeeded (every step did), failed or cancelled. `steps`
    and `edges` ([parent key, child key] pairs) are None in list pages."""

    id: str
    name: str
    state: str
    created_by: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    step_count: int = 0
    steps: list[WorkflowStep] | None = None
    edges: list[tuple[str, str]] | None = None

    @property
    def finished(self) -> bool:
        return self.state in WORKFLOW_FINAL_STATES

    def step(self, key: str) -> WorkflowStep:
        """The step with `key` (KeyError without it, or in a list page's workflow)."""
        for step in self.steps or []:
            if step.key == key:
                return step
        raise KeyError(key)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Workflow:
        steps, edges = body.get("steps"), body.get("edges")
        return build(
            cls,
            body,
            steps=None if steps is None else [build(WorkflowStep, s) for s in steps],
            edges=None if edges is None else [(parent, child) for parent, child in edges],
        )


@dataclass(frozen=True)
class WorkflowPage:
    """One page of `GET /api/workflows`, newest first; pass `next_cursor` as `cursor`."""

    workflows: list[Workflow]
    next_cursor: str | None = None

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> WorkflowPage:
        workflows = [Workflow.from_api(w) for w in body.get("workflows", [])]
        return build(cls, body, workflows=workflows)


@dataclass(frozen=True)
class Tokens:
    """A login session's tokens, as a log in or a refresh gives them."""

    access_token: str
    refresh_token: str
    expires_in: int | None = None
    role: str | None = None
