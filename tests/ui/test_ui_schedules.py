"""The Schedules page through NiceGUI's simulated `User`, against the real app, FerretDB and
Redis: create from the generated job form, errors next to their fields with nothing
stored, next runs and the last job fired (a link to it), enable/disable and delete, and a
viewer refused on the server."""

from __future__ import annotations

import uuid
from datetime import timedelta

from nicegui.testing import User

from jobplatform.config import load_settings
from jobplatform.jobs.models import Job
from jobplatform.jobs.schedules import Schedule, ScheduleService
from jobplatform.services import build_services
from tests.helpers import eventually
from tests.ui.test_ui_pages import account, log_in


def schedules() -> ScheduleService:
    return ScheduleService(build_services(load_settings()).jobs)


def stored(**fields) -> Schedule:
    return schedules().create(
        {
            "name": f"ui-{uuid.uuid4().hex[:8]}",
            "job_type": "sendEmail",
            "data": {"recipient": "a@example.com", "subject": "Stored"},
            "interval_seconds": 600,
            **fields,
        },
        created_by="tester",
    )


def element(user: User, marker: str):
    [found] = user.find(marker=marker).elements
    return found


async def test_schedules_is_in_the_navigation(user: User) -> None:
    await log_in(user, account("sven", "viewer"))
    await user.should_see("Schedules")
    user.find("Schedules").click()
    await user.should_see("New schedule", retries=50)


async def test_an_operator_creates_an_interval_schedule_from_the_form(user: User) -> None:
    await log_in(user, account("otto", "operator"))
    name = f"digest-{uuid.uuid4().hex[:6]}"
    await user.open("/schedules")
    user.find(marker="schedule-name").type(name)
    user.find(marker="field-recipient").type("a@example.com, b@example.com")
    user.find(marker="field-subject").type("Daily digest")
    element(user, "schedule-interval").value = 90
    user.find(marker="create-schedule").click()
    await user.should_see(f"Schedule '{name}' created", retries=50)

    schedule = Schedule.objects.get(name=name)
    assert schedule.interval_seconds == 90 and schedule.cron is None
    assert schedule.data == {
        "recipient": ["a@example.com", "b@example.com"],
        "subject": "Daily digest",
    }
    assert schedule.created_by == "otto" and schedule.enabled
    await user.should_see(marker=f"schedule-{name}", retries=50)
    await user.should_see("every 90 s")
    assert element(user, f"next-{name}").text.startswith("Next: ")


async def test_a_cron_schedule_in_a_time_zone(user: User) -> None:
    await log_in(user, account("olaf", "operator"))
    name = f"weekday-{uuid.uuid4().hex[:6]}"
    await user.open("/schedules")
    user.find(marker="schedule-name").type(name)
    user.find(marker="field-recipient").type("a@example.com")
    user.find(marker="field-subject").type("Good morning")
    element(user, "schedule-timing").value = "cron"
    user.find(marker="schedule-cron").type("0 9 * * 1-5")
    element(user, "schedule-timezone").value = "Europe/Berlin"
    user.find(marker="create-schedule").click()
    await user.should_see(f"Schedule '{name}' created", retries=50)
    schedule = Schedule.objects.get(name=name)
    assert (schedule.cron, schedule.timezone) == ("0 9 * * 1-5", "Europe/Berlin")
    await user.should_see("(09:00 Europe/Berlin)", retries=50)


async def test_errors_appear_next_to_their_fields_and_nothing_is_stored(user: User) -> None:
    await log_in(user, account("oona", "operator"))
    name = f"broken-{uuid.uuid4().hex[:6]}"
    await user.open("/schedules")
    user.find(marker="schedule-name").type(name)
    user.find(marker="field-recipient").type("not-an-address")
    element(user, "schedule-timing").value = "cron"
    user.find(marker="schedule-cron").type("61 * * * *")
    user.find(marker="create-schedule").click()
    await user.should_see("the schedule is invalid; nothing was stored", retries=50)
    assert "invalid cron expression" in element(user, "schedule-cron").error
    assert element(user, "field-recipient").error
    assert element(user, "field-subject").error == "required field"
    assert Schedule.objects(name=name).count() == 0

    element(user, "schedule-cron").value = "0 9 * * *"
    user.find(marker="field-subject").type("Hi")
    element(user, "field-recipient").value = "a@example.com"
    element(user, "schedule-timing").value = "interval"
    element(user, "schedule-interval").value = 0
    user.find(marker="create-schedule").click()
    await eventually(
        lambda: bool(element(user, "schedule-interval").error), message="the interval's error"
    )
    assert "between 1 and" in element(user, "schedule-interval").error
    assert Schedule.objects(name=name).count() == 0


async def test_the_list_shows_the_last_job_with_a_link_to_it(user: User) -> None:
    schedule = stored()
    [job] = [
        j
        for j in schedules().fire_due(schedule.next_run_at + timedelta(seconds=1))
        if j.created_by == f"schedule:{schedule.name}"
    ]
    await log_in(user, account("vic", "viewer"))
    await user.open("/schedules")
    await user.should_see(marker=f"last-job-{schedule.name}", retries=50)
    link = element(user, f"last-job-{schedule.name}")
    assert link.props["href"] == f"/jobs?job={job.id}"
    await user.should_see("queued")
    user.find(marker=f"last-job-{schedule.name}").click()
    await user.should_see(str(job.id), marker="detail-id", retries=100)


async def test_disable_enable_and_delete(user: User) -> None:
    schedule = stored()
    await log_in(user, account("opal", "operator"))
    await user.open("/schedules")
    await user.should_see(marker=f"toggle-{schedule.name}", retries=50)
    user.find(marker=f"toggle-{schedule.name}").click()
    await user.should_see(f"Schedule '{schedule.name}' disabled", retries=50)
    after = Schedule.objects.get(id=schedule.id)
    assert not after.enabled and after.next_run_at is None
    await user.should_see("Disabled: no next run", retries=50)

    user.find(marker=f"toggle-{schedule.name}").click()
    await user.should_see(f"Schedule '{schedule.name}' enabled", retries=50)
    assert Schedule.objects.get(id=schedule.id).next_run_at is not None

    user.find(marker=f"delete-{schedule.name}").click()
    user.find(marker="delete-confirm").click()
    await user.should_see(f"Schedule '{schedule.name}' deleted", retries=50)
    assert Schedule.objects(id=schedule.id).count() == 0
    await user.should_not_see(marker=f"schedule-{schedule.name}", retries=50)


async def test_a_viewer_reads_but_is_refused_changes(user: User) -> None:
    schedule = stored()
    await log_in(user, account("vanya", "viewer"))
    await user.open("/schedules")
    await user.should_see(marker=f"toggle-{schedule.name}", retries=50)
    user.find(marker=f"toggle-{schedule.name}").click()
    await user.should_see("Refused: role 'viewer' may not disable schedules", retries=50)
    assert Schedule.objects.get(id=schedule.id).enabled
    user.find(marker=f"delete-{schedule.name}").click()
    user.find(marker="delete-confirm").click()
    await user.should_see("Refused: role 'viewer' may not delete schedules", retries=50)
    assert Schedule.objects(id=schedule.id).count() == 1

    user.find(marker="schedule-name").type("from a viewer")
    user.find(marker="field-recipient").type("a@example.com")
    user.find(marker="field-subject").type("x")
    user.find(marker="create-schedule").click()
    await user.should_see("Refused: role 'viewer' may not create schedules", retries=50)
    assert Schedule.objects(name="from a viewer").count() == 0
    assert Job.objects(created_by="schedule:from a viewer").count() == 0
