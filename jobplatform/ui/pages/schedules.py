"""Schedules: periodic jobs. The list with their next runs and the last job each fired; a
form to create one, its job data generated from the job type's schema; enable, disable
and delete. Every change goes through `ScheduleService`, as the API's do, and checks the
role on the server first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from nicegui import ui

from jobplatform.jobs.schedules import Schedule, ScheduleService, upcoming
from jobplatform.jobs.service import InvalidJobData, JobError
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.schema_form import FormInputError, SchemaForm, job_type_form
from jobplatform.ui.session import OPERATE, allowed, require_login
from jobplatform.ui.shell import frame

REFRESH_SECONDS = 2.0
STATE_COLOURS = {"succeeded": "positive", "dead": "negative", "cancelled": "grey"}


def _when(value: datetime, zone: str | None = None) -> str:
    text = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if zone and zone != "UTC":
        local = value.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
        text += f" ({local.strftime('%H:%M')} {zone})"
    return text


def _listing(service: ScheduleService) -> list[tuple[Schedule, dict[str, Any], list[datetime]]]:
    schedules = service.list()
    return [
        (schedule, described, upcoming(schedule))
        for schedule, described in zip(schedules, service.describe(schedules), strict=True)
    ]


def register(services: Services) -> None:
    service = ScheduleService(services.jobs)
    zones = sorted(available_timezones())

    @ui.page("/schedules", title="Schedules · jobplatform")
    async def schedules_page() -> None:
        user = require_login()
        if user is None:
            return
        job_types = services.host.job_types
        with frame("Schedules", services, user):
            if job_types:
                _create_card(service, job_types, zones, user, lambda: show(force=True))
            else:
                ui.label("No job types are loaded; see the Plugins page.")
            listing = ui.column().classes("w-full gap-1").mark("schedule-list")
            empty = ui.label("No schedules yet.").classes("opacity-70")
            seen: dict[str, Any] = {}

            async def show(force: bool = False) -> None:
                rows = await blocking.call(_listing, service)
                signature = [(d, [t.isoformat() for t in times]) for _, d, times in rows]
                if not force and signature == seen.get("rows"):
                    return  # unchanged: keep the elements the user may be clicking
                seen["rows"] = signature
                listing.clear()
                empty.visible = not rows
                with listing:
                    for schedule, described, times in rows:
                        _schedule_row(schedule, described, times)

            def _schedule_row(schedule: Schedule, described: dict, times: list[datetime]) -> None:
                name = schedule.name
                with (
                    ui.card()
                    .props("flat bordered")
                    .classes("w-full q-pa-sm")
                    .mark(f"schedule-{name}")
                ):
                    with ui.row().classes("w-full items-center gap-3"):
                        ui.label(name).classes("font-semibold")
                        ui.label(schedule.job_type).classes("font-mono text-sm")
                        ui.label(schedule.timing()).classes("text-sm")
                        ui.space()
                        ui.switch(
                            "Enabled",
                            value=schedule.enabled,
                            on_change=lambda e, s=schedule: set_enabled(s, e.value),
                        ).mark(f"toggle-{name}")
                        ui.button(
                            icon="delete", on_click=lambda s=schedule: confirm_delete(s)
                        ).props("flat dense round color=negative").tooltip("Delete").mark(
                            f"delete-{name}"
                        )
                    with ui.row().classes("w-full items-center gap-3 text-sm"):
                        if times:
                            ui.label(
                                "Next: "
                                + ", then ".join(
                                    [_when(times[0], schedule.timezone)]
                                    + [t.strftime("%H:%M:%S") for t in times[1:]]
                                )
                            ).mark(f"next-{name}")
                        else:
                            ui.label("Disabled: no next run").classes("opacity-70").mark(
                                f"next-{name}"
                            )
                        last = described["last_job"]
                        if last:
                            ui.label("Last job:")
                            ui.link(last["id"], f"/jobs?job={last['id']}").classes(
                                "font-mono"
                            ).mark(f"last-job-{name}")
                            ui.badge(
                                last["state"] or "removed",
                                color=STATE_COLOURS.get(last["state"] or "", "primary"),
                            )
                        if schedule.last_error:
                            ui.label(f"Last slot skipped: {schedule.last_error}").classes(
                                "text-negative"
                            )

            async def set_enabled(schedule: Schedule, enabled: bool) -> None:
                if enabled == schedule.enabled:
                    return
                verb = "enable" if enabled else "disable"
                if await _change(
                    f"{verb} schedules", service.update, str(schedule.id), {"enabled": enabled}
                ):
                    ui.notify(f"Schedule '{schedule.name}' {verb}d", type="positive")
                await show(force=True)

            def confirm_delete(schedule: Schedule) -> None:
                with ui.dialog() as dialog, ui.card():
                    ui.label(f"Delete schedule '{schedule.name}'? The jobs it fired stay.")

                    async def delete() -> None:
                        dialog.close()
                        if await _change("delete schedules", service.delete, str(schedule.id)):
                            ui.notify(f"Schedule '{schedule.name}' deleted", type="positive")
                        await show(force=True)

                    with ui.row():
                        ui.button("Delete", on_click=delete).props("color=negative").mark(
                            "delete-confirm"
                        )
                        ui.button("Cancel", on_click=dialog.close).props("flat")
                dialog.open()

            await show(force=True)
            ui.timer(REFRESH_SECONDS, show)


async def _change(action: str, function, *args) -> bool:
    """Run a schedule change for an operator or admin; report a refusal. True when done."""
    if not allowed(OPERATE, action):
        return False
    try:
        await blocking.call(function, *args)
    except JobError as exc:
        ui.notify(f"Could not {action.split()[0]}: {exc.message}", type="negative")
        return False
    return True


def _create_card(
    service: ScheduleService, job_types: dict, zones: list[str], user: dict, done
) -> None:
    names = {name: f"{t.title or name} ({name})" for name, t in sorted(job_types.items())}
    with ui.card().classes("w-full max-w-3xl q-pa-md").props("flat bordered"):
        ui.label("New schedule").classes("font-semibold")
        name = ui.input("Name *").classes("w-full").mark("schedule-name")
        select = (
            ui.select(names, value=next(iter(names)), label="Job type")
            .classes("w-full")
            .mark("schedule-job-type")
        )
        form_area = ui.column().classes("w-full gap-1")
        timing = ui.toggle(
            {"interval": "Every N seconds", "cron": "Cron expression"}, value="interval"
        ).mark("schedule-timing")
        with ui.row().classes("w-full items-start gap-2"):
            interval = (
                ui.number("Interval (seconds)", min=1, precision=0, value=3600)
                .classes("w-48")
                .mark("schedule-interval")
            )
            cron = (
                ui.input("Cron (minute hour day month weekday)", placeholder="0 9 * * 1-5")
                .classes("w-72")
                .mark("schedule-cron")
            )
            zone = (
                ui.select(zones, value="UTC", label="Time zone", with_input=True)
                .classes("w-64")
                .mark("schedule-timezone")
            )
        interval.bind_visibility_from(timing, "value", value="interval")
        cron.bind_visibility_from(timing, "value", value="cron")
        zone.bind_visibility_from(timing, "value", value="cron")
        with ui.expansion("Options: priority, attempts, timeout").classes("w-full"):
            priority = (
                ui.number("Priority (-100 to 100)", min=-100, max=100, precision=0)
                .classes("w-full")
                .mark("schedule-priority")
            )
            max_attempts = (
                ui.number("Max attempts", min=1, precision=0)
                .classes("w-full")
                .mark("schedule-max-attempts")
            )
            timeout = (
                ui.number("Timeout (seconds)", min=0).classes("w-full").mark("schedule-timeout")
            )
        enabled = ui.checkbox("Enabled", value=True).mark("schedule-enabled")
        problems = ui.label("").classes("text-negative text-sm").mark("schedule-problems")
        create = ui.button("Create schedule", icon="add_alarm").mark("create-schedule")

    state: dict[str, SchemaForm] = {}
    inputs = {
        "name": name,
        "job_type": select,
        "cron": cron,
        "timezone": zone,
        "interval_seconds": interval,
        "priority": priority,
        "max_attempts": max_attempts,
        "timeout": timeout,
    }

    def build_form() -> None:
        state["form"] = job_type_form(form_area, job_types[select.value])

    def number(element) -> int | float | None:
        value = element.value
        if value is None or value == "":
            return None
        return int(value) if float(value).is_integer() else value

    async def submit() -> None:
        if not allowed(OPERATE, "create schedules"):
            return
        form = state["form"]
        form.clear_errors()
        for element in inputs.values():
            element.error = None
        problems.text = ""
        try:
            data = form.values()
        except FormInputError as exc:
            problems.text = str(exc)
            return
        fields = {
            "name": name.value or "",
            "job_type": select.value,
            "data": data,
            "priority": number(priority),
            "max_attempts": number(max_attempts),
            "timeout": timeout.value if timeout.value not in (None, "") else None,
            "enabled": bool(enabled.value),
        }
        if timing.value == "cron":
            fields |= {"cron": cron.value or "", "timezone": zone.value or "UTC"}
        else:
            fields["interval_seconds"] = number(interval)
        try:
            schedule = await blocking.call(service.create, fields, created_by=user["username"])
        except InvalidJobData as exc:
            details = exc.details or {}
            data_errors = {
                k.removeprefix("data."): v for k, v in details.items() if k.startswith("data.")
            }
            unplaced = form.show_errors(data_errors)
            for field, messages in details.items():
                if field in inputs:
                    inputs[field].error = str(messages[0]) if messages else "invalid"
                elif not field.startswith("data."):
                    unplaced.append(f"{field}: {messages[0] if messages else 'invalid'}")
            problems.text = "; ".join([exc.message, *unplaced])
            return
        except JobError as exc:
            problems.text = exc.message
            return
        ui.notify(f"Schedule '{schedule.name}' created", type="positive")
        name.value = ""
        await done()

    select.on_value_change(build_form)
    create.on_click(submit)
    build_form()
