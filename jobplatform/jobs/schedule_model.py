"""The stored schedule: a job type with its data and options, and when it fires (a cron
expression in a zone, or an interval), as `ScheduleService` (jobs/schedules.py) keeps it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    FloatField,
    IntField,
    StringField,
)

from jobplatform.jobs.models import Job, utcnow


class Schedule(Document):
    meta = {
        "collection": "schedules",
        "indexes": [
            {"fields": ["name"], "unique": True},
            {"fields": ["enabled", "next_run_at"]},
        ],
    }

    name = StringField(required=True)
    job_type = StringField(required=True)
    data = DictField()
    priority = IntField()
    max_attempts = IntField()
    timeout = FloatField()
    cron = StringField()
    timezone = StringField(default="UTC")
    interval_seconds = IntField()
    enabled = BooleanField(default=True)
    created_by = StringField()
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    last_fired_at = DateTimeField()  # the slot of the last job fired
    last_job_id = StringField()
    last_error = StringField()  # why the last due slot fired no job, if it did not
    next_run_at = DateTimeField()  # None while disabled

    def describe(self, last_job: Job | None = None) -> dict[str, Any]:
        """The schedule as the API and the admin app show it."""
        return {
            "id": str(self.id),
            "name": self.name,
            "job_type": self.job_type,
            "data": self.data,
            "cron": self.cron,
            "timezone": self.timezone,
            "interval_seconds": self.interval_seconds,
            "priority": self.priority,
            "max_attempts": self.max_attempts,
            "timeout": self.timeout,
            "enabled": self.enabled,
            "created_by": self.created_by,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "next_run_at": _iso(self.next_run_at),
            "last_fired_at": _iso(self.last_fired_at),
            "last_error": self.last_error,
            "last_job": (
                {"id": str(last_job.id), "state": last_job.state}
                if last_job is not None
                else ({"id": self.last_job_id, "state": None} if self.last_job_id else None)
            ),
        }

    def timing(self) -> str:
        """How it repeats, in words: `every 2 s` or `cron 0 9 * * * (Europe/Berlin)`."""
        if self.cron:
            return f"cron {self.cron} ({self.timezone})"
        return f"every {self.interval_seconds:,} s"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") + "Z" if value else None
