"""How the job and workflow commands print: tables and details for people, JSON for
machines (`--json`: one JSON object, or one a line for lists and streams), errors on
stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from jobplatform_client import ApiError, Attempt, Job, Progress, Workflow, to_json

ERROR_WIDTH = 60


def as_json(value: Any) -> str:
    return json.dumps(to_json(value), ensure_ascii=False, default=str)


def when(moment: datetime | None) -> str:
    """A time as people read it, in UTC to the second."""
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def short(text: str | None, width: int = ERROR_WIDTH) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def amount(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.6g}"


def progress_text(progress: Progress | None) -> str:
    if progress is None:
        return ""
    if progress.total:
        text = f"{amount(progress.done)} of {amount(progress.total)}"
        text += f" ({min(progress.done / progress.total, 1.0):.0%})"
    else:
        text = f"{amount(progress.done)} done"
    return f"{text} {progress.message}" if progress.message else text


def bar(done: int, total: int, width: int = 30) -> str:
    """A progress bar for a terminal: `[#########.....]  300 of 1000`."""
    filled = width * done // total if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}]  {done} of {total}"


def table(jobs: Iterable[Job]) -> Iterable[str]:
    """The header, then a line a job: id, type, state, attempts, created, error."""
    yield f"{'ID':<24}  {'TYPE':<20} {'STATE':<9} {'TRIES':>5}  {'CREATED':<20} ERROR"
    for job in jobs:
        tries = f"{job.attempt_count}/{job.max_attempts}"
        yield (
            f"{job.id:<24}  {job.name:<20} {job.state:<9} {tries:>5}  "
            f"{when(job.created_at):<20} {short(job.error)}"
        ).rstrip()


def status_line(job: Job) -> str:
    """One line for a job's change: time, id, type, state, attempt, progress, error."""
    parts = [when(datetime.now(UTC)), job.id, job.name, job.state]
    if job.attempt_count:
        parts.append(f"attempt {job.attempt_count} of {job.max_attempts}")
    if job.progress and not job.finished:
        parts.append(progress_text(job.progress))
    if job.error and job.state != "succeeded":
        parts.append(short(job.error))
    return "  ".join(parts)


def _block(label: str, value: Any) -> Iterable[str]:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    lines = text.splitlines()
    if len(lines) == 1:
        yield f"{label + ':':<14}{text}"
        return
    yield f"{label}:"
    yield from (f"  {line}" for line in lines)


def _attempt(attempt: Attempt) -> Iterable[str]:
    took = f"{attempt.duration_ms:,.0f} ms" if attempt.duration_ms is not None else ""
    head = [f"attempt {attempt.number}", attempt.outcome or "running", when(attempt.started_at)]
    yield "  ".join([*head, took, f"on {attempt.worker}" if attempt.worker else ""]).rstrip()
    if attempt.requeued:
        yield "  requeued: an earlier delivery may have run it"
    if attempt.error_type or attempt.error_message:
        yield f"  {attempt.error_type or 'error'}: {attempt.error_message or ''}".rstrip()
    if attempt.retry_delay is not None:
        yield f"  retried after {attempt.retry_delay:g} s"
    for line in (attempt.traceback or "").rstrip().splitlines():
        yield f"    {line}"
    for line in attempt.log:
        yield f"  {when(line.at)} {line.level:<8} {line.message}"


def detail(job: Job) -> Iterable[str]:
    """Everything about one job: its fields, data, result, error, then each attempt."""
    yield f"{job.id}  {job.name}  {job.state}"
    rows = [
        ("queue", job.queue),
        ("priority", str(job.priority)),
        ("attempts", f"{job.attempt_count} of {job.max_attempts}"),
        ("created", f"{when(job.created_at)} by {job.created_by or '-'}"),
        ("run at", when(job.run_at)),
        ("started", when(job.started_at)),
        ("finished", when(job.finished_at)),
        ("key", job.idempotency_key or "-"),
        ("progress", progress_text(job.progress)),
        ("error", job.error or ""),
    ]
    yield from (f"{label + ':':<14}{value}" for label, value in rows if value and value != "-")
    yield from _block("data", job.data)
    if job.result is not None:
        yield from _block("result", job.result)
    for attempt in job.attempts or []:
        yield ""
        yield from _attempt(attempt)
    if job.live_log:
        yield ""
        yield "running attempt's log so far:"
        yield from (f"  {when(line.at)} {line.level:<8} {line.message}" for line in job.live_log)


def workflow_table(workflows: Iterable[Workflow]) -> Iterable[str]:
    """The header, then a line a workflow: id, state, steps, created, finished, name."""
    yield f"{'ID':<24}  {'STATE':<9} {'STEPS':>5}  {'CREATED':<20} {'FINISHED':<20} NAME"
    for flow in workflows:
        yield (
            f"{flow.id:<24}  {flow.state:<9} {flow.step_count:>5}  "
            f"{when(flow.created_at):<20} {when(flow.finished_at):<20} {flow.name}"
        )


def workflow_detail(flow: Workflow) -> Iterable[str]:
    """A workflow's fields, then a line a step: key, type, state, tries, job, after, error."""
    yield f"{flow.id}  {flow.name}  {flow.state}"
    yield f"{'created:':<14}{when(flow.created_at)} by {flow.created_by or '-'}"
    if flow.finished_at:
        yield f"{'finished:':<14}{when(flow.finished_at)}"
    yield ""
    yield f"{'KEY':<16} {'TYPE':<20} {'STATE':<9} {'TRIES':>5}  {'JOB':<24}  {'AFTER':<16} ERROR"
    for step in flow.steps or []:
        after = ",".join(step.after) or "-"
        yield (
            f"{step.key:<16} {step.name:<20} {step.state:<9} {step.attempt_count:>5}  "
            f"{step.job_id:<24}  {after:<16} {short(step.error)}"
        ).rstrip()


def refusal(exc: ApiError, fields: dict[str, str] | None = None) -> Iterable[str]:
    """An API refusal: its message, then a line a field (renamed by `fields`, e.g. a
    batch's `jobs.3.data.x` to `line 4: x`)."""
    yield f"jobplatform: refused ({exc.status} {exc.code}): {exc.message}"
    for field, messages in exc.field_errors.items():
        label = (fields or {}).get(field, field)
        for message in messages:
            yield f"  {label}: {message}"


def error(lines: Iterable[str] | str) -> None:
    for line in [lines] if isinstance(lines, str) else lines:
        print(line, file=sys.stderr)
