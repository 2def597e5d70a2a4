"""Schedules: periodic jobs, fired by the reconciler's leader.

A schedule names a job type, its data and submission options (priority, max_attempts,
timeout), and either a cron expression (5 fields, read in the schedule's IANA time zone)
or an interval in seconds. `ScheduleService` holds every rule about schedules; the API,
the admin app and the plugins' default schedules all go through it.

Firing (`ScheduleService.fire_due`, called once a round by the reconciler's leader): each
enabled schedule whose `next_run_at` has come submits one ordinary job through
`JobService.submit` with the idempotency key `schedule:<schedule id>:<slot time>`, so two
leaders (a leader change, a restart, two processes racing) never make two jobs for one
slot. When several slots passed while nothing ran, only the latest is fired. Then
`next_run_at` moves to the first slot after now, in an update guarded by the
`next_run_at` it read. Times are stored in UTC without tzinfo, like every other model;
cron times are computed by croniter in the schedule's own zone (tz-aware), so a daily
09:00 stays 09:00 local time across a daylight-saving change.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from mongoengine.errors import NotUniqueError

from jobplatform.ids import parse_object_id
from jobplatform.jobs.errors import (
    InvalidJobData,
    InvalidSubmission,
    InvalidTransition,
    JobError,
    JobNotFound,
)
from jobplatform.jobs.models import Job, utcnow
from jobplatform.jobs.schedule_model import Schedule
from jobplatform.jobs.schedule_times import (
    KEY_PREFIX,
    check_timing,
    latest_slot,
    next_slot,
    slot_key,
)
from jobplatform.jobs.service import JobService
from jobplatform.jobs.submission_options import job_limits, priority_problem
from jobplatform.plugins.host import UnknownJobType

if TYPE_CHECKING:
    from jobplatform.jobs.queue import JobQueue
    from jobplatform.jobs.transitions import JobTransitions

log = logging.getLogger("jobplatform.schedules")
NAME_PATTERN = re.compile(r"[\x20-\x7e]{1,100}")
FIELDS = (
    "name",
    "job_type",
    "data",
    "cron",
    "timezone",
    "interval_seconds",
    "priority",
    "max_attempts",
    "timeout",
    "enabled",
)


class InvalidSchedule(InvalidJobData):
    """A schedule's fields are wrong; `details` names each field (422)."""


class ScheduleNotFound(JobNotFound):
    pass


class ScheduleConflict(InvalidTransition):
    """The name is taken (409)."""


# -- the service ---------------------------------------------------------------------------


