"""Jobs: a filtered, paginated list with bulk actions, and the selected job in a side panel.

The open job is read again every second. The list is queried again when the engine's
state counters change (read every second; a few small documents) or every 15 seconds, so
new and changed jobs appear within about two seconds without a reload, and an idle list
costs MongoDB almost nothing. Every action asks `allowed` first and then calls
`JobService`, as the API does.
"""

from __future__ import annotations

import time
from datetime import timedelta

from nicegui import ui

from jobplatform.jobs.models import STATES, Job, utcnow
from jobplatform.jobs.query import JobFilter, find_jobs
from jobplatform.services import Services
from jobplatform.ui import blocking, data
from jobplatform.ui.actions import cancel_jobs, retry_jobs
from jobplatform.ui.job_detail import JobDetail
from jobplatform.ui.session import require_login
from jobplatform.ui.shell import frame

PAGE_SIZE = 50
REFRESH_SECONDS = 1.0  # how often the state counters are read to notice a change
REQUERY_SECONDS = 15.0  # the list is queried again at least this often even without one
TIME_RANGES = {
    "any": None,
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
}
COLUMNS = [
    {"name": "id", "label": "ID", "field": "id", "align": "left"},
    {"name": "name", "label": "Type", "field": "name", "align": "left"},
    {"name": "state", "label": "State", "field": "state", "align": "left"},
    {"name": "attempts", "label": "Attempts", "field": "attempts", "align": "right"},
    {"name": "created_at", "label": "Created (UTC)", "field": "created_at", "align": "left"},
    {"name": "error", "label": "Last error", "field": "error", "align": "left"},
    {"name": "actions", "label": "", "field": "id", "align": "right"},
]
STATE_COLORS = {
    "queued": "grey",
    "scheduled": "blue-grey",
    "running": "primary",
    "retrying": "warning",
    "succeeded": "positive",
    "dead": "negative",
    "cancelled": "grey-7",
}
ID_CELL = """<q-td :props="props" :class="props.row.open ? 'bg-primary text-white' : ''"
  class="font-mono text-xs">{{ props.value }}</q-td>"""
STATE_CELL = """<q-td :props="props"><q-badge :color="props.row.color">{{ props.value }}
  </q-badge></q-td>"""
ACTIONS_CELL = """<q-td :props="props"><q-btn v-if="props.row.state === 'dead'" dense flat
  size="sm" color="negative" icon="replay" label="Retry" no-caps
  @click.stop="$parent.$emit('retry', props.row.id)" /></q-td>"""


def row_of(job: Job, open_id: str | None) -> dict:
    return {
        "id": str(job.id),
        "name": job.type,
        "state": job.state,
        "color": STATE_COLORS.get(job.state, "grey"),
        "attempts": f"{job.attempt_count}/{job.max_attempts}",
        "created_at": job.created_at.strftime("%Y-%m-%d %H:%M:%S") if job.created_at else "",
        "error": (job.error or "")[:60],
        "open": str(job.id) == open_id,
        "updated": job.updated_at.isoformat() if job.updated_at else "",
    }


def filter_select(options: dict[str, str], value: str, label: str, width: str) -> ui.select:
    """One of the dense selects above the job table."""
    return ui.select(options, value=value, label=label).props("dense outlined").classes(width)


