"""What a processor receives (the job context) and the error it raises to skip retries."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from jobplatform.plugins.report import AttemptLog, AttemptReport


class PermanentError(Exception):
    """Raised by a processor when trying again cannot help: the job dies at once."""


@dataclass
class JobContext:
    """Everything a processor needs to do one attempt of one job.

    Delivery is at-least-once: a job can run again after a worker crash, so a processor
    that has side effects uses `idempotency_key` (stable across attempts) to avoid doing
    them twice. Long processors check `cancelled` and return early when it is set.

    Reporting while it runs (both are cheap: call them as often as you like, the worker
    stores what changed about once a second and the last of it with the outcome):

    - `ctx.progress(done, total=None, message=None)`: how far the attempt got, shown as a
      progress bar in the admin app and as the job's `progress` in the API.
    - `ctx.log`: a logger (`debug`, `info`, `warning`, `error`, `exception`, with
      %-style arguments like `logging`) whose lines are kept on the attempt, shown in
      the admin app and `GET /api/jobs/{id}`, live while it runs. It also writes to the
      worker's log; `ctx.logger` writes only there. An attempt keeps its latest 200 lines
      (50,000 characters in all, 2,000 a line); a note says how many older ones went.

    A workflow step's `parent_results` holds the results of the steps it is after, by
    step key (empty for any other job).
    """

    job_id: str
    job_type: str
    data: dict[str, Any]
    attempt: int
    max_attempts: int
    idempotency_key: str
    settings: dict[str, Any]
    logger: logging.Logger | logging.LoggerAdapter
    cancel_event: threading.Event = field(default_factory=threading.Event)
    report: AttemptReport | None = None
    parent_results: dict[str, Any] = field(default_factory=dict)
    log: AttemptLog = field(init=False)

    def __post_init__(self) -> None:
        if self.report is None:
            self.report = AttemptReport(self.attempt)
        self.log = AttemptLog(self.logger, self.report)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def progress(self, done: float, total: float | None = None, message: str | None = None):
        """Report that `done` of `total` units of work are done (`total` None: unknown),
        with an optional short message (cut at 500 characters). Each call replaces the
        previous one. Raises ValueError for a negative, infinite or NaN number or `done`
        above `total`, TypeError for something that is not a number; like any error in
        the processor, that fails the attempt."""
        self.report.set_progress(done, total, message)