class ScheduleService:
    """Create, change, list and fire schedules; every rule about them lives here."""

    def __init__(self, jobs: JobService):
        self.jobs = jobs
        self.host = jobs.host

    # reading

    def list(self) -> list[Schedule]:
        return list(Schedule.objects.order_by("name"))

    def get(self, schedule_id: str) -> Schedule:
        oid = parse_object_id(schedule_id)
        schedule = Schedule.objects(id=oid).first() if oid else None
        if schedule is None:
            raise ScheduleNotFound(f"no schedule with id '{schedule_id}'")
        return schedule

    def describe(self, schedules: list[Schedule]) -> list[dict[str, Any]]:
        """Each schedule with its last job's id and state (one query for all)."""
        ids = [oid for s in schedules if (oid := parse_object_id(s.last_job_id or ""))]
        jobs = {str(j.id): j for j in Job.objects(id__in=ids).only("id", "state")} if ids else {}
        return [s.describe(jobs.get(s.last_job_id or "")) for s in schedules]

    # changing

    def create(self, fields: dict[str, Any], *, created_by: str | None = None) -> Schedule:
        """Store a new schedule from `fields` (see FIELDS); raise InvalidSchedule naming
        every wrong field, or ScheduleConflict when the name is taken. Nothing is stored
        on an error."""
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise InvalidSchedule(
                "unknown schedule fields", {name: ["unknown field"] for name in unknown}
            )
        values = {"timezone": "UTC", "enabled": True, "data": {}, **fields}
        clean = self._checked(values)
        if Schedule.objects(name=clean["name"]).first() is not None:
            raise _name_taken(clean["name"])
        now = utcnow()
        schedule = Schedule(**clean, created_by=created_by, created_at=now, updated_at=now)
        schedule.next_run_at = next_slot(schedule, now) if schedule.enabled else None
        try:
            schedule.save(force_insert=True)
        except NotUniqueError:
            raise _name_taken(clean["name"]) from None
        return schedule

    def update(self, schedule_id: str, changes: dict[str, Any]) -> Schedule:
        """Change some fields; the whole schedule is checked again as `create` checks it.
        Giving `cron` clears `interval_seconds` and the other way round, unless both are
        given. A new timing, or enabling, computes `next_run_at` from now; disabling
        clears it."""
        schedule = self.get(schedule_id)
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise InvalidSchedule(
                "unknown schedule fields", {name: ["unknown field"] for name in unknown}
            )
        changes = dict(changes)
        if changes.get("cron") is not None and "interval_seconds" not in changes:
            changes["interval_seconds"] = None
        if changes.get("interval_seconds") is not None and "cron" not in changes:
            changes["cron"] = None
        values = {name: getattr(schedule, name) for name in FIELDS} | changes
        clean = self._checked(values)
        if clean["name"] != schedule.name and Schedule.objects(name=clean["name"]).first():
            raise _name_taken(clean["name"])
        retimed = any(
            clean[name] != getattr(schedule, name)
            for name in ("cron", "timezone", "interval_seconds")
        )
        updates: dict[str, Any] = {
            name: value for name, value in clean.items() if value != getattr(schedule, name)
        }
        now = utcnow()
        if not clean["enabled"]:
            updates["next_run_at"] = None
        elif retimed or not schedule.enabled or schedule.next_run_at is None:
            fresh = Schedule(**clean)
            updates["next_run_at"] = next_slot(fresh, now)
        updates["updated_at"] = now
        try:
            Schedule.objects(id=schedule.id).update_one(
                **{f"set__{name}": value for name, value in updates.items()}
            )
        except NotUniqueError:
            raise _name_taken(clean["name"]) from None
        return self.get(schedule_id)

    def delete(self, schedule_id: str) -> None:
        """Remove a schedule; the jobs it fired stay."""
        schedule = self.get(schedule_id)
        schedule.delete()

    def _checked(self, values: dict[str, Any]) -> dict[str, Any]:
        """`values` checked and normalised; raises InvalidSchedule naming every problem."""
        problems: dict[str, Any] = {}
        clean: dict[str, Any] = {}

        name = values.get("name")
        if not isinstance(name, str) or not name.strip():
            problems["name"] = ["required: a name of 1 to 100 characters"]
        elif not NAME_PATTERN.fullmatch(name.strip()):
            problems["name"] = ["must be 1 to 100 printable ASCII characters (space to '~')"]
        else:
            clean["name"] = name.strip()

        enabled = values.get("enabled", True)
        if not isinstance(enabled, bool):
            problems["enabled"] = ["must be true or false"]
        clean["enabled"] = bool(enabled)

        check_timing(values, clean, problems)
        self._check_job(values, clean, problems)
        if problems:
            raise InvalidSchedule("the schedule is invalid; nothing was stored", problems)
        return clean

    def _check_job(
        self, values: dict[str, Any], clean: dict[str, Any], problems: dict[str, Any]
    ) -> None:
        name = values.get("job_type")
        priority = values.get("priority")
        if problem := priority_problem(priority):
            problems["priority"] = [problem]
        else:
            clean["priority"] = priority
        for option in ("max_attempts", "timeout"):
            value = values.get(option)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                problems[option] = ["must be a finite number"]
        if not isinstance(name, str) or not name:
            problems["job_type"] = ["required: the job type to submit"]
            return
        try:
            job_type = self.host.job_type(name)
        except UnknownJobType as exc:
            problems["job_type"] = [str(exc)]
            return
        clean["job_type"] = name
        try:
            clean["data"] = self.jobs.validate(name, values.get("data", {}))
        except InvalidSubmission as exc:
            problems.update(exc.details)
        except InvalidJobData as exc:
            for field, messages in (exc.details or {}).items():
                problems[f"data.{field}"] = messages
        if "max_attempts" in problems or "timeout" in problems:
            return
        max_attempts, timeout = values.get("max_attempts"), values.get("timeout")
        if isinstance(max_attempts, float):
            if max_attempts != int(max_attempts):
                problems["max_attempts"] = ["must be a whole number"]
                return
            max_attempts = int(max_attempts)
        try:
            job_limits(job_type, max_attempts, timeout)  # the rule submissions follow
        except InvalidSubmission as exc:
            problems.update(exc.details)
            return
        clean["max_attempts"] = max_attempts
        clean["timeout"] = float(timeout) if timeout is not None else None

    # firing

    def fire_due(self, now: datetime | None = None) -> list[Job]:
        """Fire every enabled schedule whose `next_run_at` has come: one job for its latest
        due slot. Returns the jobs fired. A schedule that fails is logged and the others go
        on; one the queue refused is tried again next round (with the same key)."""
        now = now or utcnow()
        fired = []
        for schedule in Schedule.objects(enabled=True, next_run_at__lte=now):
            try:
                job = self._fire(schedule, now)
            except Exception as exc:  # noqa: BLE001 - the next round tries this slot again
                log.warning("schedule %s (%s): not fired: %s", schedule.name, schedule.id, exc)
                continue
            if job is not None:
                fired.append(job)
        return fired

    def _fire(self, schedule: Schedule, now: datetime) -> Job | None:
        slot = latest_slot(schedule, now)
        following = next_slot(schedule, now)
        job, error = None, None
        try:
            job = self.jobs.submit(
                schedule.job_type,
                schedule.data,
                created_by=f"{KEY_PREFIX}{schedule.name}",
                idempotency_key=slot_key(schedule.id, slot),
                priority=schedule.priority,
                max_attempts=schedule.max_attempts,
                timeout=schedule.timeout,
            )
        except (UnknownJobType, InvalidJobData, InvalidTransition) as exc:
            # This slot can never fire as the schedule stands (a plugin gone, a schema
            # changed): skip it, and say why on the schedule.
            error = exc.message if isinstance(exc, JobError) else str(exc)
            log.warning("schedule %s: slot %s skipped: %s", schedule.name, slot, error)
        changes: dict[str, Any] = {
            "set__next_run_at": following,
            "set__last_error": error,
        }
        if job is not None:
            changes |= {"set__last_fired_at": slot, "set__last_job_id": str(job.id)}
        # guarded: of two leaders that read the same next_run_at, one moves it on
        Schedule.objects(id=schedule.id, next_run_at=schedule.next_run_at).update_one(**changes)
        if job is not None:
            log.info("schedule %s fired job %s for %s", schedule.name, job.id, slot)
        return job

    # plugins' defaults

    def ensure_defaults(self) -> list[str]:
        """Create, disabled, each plugin's default schedule of a name no schedule has;
        return the names created. One that is invalid is logged and skipped."""
        created = []
        for plugin, spec in self.host.default_schedules():
            name = spec.get("name")
            if not isinstance(name, str) or Schedule.objects(name=name.strip()).first():
                continue
            fields = {key: value for key, value in spec.items() if key in FIELDS}
            try:
                self.create({**fields, "enabled": False}, created_by=f"plugin:{plugin}")
            except ScheduleConflict:
                continue  # another web process created it meanwhile
            except JobError as exc:
                log.warning(
                    "plugin %s: default schedule %r refused: %s %s",
                    plugin,
                    name,
                    exc.message,
                    exc.details,
                )
                continue
            created.append(name.strip())
        return created


def _name_taken(name: str) -> ScheduleConflict:
    return ScheduleConflict(f"a schedule named '{name}' exists already; choose another name")


_by_engine: WeakKeyDictionary[JobTransitions, ScheduleService] = WeakKeyDictionary()


def fire_due(now: datetime, transitions: JobTransitions, queue: JobQueue) -> int:
    """The reconciler's call each round (its leader only): fire the due schedules with a
    job service on the reconciler's own transitions and queue. Returns how many fired."""
    service = _by_engine.get(transitions)
    if service is None:
        jobs = JobService(transitions.host, queue, transitions.stats, transitions.writer)
        service = _by_engine[transitions] = ScheduleService(jobs)
    return len(service.fire_due(now))


def ensure_default_schedules(jobs: JobService) -> list[str]:
    """At web start: the plugins' default schedules, created disabled when missing."""
    try:
        return ScheduleService(jobs).ensure_defaults()
    except Exception as exc:  # noqa: BLE001 - a default schedule must not stop the web process
        log.warning("default schedules not created: %s", exc)
        return []
