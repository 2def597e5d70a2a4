"""Dashboard: jobs by state, attempts and failure rate over the last hour, 24 hours or 7
days (the choice is kept in the browser's user storage), queue lengths and workers online,
refreshed every second without reloading the page."""

from __future__ import annotations

from typing import Any

from nicegui import app, ui

from jobplatform import overview
from jobplatform.jobs.attempt_series import DEFAULT_RANGE, RANGES
from jobplatform.jobs.models import STATES
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.session import require_login
from jobplatform.ui.shell import frame

REFRESH_SECONDS = 1.0
RANGE_KEY = "dashboard_range"  # the chosen range in app.storage.user
RANGE_LABELS = {"1h": "1 h", "24h": "24 h", "7d": "7 d"}
CHART_TITLES = {
    "1h": "Attempts per minute, last hour",
    "24h": "Attempts per 15 minutes, last 24 hours",
    "7d": "Attempts per hour, last 7 days",
}


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


def chosen_range() -> str:
    """The range this browser chose last, or the default one."""
    stored = app.storage.user.get(RANGE_KEY)
    return stored if stored in RANGES else DEFAULT_RANGE


def bucket_label(start: str, range_name: str) -> str:
    """`2025-05-01T13:15Z` as the chart's axis shows it: the time, with the day over 7 days."""
    return f"{start[5:10]} {start[11:16]}" if range_name == "7d" else start[11:16]


class AttemptsCard:
    """The attempts chart, its failure rate and the range toggle; the choice is stored."""

    def __init__(self) -> None:
        with ui.card().classes("grow q-pa-sm").props("flat bordered"):
            with ui.row().classes("w-full items-center gap-3"):
                self.title = ui.label(CHART_TITLES[chosen_range()]).classes("font-semibold")
                ui.space()
                self.failure = ui.label("").classes("text-sm").mark("failure-rate")
                self.toggle = (
                    ui.toggle(RANGE_LABELS, value=chosen_range(), on_change=self._chosen)
                    .props("dense no-caps size=sm")
                    .mark("attempts-range")
                )
            self.chart = ui.echart(_chart_options()).classes("w-full h-64").mark("throughput-chart")

    @property
    def range_name(self) -> str:
        return self.toggle.value

    def _chosen(self) -> None:
        app.storage.user[RANGE_KEY] = self.range_name
        self.title.text = CHART_TITLES[self.range_name]

    def draw(self, attempts: dict[str, Any]) -> None:
        """Show `attempts` (`read_series`), unless the choice changed while it was read."""
        if attempts["range"] != self.range_name:
            return
        buckets = attempts["buckets"]
        self.chart.options["xAxis"]["data"] = [
            bucket_label(b["start"], attempts["range"]) for b in buckets
        ]
        for series, outcome in zip(
            self.chart.options["series"], ("succeeded", "failed", "dead"), strict=True
        ):
            series["data"] = [b[outcome] for b in buckets]
        self.chart.update()
        self.failure.text = f"failure rate {attempts['failure_rate']:.1%}"


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
                attempts = AttemptsCard()
                with ui.column().classes("w-72 gap-2"):
                    with ui.card().classes("w-full q-pa-sm").props("flat bordered"):
                        ui.label("Queue lengths").classes("font-semibold")
                        queues = ui.column().classes("gap-0 text-sm").mark("queue-lengths")
                    with ui.card().classes("w-full q-pa-sm").props("flat bordered"):
                        ui.label("Workers online").classes("font-semibold")
                        workers = ui.column().classes("gap-0 text-sm").mark("workers-online")

            async def refresh() -> None:
                range_name = attempts.range_name
                figures = await blocking.call(overview.figures, services, range_name)
                for state, count in figures["by_state"].items():
                    counters[state].text = f"{count:,}"
                attempts.draw(figures["attempts"])
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

            attempts.toggle.on_value_change(refresh)
            await refresh()
            ui.timer(REFRESH_SECONDS, refresh)
