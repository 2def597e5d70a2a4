"""What a processor receives (the job context) and the error it raises to skip retries."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any


class PermanentError(Exception):
    """Raised by a processor when trying again cannot help: the job dies at once."""


@dataclass
class JobContext:
    """Everything a processor needs to do one attempt of one job.

    Delivery is at-least-once: a job can run again after a worker crash, so a processor
    that has side effects uses `idempotency_key` (stable across attempts) to avoid doing
    them twice. Long processors check `cancelled` and return early when it is set.
    """

    job_id: str
    job_type: str
    data: dict[str, Any]
    attempt: int
    max_attempts: int
    idempotency_key: str
    settings: dict[str, Any]
    logger: logging.Logger
    cancel_event: threading.Event = field(default_factory=threading.Event)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()
