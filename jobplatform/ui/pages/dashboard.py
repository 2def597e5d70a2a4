"""Dashboard: jobs by state, throughput and failure rate over the last hour, queue
lengths and workers online, refreshed every second without reloading the page."""

from __future__ import annotations

from nicegui import ui

from jobplatform.jobs.models import STATES
from jobplatform.services import Services
from jobplatform.ui import blocking, data
from jobplatform.ui.session import require_login
from jobplatform.ui.shell import frame

REFRESH_SECONDS = 1.0


def _chart_options() -> dict:
    return {
        "animation": False,
        "grid": {"left": 40, "right": 16, "top": 30, "bottom": 24},
        "legend": {"data": ["succeeded", "failed attempts", "dead"], "top": 0},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": []},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {
                "name": "succeeded",
                "type": "bar",
                "stack": "done",
                "data": [],
                "itemStyle": {"color": "#21ba45"},
            },
            {
                "name": "failed attempts",
                "type": "bar",
                "stack": "done",
                "data": [],
                "itemStyle": {"color": "#f2c037"},
            },
            {
                "name": "dead",
                "type": "bar",
                "stack": "done",
                "data": [],
                "itemStyle": {"color": "#c10015"},
            },
        ],
    }


def register(services: Services) -> None:
    @ui.page("/", title="Dashboard · jobplatform")
    async def dashboard_page() -> None:
        user = require_login()
        if user is None:
            return
        with frame("Dashboard", services, user):
            with ui.row().classes("w-full gap-2"):
                counters = {}
                for state in STATES:
                    with (
                        ui.card()
                        .classes("q-pa-sm min-w-28")
                        .props("flat bordered")
                        .on("click", lambda s=state: ui.navigate.to(f"/jobs?state={s}"))
                        .classes("cursor-pointer")
                    ):
                        ui.label(state).classes("text-xs opacity-70")
                        counters[state] = (
                            ui.label("–").classes("text-2xl font-semibold").mark(f"count-{state}")
                        )
            with ui.row().classes("w-full gap-2 no-wrap items-start"):
                with ui.card().classes("grow q-pa-sm").props("flat bordered"):
                    with ui.row().classes("w-full items-center"):
                        ui.label("Attempts per minute, last hour").classes("font-semibold")
                        ui.space()
                        failure = ui.label("").classes("text-sm").mark("failure-rate")
                    chart = (
                        ui.echart(_chart_options()).classes("w-full h-64").mark("throughput-chart")
                    )
                with ui.column().classes("w-72 gap-2"):
                    with ui.card().classes("w-full q-pa-sm").props("flat bordered"):
                        ui.label("Queue lengths").classes("font-semibold")
                        queues = ui.column().classes("gap-0 text-sm").mark("queue-lengths")
                    with ui.card().classes("w-full q-pa-sm").props("flat bordered"):
                        ui.label("Workers online").classes("font-semibold")
                        workers = ui.column().classes("gap-0 text-sm").mark("workers-online")

            async def refresh() -> None:
                figures = await blocking.call(data.dashboard_figures, services)
                for state, count in figures["by_state"].items():
                    counters[state].text = f"{count:,}"
                hour = figures["last_hour"]
                chart.options["xAxis"]["data"] = [m["minute"][11:16] for m in hour["minutes"]]
                for series, outcome in zip(
                    chart.options["series"], ("succeeded", "failed", "dead"), strict=True
                ):
                    series["data"] = [m[outcome] for m in hour["minutes"]]
                chart.update()
                failure.text = f"failure rate {hour['failure_rate']:.1%}"
                queues.clear()
                with queues:
                    for name, length in figures["queues"].items():
                        ui.label(
                            f"{name}: {length['pending']:,} waiting, "
                            f"{length['scheduled']:,} scheduled"
                        )
                workers.clear()
                with workers:
                    if not figures["workers"]:
                        ui.label("no worker is running").classes("text-warning")
                    for worker in figures["workers"]:
                        ui.label(
                            f"{worker['id']} · {', '.join(worker['queues'])} · "
                            f"{len(worker.get('jobs', []))} running"
                        )

            await refresh()
            ui.timer(REFRESH_SECONDS, refresh)
