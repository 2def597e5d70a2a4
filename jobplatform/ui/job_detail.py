"""The side panel of the job list: one job's data, its progress and, while it runs, the log
lines of its running attempt (redrawn on their own as they change), every attempt on a
timeline with its error, traceback and log lines, its result (drawn by the plugin's
`result_renderer` when it has one), and the actions the user's role allows."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from jobplatform.jobs.errors import JobNotFound
from jobplatform.jobs.models import CANCELLED, DEAD, FINAL, RUNNING, Attempt, Job, LogLine
from jobplatform.jobs.service import RUNNABLE_NOW
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.actions import cancel_jobs, retry_jobs, run_jobs_now
from jobplatform.ui.session import OPERATE

OUTCOME_COLORS = {
    "succeeded": "positive",
    "failed": "negative",
    "timeout": "warning",
    "cancelled": "grey",
    "lost": "warning",
}
LEVEL_CLASSES = {"warning": "text-warning", "error": "text-negative", "critical": "text-negative"}


def _json_block(value: Any) -> None:
    ui.code(json.dumps(value, indent=2, default=str, ensure_ascii=False), language="json").classes(
        "w-full text-xs"
    )


def _amount(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.6g}"


def _log_block(lines: list[LogLine]) -> ui.column:
    """Log lines, oldest first, in a scrolling monospace block."""
    with ui.column().classes("w-full gap-0 max-h-72 overflow-auto font-mono text-xs") as block:
        for line in lines:
            at = f"{line.at:%H:%M:%S}" if line.at else ""
            ui.label(f"{at} {(line.level or '').upper()} {line.message}").classes(
                "whitespace-pre-wrap break-all " + LEVEL_CLASSES.get(line.level or "", "")
            )
    return block


def _live_version(job: Job) -> str:
    """What the live part of the panel shows: the progress and the running attempt's log."""
    progress = job.progress.describe() if job.progress else None
    lines = job.live_log or []
    last = lines[-1].describe() if lines else None
    return f"{job.state}:{progress}:{len(lines)}:{last}"


