"""The job side panel's progress bar and log lines, through NiceGUI's simulated `User` on the
real app, FerretDB and Redis. The running job is written to MongoDB as a worker stores it
while it runs (progress and live log lines), then changed as the worker's next write would:
the open panel follows without a reload, and the lines stay on the attempt once it ends."""

from __future__ import annotations

from datetime import timedelta

from nicegui import ui
from nicegui.testing import User

from jobplatform.jobs.models import Attempt, Job, LogLine, Progress, utcnow
from tests.ui.test_ui_pages import account, log_in


def line(message: str, level: str = "info") -> LogLine:
    return LogLine(level=level, at=utcnow(), message=message)


def running_job() -> Job:
    now = utcnow()
    return Job(
        type="sendEmail",
        data={"recipient": "x@example.com", "subject": "s"},
        state="running",
        queue="email",
        attempt_count=1,
        max_attempts=3,
        worker_id="test:1",
        started_at=now,
        lease_expires_at=now + timedelta(hours=1),
        created_at=now,
        updated_at=now,
        progress=Progress(done=3, total=10, message="copying rows", at=now, attempt=1),
        live_log=[line("opened the file"), line("row 3 looks odd", "warning")],
    ).save()


def texts(user: User, marker: str) -> list[str]:
    [block] = user.find(marker=marker).elements
    return [child.text for child in block.default_slot.children if isinstance(child, ui.label)]


def bar_value(user: User) -> float:
    [bar] = user.find(marker="detail-progress-bar").elements
    return bar.value


async def test_the_panel_follows_a_running_jobs_progress_and_lines(user: User) -> None:
    await log_in(user, account("vera", "viewer"))
    job = running_job()
    await user.open(f"/jobs?job={job.id}")

    await user.should_see("3 of 10 (30%) · copying rows · attempt 1", marker="detail-progress")
    assert bar_value(user) == 0.3
    await user.should_see("Log of attempt 1 (running)")
    lines = texts(user, "detail-live-log")
    assert [t.split(" ", 1)[1] for t in lines] == [
        "INFO opened the file",
        "WARNING row 3 looks odd",
    ]

    # the worker's next coalesced write: the panel redraws it within its refresh
    Job.objects(id=job.id).update(
        set__progress=Progress(done=7, total=10, message="writing", at=utcnow(), attempt=1),
        push__live_log=line("half way"),
    )
    await user.should_see("7 of 10 (70%) · writing · attempt 1", retries=100)
    assert bar_value(user) == 0.7
    assert texts(user, "detail-live-log")[-1].endswith("INFO half way")

    # the attempt ends: its lines move onto it, the final progress stays
    stored = Job.objects.get(id=job.id)
    now = utcnow()
    attempt = Attempt(
        number=1,
        worker="test:1",
        started_at=stored.started_at,
        finished_at=now,
        duration_ms=1500.0,
        outcome="succeeded",
        log=[*stored.live_log, line("done")],
    )
    Job.objects(id=job.id).update(
        set__state="succeeded",
        set__finished_at=now,
        set__updated_at=now,
        set__progress=Progress(done=10, total=10, message="finished", at=now, attempt=1),
        push__attempts=attempt,
        unset__live_log=True,
        unset__lease_expires_at=True,
    )
    await user.should_see("10 of 10 (100%) · finished · attempt 1", retries=100)
    await user.should_not_see("Log of attempt 1 (running)")
    await user.should_see("Log (4 lines)")
    assert [t.split(" ", 2)[2] for t in texts(user, "attempt-log-1")] == [
        "opened the file",
        "row 3 looks odd",
        "half way",
        "done",
    ]


async def test_progress_without_a_total_shows_what_is_done(user: User) -> None:
    await log_in(user, account("vera", "viewer"))
    job = running_job()
    Job.objects(id=job.id).update(
        set__progress=Progress(done=1234, total=None, message=None, at=utcnow(), attempt=1)
    )
    await user.open(f"/jobs?job={job.id}")

    await user.should_see("1,234 done · attempt 1", marker="detail-progress")
    [bar] = user.find(marker="detail-progress-bar").elements
    assert "indeterminate" in bar.props
