"""What `jobplatform jobs tail` follows: the jobs submitted since it started, and the end
of every job it saw unfinished, found by polling the API's job list.

A poll reads the jobs created since the oldest unfinished job it follows (or since the
newest job it knew, less a second for the clocks of several web processes), newest
first, in pages, at most `MAX_SCAN` of them; a job id it has not seen is new, a followed
job in a final state has finished. Followed jobs older than a capped read are read one
by one, a few a poll, in turn. So a poll costs at most a few requests, whatever the load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobplatform_client import ApiError, Client, Job

PAGE = 500
MAX_SCAN = 2000
LOOKUPS_PER_POLL = 20
CLOCK_MARGIN = timedelta(seconds=1)
AT_START = 100  # the newest jobs read at the start: the unfinished among them are followed


@dataclass(frozen=True)
class Event:
    kind: str  # "new" or "finished"
    job: Job


class Follower:
    def __init__(self, client: Client, names: Sequence[str] = ()):
        self.client, self.names = client, list(names)
        self.known: dict[str, datetime | None] = {}  # id -> created_at of each job seen
        self.following: dict[str, Job] = {}  # unfinished jobs, by id
        self.newest: datetime | None = None
        self.capped = False  # the last poll read MAX_SCAN jobs: older new ones were missed

    def start(self) -> None:
        for job in self.client.list(name=self.names, limit=AT_START).jobs:
            self._saw(job)
            if not job.finished:
                self.following[job.id] = job

    def _saw(self, job: Job) -> None:
        self.known[job.id] = job.created_at
        if job.created_at and (self.newest is None or job.created_at > self.newest):
            self.newest = job.created_at

    def _window(self) -> datetime | None:
        starts = [j.created_at for j in self.following.values() if j.created_at]
        if self.newest:
            starts.append(self.newest - CLOCK_MARGIN)
        return min(starts) if starts else None

    def poll(self) -> list[Event]:
        """The events since the last poll, oldest first."""
        since = self._window()
        scanned, complete = self._read(since)
        events: list[Event] = []
        for job in reversed(scanned):
            if job.id not in self.known:
                self._saw(job)
                events.append(Event("new", job))
                if not job.finished:
                    self.following[job.id] = job
            if job.finished and self.following.pop(job.id, None) is not None:
                events.append(Event("finished", job))
            elif job.finished and events and events[-1].job is job:
                events.append(Event("finished", job))  # new, and already over
        if not complete:
            events += self._look_up(scanned[-1].created_at)
        self.known = {i: t for i, t in self.known.items() if not since or not t or t >= since}
        return events

    def _read(self, since: datetime | None) -> tuple[list[Job], bool]:
        """The jobs created since `since`, newest first; and whether that is all of them."""
        jobs: list[Job] = []
        cursor = None
        while len(jobs) < MAX_SCAN:
            page = self.client.list(name=self.names, created_after=since, limit=PAGE, cursor=cursor)
            jobs += page.jobs
            cursor = page.next_cursor
            self.capped = bool(cursor) and len(jobs) >= MAX_SCAN
            if not cursor:
                break
        return jobs, not self.capped

    def _look_up(self, oldest_read: datetime | None) -> list[Event]:
        """Followed jobs older than a capped read, read one by one; those still unfinished
        go to the back of the line."""
        events = []
        older = [
            job_id
            for job_id, job in self.following.items()
            if job.created_at and oldest_read and job.created_at < oldest_read
        ]
        for job_id in older[:LOOKUPS_PER_POLL]:
            del self.following[job_id]
            try:
                job = self.client.get(job_id)
            except ApiError as exc:
                if exc.status == 404:
                    continue  # deleted meanwhile
                raise
            if job.finished:
                events.append(Event("finished", job))
            else:
                self.following[job_id] = job
        return events
