"""The Queues page and the side panel's Run now through NiceGUI's simulated `User`, against
the real app, FerretDB and Redis: queues with their counts, pause and resume, cleaning
finished jobs after a dry run whose count the confirmation states, run now on a scheduled
job; and refusals (a role taken away while the page is open, a job that changed before
the click) that change nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

from mongoengine.connection import get_db
from nicegui.testing import User

from jobplatform.auth.accounts import update_user
from jobplatform.config import load_settings
from jobplatform.jobs.models import Job, utcnow
from jobplatform.jobs.queue_controls import PAUSED
from jobplatform.jobs.stats import counts_by_type, recount
from jobplatform.services import build_services
from tests.helpers import eventually, object_id_at
from tests.ui.test_ui_pages import account, log_in


def element(user: User, marker: str):
    [found] = user.find(marker=marker).elements
    return found


def paused() -> set[str]:
    return {doc["_id"] for doc in get_db()[PAUSED].find()}


def finished(state: str, days_ago: float) -> Job:
    """A sendEmail job as a worker left it, finished `days_ago` days ago."""
    then = utcnow() - timedelta(days=days_ago)
    return Job(
        id=object_id_at(then),
        type="sendEmail",
        data={"recipient": "a@example.com", "subject": "old"},
        state=state,
        queue="email",
        attempt_count=1,
        idempotency_key=f"ui-clean-{uuid.uuid4().hex}",
        created_at=then,
        updated_at=then,
        finished_at=then,
    ).save()


def counters_match_the_jobs() -> bool:
    counted: dict[str, dict[str, int]] = {}
    for row in Job._get_collection().aggregate(
        [{"$group": {"_id": {"type": "$type", "state": "$state"}, "n": {"$sum": 1}}}]
    ):
        counted.setdefault(row["_id"]["type"], {})[row["_id"]["state"]] = row["n"]
    kept = {t: {s: n for s, n in c.items() if n} for t, c in counts_by_type().items()}
    return {t: c for t, c in kept.items() if c} == counted


async def test_an_operator_pauses_and_resumes_a_queue(user: User) -> None:
    await log_in(user, account("quinn", "operator"))
    user.find("Queues").click()  # in the navigation
    await user.should_see(marker="queue-email", retries=50)
    await user.should_see("active", marker="state-email")
    await user.should_see("Job types: sendEmail")

    user.find(marker="pause-email").click()

    await user.should_see("Queue 'email' paused", retries=50)
    await user.should_see("paused", marker="state-email")
    await user.should_see("paused by quinn since")
    assert paused() == {"email"}
    user.find(marker="resume-email").click()
    await user.should_see("Queue 'email' resumed", retries=50)
    await user.should_see(marker="pause-email", retries=50)
    assert paused() == set()


async def test_the_counts_follow_submissions_live(user: User) -> None:
    await log_in(user, account("cora", "viewer"))
    await user.open("/queues")
    await user.should_see(marker="counts-email", retries=50)
    text = element(user, "counts-email").text  # redrawn as a new label on each change
    before = int(text.split("scheduled ")[1].split(" ")[0].replace(",", ""))
    services = build_services(load_settings())
    services.jobs.submit(
        "sendEmail", {"recipient": "a@example.com", "subject": "later"}, delay=3600
    )
    services.jobs.stats.flush()

    await eventually(
        lambda: f"scheduled {before + 1:,}" in element(user, "counts-email").text,
        timeout=15,
        message="the new count",
    )
    await user.should_not_see(marker="pause-email")  # a viewer reads only
    await user.should_not_see(marker="clean")


async def test_a_role_taken_away_meanwhile_is_refused_on_the_server(user: User) -> None:
    name = account(f"omar-{uuid.uuid4().hex[:4]}", "operator")
    await log_in(user, name)
    await user.open("/queues")
    await user.should_see(marker="pause-email", retries=50)
    update_user(name, role="viewer")

    user.find(marker="pause-email").click()
    await user.should_see("Refused: role 'viewer' may not pause queues", retries=50)
    user.find(marker="clean").click()
    await user.should_see("Refused: role 'viewer' may not clean jobs", retries=50)
    assert paused() == set()


async def test_clean_counts_first_and_the_confirmation_says_how_many_go(user: User) -> None:
    old = [finished("cancelled", 40) for _ in range(3)]
    kept = [finished("cancelled", 5), finished("succeeded", 40)]
    recount()
    await log_in(user, account("cleo", "operator"))
    await user.open("/queues")
    await user.should_see(marker="clean", retries=50)
    element(user, "clean-state").value = "cancelled"
    element(user, "clean-type").value = "sendEmail"
    element(user, "clean-age").value = "30d"

    user.find(marker="clean").click()
    await user.should_see("Delete 3 finished jobs?", marker="clean-count", retries=50)
    await user.should_see("State cancelled, type sendEmail, finished more than 30d ago.")
    user.find(marker="clean-cancel").click()  # the dry run deleted nothing, nor does cancel
    assert Job.objects(id__in=[j.id for j in old + kept]).count() == 5

    user.find(marker="clean").click()
    await user.should_see(marker="clean-confirm", retries=50)
    user.find(marker="clean-confirm").click()

    await user.should_see("3 jobs deleted", retries=50)
    assert {j.id for j in Job.objects(id__in=[j.id for j in old + kept])} == {j.id for j in kept}
    await eventually(counters_match_the_jobs, timeout=15, message="the counters to follow")
    user.find(marker="clean").click()
    await user.should_see("No finished jobs match (state cancelled", retries=50)


async def test_run_now_from_the_side_panel(user: User) -> None:
    await log_in(user, account("rhea", "operator"))
    services = build_services(load_settings())
    job = services.jobs.submit(
        "sendEmail", {"recipient": "a@example.com", "subject": "later"}, delay=3600
    )
    await user.open(f"/jobs?job={job.id}")
    await user.should_see(str(job.id), marker="detail-id")

    user.find(marker="detail-run-now").click()

    await user.should_see("1 job set to run now", retries=50)
    now = Job.objects.get(id=job.id)
    assert (now.state, now.run_at, now.attempt_count) == ("queued", None, 0)
    await user.should_not_see(marker="detail-run-now", retries=50)  # redrawn: queued now


async def test_run_now_on_a_job_that_finished_meanwhile_changes_nothing(user: User) -> None:
    await log_in(user, account("ravi", "operator"))
    services = build_services(load_settings())
    job = services.jobs.submit(
        "sendEmail", {"recipient": "a@example.com", "subject": "later"}, delay=3600
    )
    await user.open(f"/jobs?job={job.id}")
    await user.should_see(marker="detail-run-now")
    Job.objects(id=job.id).update_one(set__state="succeeded", set__finished_at=utcnow())
    before = Job.objects.get(id=job.id)

    user.find(marker="detail-run-now").click()

    await user.should_see(
        f"Not set to run now: {job.id}: job is succeeded; only scheduled or retrying", retries=50
    )
    after = Job.objects.get(id=job.id)
    assert (after.state, after.run_at, after.updated_at) == (
        before.state,
        before.run_at,
        before.updated_at,
    )
