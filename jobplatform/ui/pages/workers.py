"""Workers: the live worker processes, their queues and the jobs they are running."""

from __future__ import annotations

from nicegui import ui

from jobplatform import overview
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.session import require_login
from jobplatform.ui.shell import frame

COLUMNS = [
    {"name": "id", "label": "Worker", "field": "id", "align": "left"},
    {"name": "host", "label": "Host", "field": "host", "align": "left"},
    {"name": "queues", "label": "Queues", "field": "queues", "align": "left"},
    {"name": "concurrency", "label": "Threads", "field": "concurrency", "align": "right"},
    {"name": "current", "label": "Running jobs", "field": "current", "align": "left"},
    {"name": "seen", "label": "Last heartbeat (UTC)", "field": "seen", "align": "left"},
]


def register(services: Services) -> None:
    @ui.page("/workers", title="Workers · jobplatform")
    async def workers_page() -> None:
        user = require_login()
        if user is None:
            return
        with frame("Workers", services, user):
            table = (
                ui.table(columns=COLUMNS, rows=[], row_key="id")
                .props("dense flat bordered")
                .classes("w-full")
                .mark("worker-table")
            )
            empty = ui.label("No worker is running: start one with `jobplatform worker`.").classes(
                "text-warning"
            )

            async def refresh() -> None:
                workers = await blocking.call(overview.workers_online, services)
                table.rows = [
                    {
                        "id": w["id"],
                        "queues": ", ".join(w["queues"]),
                        "concurrency": w.get("concurrency"),
                        "host": f"{w.get('host')} (pid {w.get('pid')})",
                        "current": ", ".join(w.get("jobs", [])) or "idle",
                        "seen": w["seen_at"].strftime("%H:%M:%S") if w.get("seen_at") else "",
                    }
                    for w in workers
                ]
                table.update()
                empty.visible = not workers

            await refresh()
            ui.timer(2.0, refresh)
