"""Schedules: periodic jobs. The list with their next runs and the last job each fired; a
form to create one, its job data generated from the job type's schema; enable, disable
and delete. Every change goes through `ScheduleService`, as the API's do, and checks the
role on the server first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from nicegui import ui

from jobplatform.jobs.errors import InvalidJobData, JobError
from jobplatform.jobs.schedule_times import upcoming
from jobplatform.jobs.schedules import Schedule, ScheduleService
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.guarded import Outcome, guarded
from jobplatform.ui.job_data_form import JobDataForm
from jobplatform.ui.live_list import LiveList
from jobplatform.ui.session import OPERATE, allowed, require_login
from jobplatform.ui.shell import frame
from jobplatform.ui.widgets import delete_button, enabled_switch, titled_card

REFRESH_SECONDS = 2.0
STATE_COLOURS = {"succeeded": "positive", "dead": "negative", "cancelled": "grey"}


def _when(value: datetime, zone: str | None = None) -> str:
    text = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if zone and zone != "UTC":
        local = value.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
        text += f" ({local.strftime('%H:%M')} {zone})"
    return text


Listed = tuple[Schedule, dict[str, Any], list[datetime]]  # a schedule, described, next runs


def _listing(service: ScheduleService) -> list[Listed]:
    schedules = service.list()
    return [
        (schedule, described, upcoming(schedule))
        for schedule, described in zip(schedules, service.describe(schedules), strict=True)
    ]


def _signature(rows: Sequence[Listed]) -> list:
    return [(described, [t.isoformat() for t in times]) for _, described, times in rows]


def _next_runs(schedule: Schedule, times: list[datetime]) -> None:
    name = schedule.name
    if times:
        ui.label(
            "Next: "
            + ", then ".join(
                [_when(times[0], schedule.timezone)] + [t.strftime("%H:%M:%S") for t in times[1:]]
            )
        ).mark(f"next-{name}")
    else:
        ui.label("Disabled: no next run").classes("opacity-70").mark(f"next-{name}")


def _last_job(schedule: Schedule, described: dict[str, Any]) -> None:
    last = described["last_job"]
    if last:
        ui.label("Last job:")
        ui.link(last["id"], f"/jobs?job={last['id']}").classes("font-mono").mark(
            f"last-job-{schedule.name}"
        )
        ui.badge(
            last["state"] or "removed",
            color=STATE_COLOURS.get(last["state"] or "", "primary"),
        )
    if schedule.last_error:
        ui.label(f"Last slot skipped: {schedule.last_error}").classes("text-negative")


def _number(element: ui.number) -> int | float | None:
    value = element.value
    if value is None or value == "":
        return None
    return int(value) if float(value).is_integer() else value


class ScheduleForm:
    """Name, job type and its data, the timing (an interval, or cron in a time zone), the
    options and Create; `created` runs after a schedule was created."""

    def __init__(
        self,
        service: ScheduleService,
        job_types: dict[str, Any],
        zones: list[str],
        user: dict,
        created: Callable[[], Awaitable[None]],
    ):
        self.service = service
        self.user = user
        self.created = created
        with titled_card("New schedule", "w-full max-w-3xl q-pa-md"):
            self.name = ui.input("Name *").classes("w-full").mark("schedule-name")
            self.data = JobDataForm(job_types, None, "schedule-job-type")
            self._timing(zones)
            self._options()
            self.enabled = ui.checkbox("Enabled", value=True).mark("schedule-enabled")
            self.data.add_problems("schedule-problems")
            ui.button("Create schedule", icon="add_alarm", on_click=self.submit).mark(
                "create-schedule"
            )
        self.inputs = {
            "name": self.name,
            "job_type": self.data.select,
            "cron": self.cron,
            "timezone": self.zone,
            "interval_seconds": self.interval,
            "priority": self.priority,
            "max_attempts": self.max_attempts,
            "timeout": self.timeout,
        }

    def _timing(self, zones: list[str]) -> None:
        self.timing = ui.toggle(
            {"interval": "Every N seconds", "cron": "Cron expression"}, value="interval"
        ).mark("schedule-timing")
        with ui.row().classes("w-full items-start gap-2"):
            self.interval = (
                ui.number("Interval (seconds)", min=1, precision=0, value=3600)
                .classes("w-48")
                .mark("schedule-interval")
            )
            self.cron = (
                ui.input("Cron (minute hour day month weekday)", placeholder="0 9 * * 1-5")
                .classes("w-72")
                .mark("schedule-cron")
            )
            self.zone = (
                ui.select(zones, value="UTC", label="Time zone", with_input=True)
                .classes("w-64")
                .mark("schedule-timezone")
            )
        self.interval.bind_visibility_from(self.timing, "value", value="interval")
        self.cron.bind_visibility_from(self.timing, "value", value="cron")
        self.zone.bind_visibility_from(self.timing, "value", value="cron")

    def _options(self) -> None:
        with ui.expansion("Options: priority, attempts, timeout").classes("w-full"):
            self.priority = (
                ui.number("Priority (-100 to 100)", min=-100, max=100, precision=0)
                .classes("w-full")
                .mark("schedule-priority")
            )
            self.max_attempts = (
                ui.number("Max attempts", min=1, precision=0)
                .classes("w-full")
                .mark("schedule-max-attempts")
            )
            self.timeout = (
                ui.number("Timeout (seconds)", min=0).classes("w-full").mark("schedule-timeout")
            )

    def _fields(self, data: dict[str, Any]) -> dict[str, Any]:
        """The schedule to create, as `ScheduleService.create` takes it."""
        timeout = self.timeout.value
        fields = {
            "name": self.name.value or "",
            "job_type": self.data.job_type,
            "data": data,
            "priority": _number(self.priority),
            "max_attempts": _number(self.max_attempts),
            "timeout": timeout if timeout not in (None, "") else None,
            "enabled": bool(self.enabled.value),
        }
        if self.timing.value == "cron":
            return fields | {"cron": self.cron.value or "", "timezone": self.zone.value or "UTC"}
        return fields | {"interval_seconds": _number(self.interval)}

    async def submit(self) -> None:
        if not allowed(OPERATE, "create schedules"):
            return
        for element in self.inputs.values():
            element.error = None
        data = self.data.read()
        if data is None:
            return
        try:
            schedule = await blocking.call(
                self.service.create, self._fields(data), created_by=self.user["username"]
            )
        except InvalidJobData as exc:
            self._refused(exc)
            return
        except JobError as exc:
            self.data.refused(exc)
            return
        ui.notify(f"Schedule '{schedule.name}' created", type="positive")
        self.name.value = ""
        await self.created()

    def _refused(self, exc: InvalidJobData) -> None:
        """Each error next to its field: the data's in the job form, the schedule's own by
        its input; those no input shows in the problems line."""
        details = exc.details or {}
        data_errors = {
            k.removeprefix("data."): v for k, v in details.items() if k.startswith("data.")
        }
        unplaced = []
        for field, messages in details.items():
            message = str(messages[0]) if messages else "invalid"
            if field in self.inputs:
                self.inputs[field].error = message
            elif not field.startswith("data."):
                unplaced.append(f"{field}: {message}")
        self.data.refused(exc, data_errors, unplaced)


class ScheduleList:
    """Every schedule with its timing, next runs and last job, with Enabled and Delete."""

    def __init__(self, service: ScheduleService):
        self.service = service
        self.rows = LiveList(
            "schedule-list",
            lambda: _listing(service),
            self._row,
            signature=_signature,
            empty="No schedules yet.",
        )

    async def show(self, force: bool = False) -> None:
        await self.rows.show(force)

    def _row(self, row: Listed) -> None:
        schedule, described, times = row
        name = schedule.name
        with ui.card().props("flat bordered").classes("w-full q-pa-sm").mark(f"schedule-{name}"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(name).classes("font-semibold")
                ui.label(schedule.job_type).classes("font-mono text-sm")
                ui.label(schedule.timing()).classes("text-sm")
                ui.space()
                enabled_switch(
                    schedule.enabled, f"toggle-{name}", lambda on: self.set_enabled(schedule, on)
                )
                question = f"Delete schedule '{name}'? The jobs it fired stay."
                delete_button(f"delete-{name}", question, lambda: self.delete(schedule))
            with ui.row().classes("w-full items-center gap-3 text-sm"):
                _next_runs(schedule, times)
                _last_job(schedule, described)

    async def set_enabled(self, schedule: Schedule, enabled: bool) -> None:
        if enabled == schedule.enabled:
            return
        verb = "enable" if enabled else "disable"
        changes = {"enabled": enabled}
        if await _change(f"{verb} schedules", self.service.update, str(schedule.id), changes):
            ui.notify(f"Schedule '{schedule.name}' {verb}d", type="positive")
        await self.show(force=True)

    async def delete(self, schedule: Schedule) -> None:
        if await _change("delete schedules", self.service.delete, str(schedule.id)):
            ui.notify(f"Schedule '{schedule.name}' deleted", type="positive")
        await self.show(force=True)


async def _change(action: str, function: Callable, *args) -> Outcome:
    """Run a schedule change for an operator or admin; report a refusal. True when done."""
    return await guarded(OPERATE, action, function, *args, failure=f"Could not {action.split()[0]}")


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
                ScheduleForm(service, job_types, zones, user, lambda: schedules.show(force=True))
            else:
                ui.label("No job types are loaded; see the Plugins page.")
            schedules = ScheduleList(service)
            await schedules.show(force=True)
            ui.timer(REFRESH_SECONDS, schedules.show)
