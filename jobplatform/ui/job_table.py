"""The job list's table: one page of jobs (keyset pages, as the API's), the open job's row
marked, a Retry button on dead rows, boxes to select rows, and the pager under it.

`load` reads the current page again and redraws the rows only when a job on it changed,
so a live refresh keeps the user's selection and scroll position.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from jobplatform.jobs.models import describe_job
from jobplatform.jobs.query import JobFilter, JobPage
from jobplatform.services import Services
from jobplatform.ui import blocking

PAGE_SIZE = 50
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

JobHandler = Callable[[str], Awaitable[None]]


def row_of(doc: dict, open_id: str | None) -> dict:
    """A row of the table, from a job's stored document (a page of `find_jobs`)."""
    job = describe_job(doc, with_attempts=False)
    created = job["created_at"]  # ISO 8601 in UTC, milliseconds and Z
    return {
        "id": job["id"],
        "name": job["name"],
        "state": job["state"],
        "color": STATE_COLORS.get(job["state"], "grey"),
        "attempts": f"{job['attempt_count']}/{job['max_attempts']}",
        "created_at": created[:19].replace("T", " ") if created else "",
        "error": (job["error"] or "")[:60],
        "open": job["id"] == open_id,
        "updated": job["updated_at"] or "",
    }


class JobTable:
    def __init__(
        self,
        services: Services,
        open_id: str | None,
        on_open: JobHandler,
        on_retry: JobHandler,
        on_turn: Callable[[], Awaitable[None]],
    ):
        """`on_open` and `on_retry` get the id of a clicked row or of its Retry button;
        `on_turn` runs after the pager moved to another page."""
        self.services = services
        self.open_id = open_id
        self.on_turn = on_turn
        self.cursors: list[str | None] = [None]  # cursors[i] starts page i+1
        self.next_cursor: str | None = None
        self.total: tuple[int | None, bool] = (0, False)  # counted with the first page
        self.signature = None
        with ui.column().classes("grow gap-1").style("min-width: 0"):
            self.table = (
                ui.table(columns=COLUMNS, rows=[], row_key="id", selection="multiple", pagination=0)
                .props("dense flat bordered hide-bottom")
                .classes("job-table w-full")
                .mark("job-table")
            )
            self.table.add_slot("body-cell-id", ID_CELL)
            self.table.add_slot("body-cell-state", STATE_CELL)
            self.table.add_slot("body-cell-actions", ACTIONS_CELL)
            with ui.row().classes("items-center gap-2"):
                self.previous = ui.button(icon="chevron_left", on_click=lambda: self.turn(-1))
                self.previous.props("dense flat").mark("previous-page")
                self.page_label = ui.label("").classes("text-sm").mark("page-label")
                self.following = ui.button(icon="chevron_right", on_click=lambda: self.turn(1))
                self.following.props("dense flat").mark("next-page")
        self.table.on("rowClick", lambda e: on_open(e.args[1]["id"]))
        self.table.on("retry", lambda e: on_retry(e.args))

    @property
    def ids(self) -> list[str]:
        """The ids of the jobs on this page, in their order."""
        return [row["id"] for row in self.table.rows]

    @property
    def selected_ids(self) -> list[str]:
        return [row["id"] for row in self.table.selected]

    def clear_selection(self) -> None:
        self.table.selected = []

    def first_page(self) -> None:
        self.cursors = [None]

    async def turn(self, step: int) -> None:
        if step > 0 and self.next_cursor:
            self.cursors.append(self.next_cursor)
        elif step < 0 and len(self.cursors) > 1:
            self.cursors.pop()
        await self.on_turn()

    async def load(self, job_filter: JobFilter, order: str, force: bool = False) -> None:
        """Read the current page; redraw its rows if a job changed (or when forced)."""
        result = await blocking.call(
            self.services.jobs.page,
            job_filter,
            order=order,
            limit=PAGE_SIZE,
            cursor=self.cursors[-1],
            count_budget_ms=self.services.settings.list_count_budget_ms,
        )
        if self.cursors[-1] is None:
            self.total = (result.total, result.total_capped)
        rows = [row_of(job, self.open_id) for job in result.jobs]
        signature = [(r["id"], r["updated"], r["open"]) for r in rows], self.total
        if force or signature != self.signature:
            self.signature = signature
            self.table.rows = rows
            self.table.update()
        self._draw_pager(result, len(rows))

    def _draw_pager(self, result: JobPage, shown: int) -> None:
        first = (len(self.cursors) - 1) * PAGE_SIZE
        count, capped = self.total
        if count is None:  # counting took too long
            total = f"more than {first + shown:,}"
        else:
            total = f"more than {count:,}" if capped else f"{count:,}"
        self.page_label.text = (
            f"{first + 1}–{first + shown} of {total}" if shown else "no jobs match"
        )
        self.previous.enabled = len(self.cursors) > 1
        self.following.enabled = result.next_cursor is not None
        self.next_cursor = result.next_cursor
