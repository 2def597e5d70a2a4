"""History retention: finished jobs older than RETENTION_DAYS are removed.

FerretDB has no TTL indexes, so this is a periodic duty of the platform: the reconciler's
leader runs it (one process at a time). It also trims the attempt counters and forgets
workers that have been silent for a day.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from jobplatform.jobs.cleaning import CleanFilter, clean_finished
from jobplatform.jobs.heartbeat import forget_silent
from jobplatform.jobs.models import utcnow
from jobplatform.jobs.stats import StatsRecorder, trim_counters

log = logging.getLogger("jobplatform.retention")


def remove_finished_before(cutoff: datetime, stats: StatsRecorder) -> int:
    """Delete jobs that finished before `cutoff`, in batches; return how many."""
    return clean_finished(CleanFilter(finished_before=cutoff), stats)


def apply_retention(
    retention_days: float, stats: StatsRecorder, now: datetime | None = None
) -> int:
    now = now or utcnow()
    removed = remove_finished_before(now - timedelta(days=retention_days), stats)
    trim_counters(now)
    forget_silent(now - timedelta(days=1))
    if removed:
        log.info(
            "retention: removed %d jobs finished more than %g days ago", removed, retention_days
        )
    return removed
