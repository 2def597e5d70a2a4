"""The job list."""

from __future__ import annotations

from nicegui import run, ui

from jobplatform.services import Services
from jobplatform.ui.session import current_user
from jobplatform.ui.shell import frame

COLUMNS = [
    {"name": "id", "label": "ID", "field": "id", "align": "left"},
    {"name": "name", "label": "Type", "field": "name", "align": "left"},
    {"name": "state", "label": "State", "field": "state", "align": "left"},
    {"name": "attempt_count", "label": "Attempts", "field": "attempt_count"},
    {"name": "created_at", "label": "Created", "field": "created_at", "align": "left"},
    {"name": "error", "label": "Last error", "field": "error", "align": "left"},
]


def register(services: Services) -> None:
    @ui.page("/jobs", title="Jobs · jobplatform")
    async def jobs_page() -> None:
        if current_user() is None:
            ui.navigate.to("/login")
            return
        with frame("Jobs"):
            table = ui.table(columns=COLUMNS, rows=[], row_key="id").props("dense flat bordered") \
                .classes("w-full")

            async def refresh() -> None:
                jobs = await run.io_bound(services.jobs.list, limit=100)
                table.rows = [j.describe(with_attempts=False) for j in jobs]

            await refresh()
            ui.timer(2.0, refresh)
