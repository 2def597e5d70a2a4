"""Jobs: a filtered, paginated list with bulk actions, and the selected job in a side panel.

The open job is read again every second. The list is queried again when the engine's
state counters change (read every second; a few small documents) or every 15 seconds, so
new and changed jobs appear within about two seconds without a reload, and an idle list
costs MongoDB almost nothing. Every action asks `allowed` first and then calls
`JobService`, as the API does.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from nicegui import ui

from jobplatform import overview
from jobplatform.jobs.models import STATES, utcnow
from jobplatform.jobs.query import JobFilter
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.actions import cancel_jobs, retry_jobs
from jobplatform.ui.job_detail import JobDetail
from jobplatform.ui.job_table import JobTable
from jobplatform.ui.session import require_login
from jobplatform.ui.shell import Shell, frame

REFRESH_SECONDS = 1.0  # how often the state counters are read to notice a change
REQUERY_SECONDS = 15.0  # the list is queried again at least this often even without one
TIME_RANGES = {
    "any": None,
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
}
JobAction = Callable[[Services, list[str]], Awaitable[int]]  # retry_jobs, cancel_jobs


def filter_select(options: dict[str, str], value: str, label: str, width: str) -> ui.select:
    """One of the dense selects above the job table."""
    return ui.select(options, value=value, label=label).props("dense outlined").classes(width)


def _any_or_one(kind: str, choices: Sequence[str], value: str | None, width: str) -> ui.select:
    """A filter on one of `choices`, "any `kind`" first; `value` chosen if it is one."""
    options = {"": f"any {kind}", **{choice: choice for choice in choices}}
    return filter_select(options, value if value in choices else "", kind.capitalize(), width)


class JobFilters:
    """The search box and the selects above the job table, first set from the page's query
    parameters (`state`, `type`, `q`)."""

    def __init__(self, job_types: list[str], state: str | None, job_type: str | None, q: str):
        self.search = (
            ui.input(placeholder="Search: id, error, key, user  ( / )", value=q)
            .props("dense outlined clearable debounce=300")
            .classes("w-72")
            .mark("search")
        )
        self.state = _any_or_one("state", STATES, state, "w-36").mark("state-filter")
        self.type = _any_or_one("type", job_types, job_type, "w-40").mark("type-filter")
        self.range = filter_select(
            {k: "any time" if k == "any" else f"last {k}" for k in TIME_RANGES},
            "any",
            "Created",
            "w-32",
        ).mark("range-filter")
        self.sort = filter_select(
            {"newest": "newest first", "oldest": "oldest first"}, "newest", "Sort", "w-36"
        ).mark("sort")

    def on_change(self, handler: Callable[[], Awaitable[None]]) -> None:
        for element in (self.state, self.type, self.range, self.sort, self.search):
            element.on_value_change(handler)

    def current(self) -> JobFilter:
        span = TIME_RANGES.get(self.range.value)
        return JobFilter(
            states=(self.state.value,) if self.state.value else (),
            types=(self.type.value,) if self.type.value else (),
            created_after=utcnow() - span if span else None,
            text=(self.search.value or "").strip() or None,
        )


def bulk_button(label: str, icon: str, marker: str, on_click: Callable) -> ui.button:
    """A button acting on the selected rows."""
    return (
        ui.button(label, icon=icon, on_click=on_click).props("dense outline no-caps").mark(marker)
    )


class JobsView:
    """The filters and bulk actions, the table and the open job's panel, kept live: the list
    is queried again when the state counters change or every REQUERY_SECONDS."""

    def __init__(
        self,
        services: Services,
        user: dict,
        *,
        state: str | None,
        job_type: str | None,
        q: str,
        open_id: str | None,
    ):
        """`state`, `job_type`, `q` and `open_id` are the page's query parameters."""
        self.services = services
        self.marker = None  # the state counters when the list was last queried for a change
        self.queried = 0.0  # when the list was last queried
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            self.filters = JobFilters(sorted(services.host.job_types), state, job_type, q)
            ui.space()
            bulk_button("Retry selected", "replay", "bulk-retry", lambda: self.act(retry_jobs))
            bulk_button("Cancel selected", "cancel", "bulk-cancel", lambda: self.act(cancel_jobs))
        with ui.row().classes("w-full no-wrap items-start gap-2"):
            self.jobs = JobTable(services, open_id, self.open, self.retry, self.refresh_all)
            panel = (
                ui.card()
                .classes("detail-panel w-[30rem] shrink-0 q-pa-sm")
                .props("flat bordered")
                .mark("detail-panel")
            )
        self.detail = JobDetail(panel, services, user, on_change=self.refresh_all)
        self.filters.on_change(self.filters_changed)

    def add_shortcuts(self, shell: Shell) -> None:
        search = self.filters.search
        shell.shortcut("/", "focus the search box", lambda: search.run_method("focus"))
        shell.shortcut("j", "next job in the list", lambda: self.move(1))
        shell.shortcut("k", "previous job in the list", lambda: self.move(-1))
        shell.shortcut("r", "retry the selected job when it is dead", self.retry_open)

    async def start(self) -> None:
        await self.detail.show(self.jobs.open_id)
        await self.refresh_all()
        ui.timer(REFRESH_SECONDS, self.tick)

    async def tick(self) -> None:
        """Query the list again only when the counters say something changed."""
        marker = await blocking.call(overview.change_marker)
        stale = time.monotonic() - self.queried > REQUERY_SECONDS
        if marker != self.marker or stale:
            self.marker = marker
            await self.refresh()
        else:
            await self.detail.refresh()

    async def refresh(self, force: bool = False) -> None:
        self.queried = time.monotonic()
        await self.jobs.load(self.filters.current(), self.filters.sort.value, force)
        await self.detail.refresh()

    async def refresh_all(self) -> None:
        """Redraw the rows even if no job on the page changed."""
        await self.refresh(force=True)

    async def open(self, job_id: str | None) -> None:
        self.jobs.open_id = job_id
        await self.detail.show(job_id)
        await self.refresh_all()

    async def filters_changed(self) -> None:
        self.jobs.first_page()
        await self.refresh_all()

    async def retry(self, job_id: str) -> None:
        if await retry_jobs(self.services, [job_id]):
            await self.refresh_all()

    async def act(self, action: JobAction) -> None:
        """Retry or cancel the selected jobs."""
        ids = self.jobs.selected_ids
        if not ids:
            ui.notify("Select jobs first (the boxes on the left).", type="warning")
            return
        if await action(self.services, ids):
            self.jobs.clear_selection()
            await self.refresh_all()

    async def move(self, step: int) -> None:
        """Open the next (1) or previous (-1) job of the page, or its first."""
        ids = self.jobs.ids
        if not ids:
            return
        open_id = self.jobs.open_id
        index = ids.index(open_id) + step if open_id in ids else 0
        await self.open(ids[max(0, min(index, len(ids) - 1))])

    async def retry_open(self) -> None:
        if self.jobs.open_id:
            await self.retry(self.jobs.open_id)


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
        with frame("Jobs", services, user) as shell:
            view = JobsView(services, user, state=state, job_type=type, q=q, open_id=job)
            view.add_shortcuts(shell)
            await view.start()