class JobDetail:
    def __init__(
        self,
        panel: ui.card,
        services: Services,
        user: dict,
        on_change: Callable[[], Awaitable[None]],
    ):
        self.panel = panel
        self.services = services
        self.user = user
        self.on_change = on_change
        self.job_id: str | None = None
        self.version: str | None = None
        self.live_version: str | None = None
        self.live: ui.column | None = None  # the progress and the running attempt's log

    async def show(self, job_id: str | None) -> None:
        self.job_id = job_id
        self.version = None
        await self.refresh()

    async def refresh(self) -> None:
        """Redraw when the open job changed since it was drawn."""
        if self.job_id is None:
            self._draw_empty("Select a job to see its data, attempts and result.")
            return
        try:
            job = await blocking.call(self.services.jobs.get, self.job_id)
        except JobNotFound as exc:
            self._draw_empty(exc.message)
            return
        version = f"{job.updated_at}:{job.state}:{job.attempt_count}"
        if version != self.version:
            self.version = version
            self._draw(job)
        elif _live_version(job) != self.live_version:
            self._draw_live(job)

    def _draw_empty(self, text: str) -> None:
        self.version = None
        self.panel.clear()
        with self.panel:
            ui.label(text).classes("text-sm opacity-70")

    async def _act(self, action: Callable[[Services, list[str]], Awaitable[int]]) -> None:
        with self.panel:  # the clicked button may be redrawn away while the action runs
            if await action(self.services, [self.job_id]):
                self.version = None
                await self.on_change()

    def _draw(self, job: Job) -> None:
        self.panel.clear()
        described = job.describe()
        with self.panel:
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(job.type).classes("text-base font-semibold")
                ui.badge(job.state).mark("detail-state")
                ui.space()
                if self.user["role"] in OPERATE:
                    if job.state in (DEAD, CANCELLED):
                        ui.button(
                            "Retry", icon="replay", on_click=lambda: self._act(retry_jobs)
                        ).props("dense no-caps color=negative").mark("detail-retry")
                    if job.state in RUNNABLE_NOW:
                        ui.button(
                            "Run now", icon="play_arrow", on_click=lambda: self._act(run_jobs_now)
                        ).props("dense no-caps color=primary").mark("detail-run-now")
                    if job.state not in FINAL:
                        ui.button(
                            "Cancel", icon="cancel", on_click=lambda: self._act(cancel_jobs)
                        ).props("dense outline no-caps").mark("detail-cancel")
                ui.button(icon="close", on_click=lambda: self.show(None)).props(
                    "dense flat round"
                ).tooltip("Close")
            ui.label(str(job.id)).classes("font-mono text-xs opacity-70").mark("detail-id")
            if job.workflow_id:
                ui.link(f"step '{job.step_key}' of a workflow", f"/workflows/{job.workflow_id}")
            with ui.grid(columns=2).classes("gap-x-4 gap-y-0 text-xs"):
                for key in (
                    "queue",
                    "priority",
                    "attempt_count",
                    "max_attempts",
                    "created_by",
                    "created_at",
                    "run_at",
                    "started_at",
                    "finished_at",
                    "idempotency_key",
                ):
                    ui.label(key.replace("_", " "))
                    ui.label(str(described[key] if described[key] is not None else "—"))
            if job.error:
                ui.label(job.error).classes("text-negative text-sm").mark("detail-error")
            self.live = ui.column().classes("w-full gap-1")
            self._draw_live(job)
            ui.label("Data").classes("text-sm font-semibold q-mt-sm")
            _json_block(job.data)
            if job.result is not None:
                ui.label("Result").classes("text-sm font-semibold")
                self._draw_result(job)
            ui.label(f"Attempts ({len(job.attempts)})").classes("text-sm font-semibold")
            with (
                ui.timeline(side="right")
                .props("dense layout=dense")
                .classes("w-full")
                .mark("detail-attempts")
            ):
                for attempt in reversed(job.attempts):
                    _draw_attempt(attempt)

    def _draw_live(self, job: Job) -> None:
        """The progress bar with done, total and message, and the log lines of the attempt
        running now; redrawn alone when only they changed."""
        self.live_version = _live_version(job)
        self.live.clear()
        progress = job.progress
        with self.live:
            if progress is not None:
                if progress.total:
                    fraction = min(progress.done / progress.total, 1.0)
                    text = f"{_amount(progress.done)} of {_amount(progress.total)} ({fraction:.0%})"
                else:
                    fraction = 1.0 if progress.total == 0 else None
                    text = f"{_amount(progress.done)} done"
                parts = [text, progress.message, f"attempt {progress.attempt}"]
                ui.label("Progress").classes("text-sm font-semibold q-mt-sm")
                bar = ui.linear_progress(value=fraction or 0, show_value=False)
                bar.props("rounded size=8px" + (" indeterminate" if fraction is None else ""))
                bar.mark("detail-progress-bar")
                ui.label(" · ".join(p for p in parts if p)).classes("text-xs").mark(
                    "detail-progress"
                )
            if job.state == RUNNING and job.live_log:
                title = f"Log of attempt {job.attempt_count} (running)"
                ui.label(title).classes("text-sm font-semibold q-mt-sm")
                _log_block(job.live_log).mark("detail-live-log")

    def _draw_result(self, job: Job) -> None:
        job_type = self.services.host.job_types.get(job.type)
        if job_type is not None and job_type.result_renderer is not None:
            try:
                job_type.result_renderer(job.result)
                return
            except Exception as exc:  # noqa: BLE001 - a plugin's widget must not break the page
                ui.label(f"The plugin's result view failed ({exc}); the raw result:").classes(
                    "text-warning text-xs"
                )
        _json_block(job.result)


def _draw_attempt(attempt: Attempt) -> None:
    """One attempt on the timeline: outcome, error, retry delay, traceback and log lines."""
    duration = f"{attempt.duration_ms:.0f} ms" if attempt.duration_ms else ""
    with ui.timeline_entry(
        title=f"#{attempt.number} {attempt.outcome}",
        subtitle=f"{attempt.started_at or ''} · {duration} · {attempt.worker}",
        color=OUTCOME_COLORS.get(attempt.outcome or "", "grey"),
    ):
        if attempt.error_message:
            ui.label(f"{attempt.error_type}: {attempt.error_message}").classes(
                "text-negative text-xs"
            )
        if attempt.retry_delay is not None:
            ui.label(f"next attempt after {attempt.retry_delay:.1f} s").classes("text-xs")
        if attempt.traceback:
            with ui.expansion("Traceback").classes("w-full text-xs"):
                ui.code(attempt.traceback, language="python").classes("w-full text-xs")
        if attempt.log:
            with ui.expansion(f"Log ({len(attempt.log)} lines)").classes("w-full text-xs"):
                _log_block(attempt.log).mark(f"attempt-log-{attempt.number}")
