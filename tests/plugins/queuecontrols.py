"""Job types for the queue controls' tests (tests/test_engine_queue_controls.py), on queues
of their own, `controls_a` and `controls_b`, that no other test's worker serves. Their
processors are those of tests/plugins/testjobs.py, each run counted in TESTJOBS_EXECUTIONS.

- `controls.touch` (on `controls_a`) and `controls.other` (on `controls_b`): append a line
  to the file `path` names.
- `controls.hold` (on `controls_a`): runs until the file `release` names exists.
- `controls.slow_retry`: fails while its attempt is at most `fail_times`, and waits an hour
  before each retry.
- `controls.stepped_retry`: the same, waiting 4 seconds before its second attempt and an
  hour before later ones.
"""

from __future__ import annotations

from jobplatform.plugins.hookspecs import hookimpl
from jobplatform.plugins.jobtype import JobType, RetryPolicy
from tests.plugins.testjobs import counted, flaky, hold, touch

QUEUE_A, QUEUE_B = "controls_a", "controls_b"
HOUR_BACKOFF = RetryPolicy(max_attempts=4, initial_delay=3600, max_delay=3600, jitter=0)
STEPPED_BACKOFF = RetryPolicy(
    max_attempts=4, initial_delay=4, backoff_factor=900, max_delay=3600, jitter=0
)


@hookimpl
def register_job_types(settings: dict) -> list[JobType]:
    path = {"path": {"type": "string", "required": True}}
    fails = {"fail_times": {"type": "integer", "min": 0, "required": True}}
    held = {name: {"type": "string", "required": True} for name in ("started", "release")}
    return [
        JobType(name="controls.touch", processor=counted(touch), schema=path, queue=QUEUE_A),
        JobType(name="controls.other", processor=counted(touch), schema=path, queue=QUEUE_B),
        JobType(name="controls.hold", processor=counted(hold), schema=held, queue=QUEUE_A),
        JobType(
            name="controls.slow_retry",
            processor=counted(flaky),
            schema=fails,
            queue=QUEUE_A,
            retry=HOUR_BACKOFF,
        ),
        JobType(
            name="controls.stepped_retry",
            processor=counted(flaky),
            schema=fails,
            queue=QUEUE_A,
            retry=STEPPED_BACKOFF,
        ),
    ]
