"""The threads processors run in (jobs/runners.py): one is kept and reused, one busy with
an abandoned processor is not waited for, and a target that raises leaves its thread
serving."""

from __future__ import annotations

import threading

from jobplatform.jobs.runners import Runners


def ran_in(runners: Runners, work=None) -> tuple[threading.Event, list[str]]:
    names: list[str] = []

    def target() -> None:
        names.append(threading.current_thread().name)
        if work:
            work()

    return runners.run(target), names


def test_a_thread_whose_target_returned_runs_the_next_one():
    runners = Runners()
    first, first_names = ran_in(runners)
    assert first.wait(5)
    second, second_names = ran_in(runners)
    assert second.wait(5)

    assert first_names == second_names == ["job-runner-1"]
    assert runners.idle() == 1


def test_a_busy_thread_is_not_waited_for():
    runners = Runners()
    release = threading.Event()
    stuck, _ = ran_in(runners, lambda: release.wait(30))  # as a processor past its timeout
    other, other_names = ran_in(runners)

    assert other.wait(5) and not stuck.is_set()
    assert other_names == ["job-runner-2"]
    release.set()
    assert stuck.wait(5)
    assert runners.idle() == 2


def test_a_target_that_raises_leaves_its_thread_serving(caplog):
    runners = Runners()

    def fail() -> None:
        raise RuntimeError("a bug in the target")

    failed, _ = ran_in(runners, fail)
    assert failed.wait(5)
    again, names = ran_in(runners)

    assert again.wait(5) and names == ["job-runner-1"]
    assert "a bug in the target" in caplog.text
