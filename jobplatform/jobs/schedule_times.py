"""When a schedule's slots are: cron times (croniter, in the schedule's IANA zone) and
interval slots on their grid; the idempotency key of a slot's job; and the checks of a cron
expression and a zone name. Times are UTC without tzinfo, like every stored time; cron is
computed tz-aware, so a daily 09:00 stays 09:00 local time across a daylight-saving change."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

if TYPE_CHECKING:
    from jobplatform.jobs.schedule_model import Schedule

KEY_PREFIX = "schedule:"
MAX_INTERVAL = 366 * 86400


def _aware(value: datetime, zone: ZoneInfo) -> datetime:
    return value.replace(tzinfo=UTC).astimezone(zone)


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def cron_next(expression: str, zone_name: str, after: datetime) -> datetime:
    """The first time of `expression` in zone `zone_name` strictly after `after` (UTC,
    naive), as UTC naive."""
    zone = ZoneInfo(zone_name)
    return _naive_utc(croniter(expression, _aware(after, zone)).get_next(datetime))


def cron_latest(expression: str, zone_name: str, now: datetime) -> datetime:
    """The last time of `expression` at or before `now` (UTC naive), as UTC naive."""
    zone = ZoneInfo(zone_name)
    local = _aware(now, zone)
    previous = croniter(expression, local).get_prev(datetime)  # strictly before now
    following = croniter(expression, previous).get_next(datetime)
    return _naive_utc(following if following <= local else previous)


def next_slot(schedule: Schedule, now: datetime) -> datetime:
    """The schedule's first slot strictly after `now`. Interval slots keep their grid:
    from `next_run_at` onwards in steps of the interval."""
    if schedule.cron:
        return cron_next(schedule.cron, schedule.timezone, now)
    step = timedelta(seconds=schedule.interval_seconds)
    anchor = schedule.next_run_at
    if anchor is None:
        return now.replace(microsecond=0) + step
    if anchor > now:
        return anchor
    return anchor + ((now - anchor) // step + 1) * step


def latest_slot(schedule: Schedule, now: datetime) -> datetime:
    """The schedule's last slot at or before `now` (its `next_run_at` has come)."""
    if schedule.cron:
        return cron_latest(schedule.cron, schedule.timezone, now)
    step = timedelta(seconds=schedule.interval_seconds)
    return schedule.next_run_at + ((now - schedule.next_run_at) // step) * step


def upcoming(schedule: Schedule, count: int = 3) -> list[datetime]:
    """The schedule's next `count` slots from its `next_run_at` (none while disabled)."""
    if schedule.next_run_at is None:
        return []
    times = [schedule.next_run_at]
    while len(times) < count:
        if schedule.cron:
            times.append(cron_next(schedule.cron, schedule.timezone, times[-1]))
        else:
            times.append(times[-1] + timedelta(seconds=schedule.interval_seconds))
    return times


def slot_key(schedule_id: Any, slot: datetime) -> str:
    """The idempotency key of a schedule's job for one slot."""
    return f"{KEY_PREFIX}{schedule_id}:{slot.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return False
    return True


def cron_problem(expression: Any) -> str | None:
    if not isinstance(expression, str):
        return "must be a cron expression of 5 fields, like '*/5 * * * *'"
    fields = expression.split()
    if len(fields) != 5:
        return (
            f"must have 5 fields (minute hour day-of-month month day-of-week), "
            f"not {len(fields)}: {expression!r}"
        )
    try:
        times = croniter(" ".join(fields), datetime.now(UTC))
    except Exception as exc:  # noqa: BLE001 - croniter's refusals are not all CroniterError
        return f"invalid cron expression {expression!r}: {exc}"
    try:
        times.get_next(datetime)
    except CroniterError:
        return f"cron expression {expression!r} never occurs (like 31 February)"
    except Exception as exc:  # noqa: BLE001 - whatever croniter cannot compute is refused
        return f"invalid cron expression {expression!r}: {exc}"
    return None


def check_timing(values: dict[str, Any], clean: dict[str, Any], problems: dict[str, Any]) -> None:
    """Check a schedule's cron, timezone and interval_seconds into `clean` (normalised) or
    `problems` (by field)."""
    cron, interval = values.get("cron"), values.get("interval_seconds")
    zone = values.get("timezone") or "UTC"
    if not isinstance(zone, str) or not known_zone(zone):
        problems["timezone"] = [
            f"unknown time zone {zone!r}; use an IANA name like 'Europe/Berlin'"
        ]
    else:
        clean["timezone"] = zone
    if cron is None and interval is None:
        message = "give either cron (5 fields) or interval_seconds"
        problems["cron"] = problems["interval_seconds"] = [message]
        return
    if cron is not None and interval is not None:
        message = "give either cron or interval_seconds, not both"
        problems["cron"] = problems["interval_seconds"] = [message]
        return
    clean["cron"], clean["interval_seconds"] = None, None
    if cron is not None:
        error = cron_problem(cron)
        if error:
            problems["cron"] = [error]
        else:
            clean["cron"] = " ".join(cron.split())
    else:
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int | float)
            or not math.isfinite(interval)
            or interval != int(interval)
        ):
            problems["interval_seconds"] = ["must be a whole number of seconds"]
        elif not 1 <= interval <= MAX_INTERVAL:
            problems["interval_seconds"] = [f"must be between 1 and {MAX_INTERVAL:,} seconds"]
        else:
            clean["interval_seconds"] = int(interval)
