"""Retries: backoff follows the policy, permanent errors die at once, a retry by hand keeps
the history. Real Redis, FerretDB and a worker subprocess; timings come from the attempts
MongoDB recorded, never from sleeping."""

from __future__ import annotations

import itertools

import pytest

from jobplatform.jobs.errors import InvalidJobData
from tests.engine_harness import private_engine, reload, wait_final
from tests.plugins.testjobs import FAST_RETRIES

# Huey's schedule keeps whole seconds (the eta is rounded up) and is read once a second
SCHEDULE_LATENESS = 2.0


@pytest.fixture(scope="module")
def engine(private_redis, mongo_server, mongo_uri, tmp_path_factory):
    with private_engine(
        "retries", tmp_path_factory.mktemp("retries"), private_redis(), mongo_server, mongo_uri
    ) as engine:
        engine.worker()
        yield engine


def test_backoff_delays_follow_the_policy(engine):
    job = engine.jobs.submit("test.flaky", {"fail_times": 3})

    done = wait_final([job.id], timeout=60)[str(job.id)]

    assert done.state == "succeeded"
    assert done.result == {"succeeded_on": 4}
    assert [a.outcome for a in done.attempts] == ["failed", "failed", "failed", "succeeded"]
    assert [a.number for a in done.attempts] == [1, 2, 3, 4]
    policy = FAST_RETRIES
    for n, (failed, following) in enumerate(itertools.pairwise(done.attempts), start=1):
        base = min(policy.initial_delay * policy.backoff_factor ** (n - 1), policy.max_delay)
        low, high = base * (1 - policy.jitter), min(base * (1 + policy.jitter), policy.max_delay)
        assert low - 1e-6 <= failed.retry_delay <= high + 1e-6, (n, failed.retry_delay)
        waited = (following.started_at - failed.finished_at).total_seconds()
        assert failed.retry_delay - 0.01 <= waited <= failed.retry_delay + SCHEDULE_LATENESS + 0.5
        assert failed.error_type == "RuntimeError"
        assert f"attempt {n}" in failed.error_message
        assert "Traceback" in failed.traceback
    assert done.attempts[-1].retry_delay is None


def test_capped_delay_stays_at_the_cap():
    # 0.5 * 2**(3-1) = 2.0 is above max_delay 1.5: the third delay is capped
    assert FAST_RETRIES.delay_after(3) <= FAST_RETRIES.max_delay
    assert all(FAST_RETRIES.delay_after(n) <= FAST_RETRIES.max_delay for n in range(1, 30))


def test_permanent_error_dies_at_once(engine):
    job = engine.jobs.submit("test.permanent", {})

    done = wait_final([job.id])[str(job.id)]

    assert done.state == "dead"
    assert done.attempt_count == 1
    [attempt] = done.attempts
    assert attempt.outcome == "failed"
    assert attempt.error_type == "PermanentError"
    assert attempt.retry_delay is None
    assert done.error == "PermanentError: this input can never work"


def test_dead_job_retried_by_hand_succeeds_and_keeps_its_attempts(engine):
    job = engine.jobs.submit("test.flaky", {"fail_times": 2}, max_attempts=2)
    dead = wait_final([job.id])[str(job.id)]
    assert dead.state == "dead"
    assert [a.outcome for a in dead.attempts] == ["failed", "failed"]

    engine.jobs.retry(str(job.id))
    done = wait_final([job.id])[str(job.id)]

    assert done.state == "succeeded"
    assert [a.number for a in done.attempts] == [1, 2, 3]
    assert [a.outcome for a in done.attempts] == ["failed", "failed", "succeeded"]
    assert done.attempts[0].started_at == dead.attempts[0].started_at
    assert done.error is None


def test_bulk_retry_retries_only_matching_dead_jobs(engine):
    dying = [engine.jobs.submit("test.permanent", {}) for _ in range(3)]
    wait_final([j.id for j in dying])
    other = engine.jobs.submit("test.flaky", {"fail_times": 9}, max_attempts=1)
    wait_final([other.id])

    retried = engine.jobs.retry_many(job_type="test.permanent")

    assert {str(j.id) for j in dying} <= set(retried)
    assert str(other.id) not in retried
    again = wait_final(retried)
    assert all(len(again[str(j.id)].attempts) == 2 for j in dying)
    assert reload(str(other.id)).state == "dead"


def test_submission_may_lower_but_not_raise_the_attempts(engine):
    with pytest.raises(InvalidJobData) as refused:
        engine.jobs.submit("test.flaky", {"fail_times": 0}, max_attempts=5)
    assert "between 1 and 4" in refused.value.details["max_attempts"][0]
    with pytest.raises(InvalidJobData) as refused:
        engine.jobs.submit("test.flaky", {"fail_times": 0}, timeout=10_000)
    assert "at most 300" in refused.value.details["timeout"][0]

    job = engine.jobs.submit("test.flaky", {"fail_times": 5}, max_attempts=1)
    done = wait_final([job.id])[str(job.id)]
    assert done.state == "dead"
    assert done.attempt_count == 1
