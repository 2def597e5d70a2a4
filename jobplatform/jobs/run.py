"""One attempt of one job in a worker, and the guard its writes carry: the job as the
attempt expects it (claimed by it, or still waiting at the attempt count it read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jobplatform.jobs.models import RUNNING
from jobplatform.plugins.report import AttemptReport

# what an attempt is given of its job: everything but its history and result
RUN_FIELDS = {"attempts": 0, "result": 0}


def run_view(document: dict[str, Any]) -> dict[str, Any]:
    """A stored job's document as an attempt is given it (RUN_FIELDS)."""
    return {key: value for key, value in document.items() if key not in RUN_FIELDS}


@dataclass
class Run:
    """One attempt of one job in this worker, from the job as the worker read it."""

    job: dict[str, Any]  # the stored document, without its attempts and result
    worker: str
    started_at: datetime
    requeued: bool = False  # the reconciler sent this message again
    claimed: bool = False  # recorded as running (with a lease) by this attempt
    extra: dict[str, Any] = field(default_factory=dict)
    # what the processor reports (ctx.progress, ctx.log), stored with the writes below
    report: AttemptReport = field(init=False)

    def __post_init__(self) -> None:
        self.report = AttemptReport(self.number)

    @property
    def id(self):
        return self.job["_id"]

    @property
    def type(self) -> str:
        return self.job["type"]

    @property
    def number(self) -> int:
        return self.job.get("attempt_count", 0) + 1

    def guard(self) -> dict[str, Any]:
        """The job as this attempt expects it: claimed by it, or still waiting."""
        if self.claimed:
            return {
                "_id": self.id,
                "state": RUNNING,
                "attempt_count": self.number,
                "worker_id": self.worker,
            }
        # the waiting state as read: a job keeps it until it runs, and an equality costs
        # FerretDB less than an $in
        return {"_id": self.id, "state": self.job["state"], "attempt_count": self.number - 1}

    def recorded(self, doc: dict[str, Any] | None) -> bool:
        """Whether `doc` holds this attempt's record."""
        last = (doc or {}).get("attempts") or [{}]
        return (
            last[-1].get("number") == self.number
            and last[-1].get("worker") == self.worker
            and last[-1].get("started_at") == self.started_at
        )
