"""Plugins: each plugin with its version, status, load error, job types, their retry
policies and their rate and concurrency limits."""

from __future__ import annotations

from nicegui import ui

from jobplatform.plugins.jobtype import JobType
from jobplatform.services import Services
from jobplatform.ui.session import require_login
from jobplatform.ui.shell import frame

STATUS_COLORS = {"loaded": "positive", "failed": "negative", "disabled": "grey"}


def register(services: Services) -> None:
    @ui.page("/plugins", title="Plugins · jobplatform")
    def plugins_page() -> None:
        user = require_login()
        if user is None:
            return
        with frame("Plugins", services, user):
            if not services.host.plugins:
                ui.label("No plugins are installed.")
            for record in services.host.plugins.values():
                with (
                    ui.card()
                    .classes("w-full q-pa-sm")
                    .props("flat bordered")
                    .mark(f"plugin-{record.name}")
                ):
                    with ui.row().classes("items-center gap-2"):
                        ui.label(record.name).classes("text-base font-semibold")
                        ui.label(record.version or "no version").classes("text-xs opacity-70")
                        ui.badge(record.status, color=STATUS_COLORS.get(record.status, "grey"))
                        ui.label(record.source).classes("text-xs opacity-70")
                    if record.error:
                        ui.label(record.error).classes("text-negative text-sm font-mono")
                    rows = []
                    for name in record.job_types:
                        job_type = services.host.job_types[name]
                        retry = job_type.retry
                        rows.append(
                            {
                                "name": name,
                                "title": job_type.title or name,
                                "queue": job_type.queue,
                                "timeout": job_type.timeout,
                                "retry": f"{retry.max_attempts} attempts, {retry.initial_delay:g}s "
                                f"× {retry.backoff_factor:g}, max {retry.max_delay:g}s, "
                                f"jitter {retry.jitter:g}",
                                **_limits(job_type),
                            }
                        )
                    if rows:
                        ui.table(rows=rows, row_key="name").props("dense flat bordered").classes(
                            "w-full"
                        )


def _limits(job_type: JobType) -> dict[str, str]:
    """The type's limits as the table shows them: "5/s" (starts in any second), "2 at once"."""
    concurrency = job_type.concurrency_limit
    return {
        "rate_limit": str(job_type.rate) if job_type.rate else "none",
        "concurrency_limit": f"{concurrency} at once" if concurrency else "none",
    }
