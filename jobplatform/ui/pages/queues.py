"""Queues: each queue's jobs by state and whether it is paused, with Pause and Resume, read
again every two seconds; and cleaning finished jobs by state, type and age, counted first
(a dry run) so that the confirmation says how many will go. Every change checks the role
on the server, then goes through `QueueControls` and `clean_finished`, as the API does."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from jobplatform.errors import PlatformError
from jobplatform.jobs.cleaning import CLEANABLE, CleanFilter, clean_filter, clean_finished
from jobplatform.jobs.queue_controls import QueueControls
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.session import OPERATE, allowed, require_login
from jobplatform.ui.shell import frame

REFRESH_SECONDS = 2.0
AGES = {"any": None, "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
COUNTS = ("waiting", "scheduled", "retrying", "running")


def register(services: Services) -> None:
    controls = QueueControls(services.host)

    @ui.page("/queues", title="Queues · jobplatform")
    async def queues_page() -> None:
        user = require_login()
        if user is None:
            return
        operates = user["role"] in OPERATE
        with frame("Queues", services, user):
            listing = ui.column().classes("w-full gap-1").mark("queue-list")
            seen: dict[str, Any] = {}

            async def show(force: bool = False) -> None:
                rows = await blocking.call(controls.list)
                signature = [tuple(sorted((k, str(v)) for k, v in row.items())) for row in rows]
                if not force and signature == seen.get("rows"):
                    return  # unchanged: keep the buttons the user may be clicking
                seen["rows"] = signature
                listing.clear()
                with listing:
                    if not rows:
                        ui.label("No job type is loaded, so there is no queue.")
                    for row in rows:
                        _queue_row(row, operates, lambda name, p: change(name, p))

            async def change(name: str, pause: bool) -> None:
                verb = "pause" if pause else "resume"
                if not allowed(OPERATE, f"{verb} queues"):
                    return
                action = controls.pause if pause else controls.resume
                try:
                    await blocking.call(action, name, user["username"])
                except PlatformError as exc:
                    ui.notify(f"Could not {verb} '{name}': {exc.message}", type="negative")
                else:
                    ui.notify(f"Queue '{name}' {verb}d", type="positive")
                await show(force=True)

            if operates:
                _clean_card(services)
            await show(force=True)
            ui.timer(REFRESH_SECONDS, show)


def _queue_row(row: dict[str, Any], operates: bool, change) -> None:
    name = row["name"]
    with ui.card().props("flat bordered").classes("w-full q-pa-sm").mark(f"queue-{name}"):
        with ui.row().classes("w-full items-center gap-3"):
            ui.label(name).classes("font-semibold font-mono")
            if row["paused"]:
                ui.badge("paused", color="warning").mark(f"state-{name}")
            else:
                ui.badge("active", color="positive").mark(f"state-{name}")
            ui.label(" · ".join(f"{key} {row[key]:,}" for key in COUNTS)).classes("text-sm").mark(
                f"counts-{name}"
            )
            ui.space()
            if operates and row["paused"]:
                ui.button("Resume", icon="play_arrow", on_click=lambda: change(name, False)).props(
                    "dense no-caps color=positive"
                ).mark(f"resume-{name}")
            elif operates:
                ui.button("Pause", icon="pause", on_click=lambda: change(name, True)).props(
                    "dense outline no-caps"
                ).mark(f"pause-{name}")
        with ui.row().classes("w-full items-center gap-3 text-xs opacity-80"):
            ui.label("Job types: " + (", ".join(row["job_types"]) or "none loaded"))
            if row["paused"]:
                since = row["paused_at"].strftime("%Y-%m-%d %H:%M:%S UTC")
                ui.label(f"paused by {row['paused_by'] or 'unknown'} since {since}")


def _describe(state: str, job_type: str, age: str) -> str:
    parts = [f"state {state}" if state else "any finished state"]
    parts.append(f"type {job_type}" if job_type else "any type")
    parts.append(f"finished more than {age} ago" if AGES.get(age) else "finished at any time")
    return ", ".join(parts)


def _clean_card(services: Services) -> None:
    types = sorted(services.host.job_types)
    with ui.card().classes("w-full q-pa-sm").props("flat bordered") as card:
        ui.label("Clean finished jobs").classes("font-semibold")
        with ui.row().classes("w-full items-center gap-2"):
            state = (
                ui.select({"": "any finished state", **{s: s for s in CLEANABLE}}, value="")
                .props("dense outlined")
                .classes("w-44")
                .mark("clean-state")
            )
            job_type = (
                ui.select({"": "any type", **{t: t for t in types}}, value="")
                .props("dense outlined")
                .classes("w-44")
                .mark("clean-type")
            )
            age = (
                ui.select(
                    {k: "any time" if k == "any" else f"more than {k} ago" for k in AGES},
                    value="any",
                )
                .props("dense outlined")
                .classes("w-44")
                .mark("clean-age")
            )
            button = ui.button("Clean…", icon="delete_sweep").props("dense outline no-caps")
            button.mark("clean")

    async def count_then_confirm() -> None:
        if not allowed(OPERATE, "clean jobs"):
            return
        try:
            job_filter = clean_filter(state.value or None, job_type.value or None, AGES[age.value])
        except PlatformError as exc:
            ui.notify(exc.message, type="negative")
            return
        stats = services.jobs.stats
        count = await blocking.call(clean_finished, job_filter, stats, dry_run=True)
        what = _describe(state.value, job_type.value, age.value)
        if not count:
            ui.notify(f"No finished jobs match ({what}); nothing to delete.", type="info")
            return
        with card:
            _confirm(services, job_filter, count, what)

    button.on_click(count_then_confirm)


def _confirm(services: Services, job_filter: CleanFilter, count: int, what: str) -> None:
    """A dialog that states how many jobs will go; it removes itself once answered."""
    jobs = f"{count:,} finished job{'s' * (count != 1)}"
    with ui.dialog() as dialog, ui.card():
        ui.label(f"Delete {jobs}?").classes("font-semibold").mark("clean-count")
        ui.label(f"{what[0].upper()}{what[1:]}. Their history goes too; this cannot be undone.")

        def close() -> None:
            dialog.close()
            dialog.delete()

        async def delete() -> None:
            with dialog.parent_slot.parent:  # the card, which stays while the dialog goes
                close()
                if not allowed(OPERATE, "clean jobs"):
                    return
                deleted = await blocking.call(clean_finished, job_filter, services.jobs.stats)
                ui.notify(f"{deleted:,} job{'s' * (deleted != 1)} deleted", type="positive")

        with ui.row():
            ui.button(f"Delete {jobs}", on_click=delete).props("color=negative").mark(
                "clean-confirm"
            )
            ui.button("Cancel", on_click=close).props("flat").mark("clean-cancel")
    dialog.open()