def register(services: Services) -> None:
    @ui.page("/jobs", title="Jobs · jobplatform")
    async def jobs_page(
        state: str | None = None,
        type: str | None = None,  # noqa: A002
        q: str = "",
        job: str | None = None,
    ) -> None:
        user = require_login()
        if user is None:
            return
        # cursors[i] starts page i+1 (keyset pages); total is counted with the first page
        view = {
            "cursors": [None],
            "open": job,
            "signature": None,
            "total": (0, False),
            "marker": None,
            "queried": 0.0,
        }
        with frame("Jobs", services, user) as shell:
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                search = (
                    ui.input(placeholder="Search: id, error, key, user  ( / )", value=q)
                    .props("dense outlined clearable debounce=300")
                    .classes("w-72")
                    .mark("search")
                )
                state_filter = filter_select(
                    {"": "any state", **{s: s for s in STATES}},
                    state if state in STATES else "",
                    "State",
                    "w-36",
                ).mark("state-filter")
                types = sorted(services.host.job_types)
                type_filter = filter_select(
                    {"": "any type", **{t: t for t in types}},
                    type if type in types else "",
                    "Type",
                    "w-40",
                ).mark("type-filter")
                range_filter = filter_select(
                    {k: "any time" if k == "any" else f"last {k}" for k in TIME_RANGES},
                    "any",
                    "Created",
                    "w-32",
                ).mark("range-filter")
                sort = filter_select(
                    {"newest": "newest first", "oldest": "oldest first"},
                    "newest",
                    "Sort",
                    "w-36",
                ).mark("sort")
                ui.space()
                bulk_retry = (
                    ui.button("Retry selected", icon="replay")
                    .props("dense outline no-caps")
                    .mark("bulk-retry")
                )
                bulk_cancel = (
                    ui.button("Cancel selected", icon="cancel")
                    .props("dense outline no-caps")
                    .mark("bulk-cancel")
                )
            with ui.row().classes("w-full no-wrap items-start gap-2"):
                with ui.column().classes("grow gap-1").style("min-width: 0"):
                    table = (
                        ui.table(
                            columns=COLUMNS,
                            rows=[],
                            row_key="id",
                            selection="multiple",
                            pagination=0,
                        )
                        .props("dense flat bordered hide-bottom")
                        .classes("job-table w-full")
                        .mark("job-table")
                    )
                    table.add_slot("body-cell-id", ID_CELL)
                    table.add_slot("body-cell-state", STATE_CELL)
                    table.add_slot("body-cell-actions", ACTIONS_CELL)
                    with ui.row().classes("items-center gap-2"):
                        previous = (
                            ui.button(icon="chevron_left").props("dense flat").mark("previous-page")
                        )
                        page_label = ui.label("").classes("text-sm").mark("page-label")
                        following = (
                            ui.button(icon="chevron_right").props("dense flat").mark("next-page")
                        )
                panel = (
                    ui.card()
                    .classes("detail-panel w-[30rem] shrink-0 q-pa-sm")
                    .props("flat bordered")
                    .mark("detail-panel")
                )
            detail = JobDetail(panel, services, user, on_change=lambda: refresh(force=True))

            def current_filter() -> JobFilter:
                span = TIME_RANGES.get(range_filter.value)
                return JobFilter(
                    states=(state_filter.value,) if state_filter.value else (),
                    types=(type_filter.value,) if type_filter.value else (),
                    created_after=utcnow() - span if span else None,
                    text=(search.value or "").strip() or None,
                )

            async def tick() -> None:
                """Query the list again only when the counters say something changed."""
                marker = await blocking.call(data.change_marker)
                stale = time.monotonic() - view["queried"] > REQUERY_SECONDS
                if marker != view["marker"] or stale:
                    view["marker"] = marker
                    await refresh()
                else:
                    await detail.refresh()

            async def refresh(force: bool = False) -> None:
                view["queried"] = time.monotonic()
                cursors = view["cursors"]
                result = await blocking.call(
                    find_jobs,
                    current_filter(),
                    order=sort.value,
                    limit=PAGE_SIZE,
                    cursor=cursors[-1],
                    count_budget_ms=services.settings.list_count_budget_ms,
                )
                if cursors[-1] is None:
                    view["total"] = (result.total, result.total_capped)
                rows = [row_of(j, view["open"]) for j in result.jobs]
                signature = [(r["id"], r["updated"], r["open"]) for r in rows], view["total"]
                if force or signature != view["signature"]:
                    view["signature"] = signature
                    table.rows = rows
                    table.update()
                first = (len(cursors) - 1) * PAGE_SIZE
                count, capped = view["total"]
                if count is None:  # counting took too long
                    total = f"more than {first + len(rows):,}"
                else:
                    total = f"more than {count:,}" if capped else f"{count:,}"
                page_label.text = (
                    f"{first + 1}–{first + len(rows)} of {total}" if rows else "no jobs match"
                )
                previous.enabled = len(cursors) > 1
                following.enabled = result.next_cursor is not None
                view["next"] = result.next_cursor
                await detail.refresh()

            async def open_job(job_id: str | None) -> None:
                view["open"] = job_id
                await detail.show(job_id)
                await refresh(force=True)

            async def filters_changed() -> None:
                view["cursors"] = [None]
                await refresh(force=True)

            async def turn(step: int) -> None:
                if step > 0 and view.get("next"):
                    view["cursors"].append(view["next"])
                elif step < 0 and len(view["cursors"]) > 1:
                    view["cursors"].pop()
                await refresh(force=True)

            async def retry_one(job_id: str) -> None:
                if await retry_jobs(services, [job_id]):
                    await refresh(force=True)

            async def act_on_selection(action: str) -> None:
                ids = [row["id"] for row in table.selected]
                if not ids:
                    ui.notify("Select jobs first (the boxes on the left).", type="warning")
                    return
                done = await (
                    retry_jobs(services, ids) if action == "retry" else cancel_jobs(services, ids)
                )
                if done:
                    table.selected = []
                    await refresh(force=True)

            async def move(step: int) -> None:
                ids = [row["id"] for row in table.rows]
                if not ids:
                    return
                index = ids.index(view["open"]) + step if view["open"] in ids else 0
                await open_job(ids[max(0, min(index, len(ids) - 1))])

            async def retry_open() -> None:
                if view["open"]:
                    await retry_one(view["open"])

            for element in (state_filter, type_filter, range_filter, sort, search):
                element.on_value_change(filters_changed)
            previous.on_click(lambda: turn(-1))
            following.on_click(lambda: turn(1))
            bulk_retry.on_click(lambda: act_on_selection("retry"))
            bulk_cancel.on_click(lambda: act_on_selection("cancel"))
            table.on("rowClick", lambda e: open_job(e.args[1]["id"]))
            table.on("retry", lambda e: retry_one(e.args))
            shell.shortcut("/", "focus the search box", lambda: search.run_method("focus"))
            shell.shortcut("j", "next job in the list", lambda: move(1))
            shell.shortcut("k", "previous job in the list", lambda: move(-1))
            shell.shortcut("r", "retry the selected job when it is dead", retry_open)

            await detail.show(job)
            await refresh(force=True)
            ui.timer(REFRESH_SECONDS, tick)
