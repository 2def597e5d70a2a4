"""Attempt counters written by real worker processes at once: two workers of four threads
each run the same jobs, and every range counts each attempt exactly once."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from jobplatform import db
from jobplatform.config import load_settings
from jobplatform.jobs.attempt_series import RANGES, read_series
from jobplatform.jobs.models import utcnow
from tests.engine_harness import Engine, wait_final
from tests.helpers import wait_until

JOBS = 120


@pytest.fixture(scope="module")
def engine(private_redis, mongo_server, mongo_uri, tmp_path_factory):
    engine = Engine(
        tmp_path_factory.mktemp("stats-ranges"),
        private_redis(),
        f"{mongo_server}engine_stats_{uuid.uuid4().hex[:8]}",
        WORKER_CONCURRENCY="4",
    )
    try:
        yield engine
    finally:
        engine.close()
        db.connect(load_settings(mongo_uri=mongo_uri))


def test_concurrent_workers_count_every_attempt_once_in_every_range(engine):
    engine.worker()
    engine.worker()
    jobs = engine.jobs.submit_many([{"name": "test.noop", "data": {}} for _ in range(JOBS)])
    finished = wait_final(job.id for job in jobs)
    by_worker = Counter(job.attempts[0].worker.split(":")[1] for job in finished.values())
    assert len(by_worker) == 2, by_worker  # both processes ran and counted attempts
    failing = [engine.jobs.submit("test.permanent", {}) for _ in range(3)]
    wait_final(job.id for job in failing)

    def totals() -> dict[str, dict[str, int]]:
        return {name: read_series(name, utcnow())["totals"] for name in RANGES}

    expected = {"succeeded": JOBS, "failed": 3, "dead": 3, "cancelled": 0}
    # a lost or doubled increment never reaches `expected` (the last totals are reported)
    wait_until(
        lambda: (t := totals()) and all(v == expected for v in t.values()) and t,
        timeout=30,
        message="every range to count each attempt once",
    )
