"""Workflows: the list of workflows, and one workflow's graph (its steps as nodes coloured
by state, an arrow for each `after`), redrawn live while it runs. A click on a step opens
its job on the Jobs page; operators can cancel a running workflow. Every read and change
is the core's (jobs/workflows.py)."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from jobplatform.errors import PlatformError
from jobplatform.jobs.workflow_models import WORKFLOW_STATES
from jobplatform.jobs.workflows import (
    cancel_workflow,
    find_workflow,
    find_workflows,
    workflow_view,
)
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.guarded import guarded
from jobplatform.ui.live_list import LiveList
from jobplatform.ui.session import OPERATE, require_login
from jobplatform.ui.shell import frame

REFRESH_SECONDS = 1.5
LISTED = 100
STEP_COLOURS = {  # ECharts colours of the job states
    "blocked": "#9e9e9e",
    "queued": "#1976d2",
    "scheduled": "#1976d2",
    "running": "#f2c037",
    "retrying": "#f57c00",
    "succeeded": "#21ba45",
    "dead": "#c10015",
    "cancelled": "#616161",
}
WORKFLOW_COLOURS = {"running": "warning", "succeeded": "positive", "failed": "negative"}
COLUMN_WIDTH, ROW_HEIGHT = 170, 70


def layers(steps: list[dict[str, Any]]) -> dict[str, int]:
    """Each step's column: the length of the longest `after` path that leads to it."""
    after = {s["key"]: s["after"] for s in steps}
    depth: dict[str, int] = {}

    def of(key: str) -> int:
        if key not in depth:
            depth[key] = 1 + max((of(p) for p in after[key]), default=-1)
        return depth[key]

    for key in after:
        of(key)
    return depth


def graph_options(view: dict[str, Any]) -> dict[str, Any]:
    """The ECharts options that draw a workflow's steps and edges."""
    depth = layers(view["steps"])
    rows: dict[int, int] = {}
    nodes = []
    for step in view["steps"]:
        column = depth[step["key"]]
        row = rows[column] = rows.get(column, -1) + 1
        nodes.append(
            {
                "name": step["key"],
                "x": column * COLUMN_WIDTH,
                "y": row * ROW_HEIGHT,
                "value": step["state"],
                "itemStyle": {"color": STEP_COLOURS.get(step["state"], "#9e9e9e")},
            }
        )
    return {
        "tooltip": {"formatter": "{b}: {c}"},
        "series": [
            {
                "type": "graph",
                "layout": "none",
                "roam": True,
                "symbolSize": 34,
                "label": {"show": True, "position": "bottom"},
                "edgeSymbol": ["none", "arrow"],
                "edgeSymbolSize": 9,
                "lineStyle": {"width": 2, "color": "#888"},
                "data": nodes,
                "links": [{"source": p, "target": c} for p, c in view["edges"]],
            }
        ],
    }


def _workflow_row(workflow) -> None:
    with ui.row().classes("items-center gap-3").mark(f"workflow-{workflow.id}"):
        ui.badge(workflow.state, color=WORKFLOW_COLOURS.get(workflow.state, "grey"))
        ui.link(workflow.name, f"/workflows/{workflow.id}").classes("font-medium")
        ui.label(f"{len(workflow.steps)} steps").classes("text-sm opacity-70")
        created = workflow.created_at.strftime("%Y-%m-%d %H:%M:%S") if workflow.created_at else ""
        ui.label(f"{created} UTC · {workflow.created_by or ''}").classes("text-sm opacity-70")


def register(services: Services) -> None:
    @ui.page("/workflows", title="Workflows · jobplatform")
    async def workflows_page(state: str | None = None) -> None:
        user = require_login()
        if user is None:
            return
        with frame("Workflows", services, user):
            chosen = (
                ui.select(
                    ["any", *WORKFLOW_STATES], value=state if state in WORKFLOW_STATES else "any"
                )
                .props("dense outlined")
                .classes("w-40")
                .mark("workflow-state")
            )

            def load():
                states = () if chosen.value == "any" else (chosen.value,)
                return find_workflows(states=states, limit=LISTED).workflows

            listing = LiveList(
                "workflow-list",
                load,
                _workflow_row,
                signature=lambda rows: [(str(w.id), w.state) for w in rows],
                empty="No workflow yet: submit one with POST /api/workflows.",
            )
            chosen.on_value_change(lambda: listing.show(force=True))
            await listing.show()
            ui.timer(REFRESH_SECONDS * 2, listing.show)

    @ui.page("/workflows/{workflow_id}", title="Workflow · jobplatform")
    async def workflow_page(workflow_id: str) -> None:
        user = require_login()
        if user is None:
            return
        with frame("Workflow", services, user):
            await _workflow_view(services, workflow_id)


async def _workflow_view(services: Services, workflow_id: str) -> None:
    try:
        view = await blocking.call(lambda: workflow_view(find_workflow(workflow_id)))
    except PlatformError as exc:  # a removed workflow, or a mistyped id
        ui.label(exc.message).classes("text-negative").mark("no-workflow")
        return
    job_of = {s["key"]: s["job_id"] for s in view["steps"]}
    with ui.row().classes("items-center gap-3"):
        ui.link("← Workflows", "/workflows")
        ui.label(view["name"]).classes("text-lg font-medium")
        badge = ui.badge(view["state"]).mark("workflow-state-badge")

        async def cancel() -> None:
            action = "cancel the workflow"
            if await guarded(OPERATE, action, cancel_workflow, services.jobs, workflow_id):
                ui.notify("Workflow cancelled")
                await refresh()

        cancel_button = ui.button("Cancel workflow", on_click=cancel).props("flat color=negative")
        cancel_button.mark("cancel-workflow")
    ui.label("Click a step to open its job.").classes("text-sm opacity-70")

    def open_step(event) -> None:
        if event.name in job_of:
            ui.navigate.to(f"/jobs?job={job_of[event.name]}")

    chart = ui.echart(graph_options(view), on_point_click=open_step)
    chart.classes("w-full").style("height: 420px").mark("workflow-graph")
    shown = {"states": None}

    def show(current: dict[str, Any]) -> None:
        badge.text = current["state"]
        badge.props(f"color={WORKFLOW_COLOURS.get(current['state'], 'grey')}")
        cancel_button.visible = current["state"] == "running"
        states = [s["state"] for s in current["steps"]]
        if states != shown["states"]:
            shown["states"] = states
            chart.options.clear()
            chart.options.update(graph_options(current))
            chart.update()

    async def refresh() -> None:
        show(await blocking.call(lambda: workflow_view(find_workflow(workflow_id))))

    show(view)
    ui.timer(REFRESH_SECONDS, refresh)
