"""The admin app through NiceGUI's simulated `User`: every page and action, against the real
app (`create_app`, loaded from tests/ui_main.py), real MongoDB (FerretDB) and real Redis.

Jobs that would need a worker to reach a state (a dead job with attempts) are written to
MongoDB directly; the actions on them go through the app and `JobService` like a click does.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from nicegui import ui
from nicegui.testing import User

from jobplatform.auth.api_tokens import ApiToken
from jobplatform.auth.passwords import hash_password
from jobplatform.auth.tokens import digest
from jobplatform.auth.users import User as Account
from jobplatform.config import load_settings
from jobplatform.jobs.models import Attempt, Job, utcnow
from jobplatform.jobs.query import COUNT_CAP
from jobplatform.services import build_services
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import eventually

PASSWORD = "a-long-test-password-42"


def account(username: str, role: str) -> str:
    Account.objects(username=username).delete()
    Account(username=username, password_hash=hash_password(PASSWORD), role=role).save()
    return username


async def log_in(user: User, username: str, password: str = PASSWORD) -> None:
    await user.open("/login")
    user.find(marker="username").type(username)
    user.find(marker="password").type(password)
    user.find(marker="login").click()
    await user.should_see("Attempts per minute, last hour", retries=100)


def dead_job(error: str = "SMTPRecipientsRefused: 550 no such user") -> Job:
    """A job as a worker leaves it after its last failed attempt."""
    now = utcnow()
    attempt = Attempt(
        number=1,
        worker="test:1",
        started_at=now,
        finished_at=now,
        duration_ms=12.0,
        outcome="failed",
        error_type=error.split(":")[0],
        error_message=error.split(": ", 1)[1],
        traceback="Traceback (most recent call last):\n  boom\n",
    )
    return Job(
        type="sendEmail",
        data={"recipient": "x@example.com", "subject": "s"},
        state="dead",
        queue="email",
        max_attempts=1,
        attempt_count=1,
        attempts=[attempt],
        error=error,
        retry_policy={"max_attempts": 1},
        created_at=now,
        updated_at=now,
        finished_at=now,
    ).save()


def table_rows(user: User) -> list[dict]:
    [table] = user.find(marker="job-table").elements
    return table.rows


async def test_pages_need_a_session_and_bad_logins_are_refused(user: User) -> None:
    await user.open("/jobs")
    await user.should_see(marker="login")
    user.find(marker="username").type("admin")
    user.find(marker="password").type("wrong-password")
    user.find(marker="login").click()
    await user.should_see("Login failed: invalid username or password", retries=100)
    await user.should_not_see("Attempts per minute, last hour")


async def test_repeated_failed_logins_lock_the_user_out(user: User) -> None:
    account("lou", "viewer")
    await user.open("/login")
    user.find(marker="username").type("lou")
    [password] = user.find(marker="password").elements
    [error] = user.find(marker="login-error").elements
    for attempt in range(1, 7):
        password.value = f"wrong-{attempt}"
        error.text = ""
        user.find(marker="login").click()
        await eventually(lambda: error.text != "", message=f"the answer to attempt {attempt}")
        if "locked" in error.text:
            break
    assert "too many failed logins, 'lou' is locked for" in error.text
    password.value = PASSWORD  # the right password does not help while locked
    error.text = ""
    user.find(marker="login").click()
    await eventually(lambda: error.text != "", message="the answer to the right password")
    assert "locked" in error.text


async def test_admin_logs_in_sees_live_counts_and_logs_out(user: User) -> None:
    await log_in(user, "admin", ADMIN_PASSWORD)
    await user.should_see("Users")  # admins get the admin navigation
    await user.should_see("Redis up")
    await user.should_see("MongoDB up")
    [scheduled] = user.find(marker="count-scheduled").elements
    await eventually(lambda: scheduled.text != "–", message="the first figures")
    before = int(scheduled.text.replace(",", ""))
    services = build_services(load_settings())
    services.jobs.submit(
        "sendEmail", {"recipient": "a@example.com", "subject": "later"}, delay=3600
    )
    await eventually(lambda: scheduled.text == f"{before + 1:,}", message="the live count")
    user.find(marker="logout").click()
    await user.should_see(marker="login", retries=50)
    await user.open("/jobs")
    await user.should_see(marker="login")


async def test_viewer_has_no_admin_navigation(user: User) -> None:
    await log_in(user, account("vera", "viewer"))
    await user.should_see("vera (viewer)")
    await user.should_not_see("API tokens")


async def test_job_list_filters_searches_and_shows_new_jobs_live(user: User) -> None:
    await log_in(user, account("olga", "operator"))
    marker = f"unique-{uuid.uuid4().hex[:8]}"
    dead = dead_job(f"SMTPDataError: 554 {marker}")
    await user.open("/jobs")
    await user.should_see(marker="job-table")
    wait_ids = lambda: [r["id"] for r in table_rows(user)]  # noqa: E731
    await eventually(lambda: str(dead.id) in wait_ids(), message="the dead job in the list")
    user.find(marker="search").type(marker)
    await user.should_see("1–1 of 1", retries=40)
    assert wait_ids() == [str(dead.id)]
    user.find(marker="search").clear()
    user.find(marker="state-filter").click()
    user.find("succeeded").click()
    await eventually(lambda: str(dead.id) not in wait_ids(), message="the state filter")
    assert all(r["state"] == "succeeded" for r in table_rows(user))
    user.find(marker="state-filter").elements.pop().value = ""
    late = build_services(load_settings()).jobs.submit(
        "sendEmail", {"recipient": "a@example.com", "subject": "late"}, delay=3600
    )
    await eventually(lambda: str(late.id) in wait_ids(), message="the new job without a reload")


@pytest.fixture
def count_budget_1ms(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app of the test gives up counting a list's total after 1 ms (ask for it before
    `user`, which builds the app)."""
    monkeypatch.setenv("LIST_COUNT_BUDGET_MS", "1")


async def test_a_total_too_slow_to_count_reads_more_than(count_budget_1ms, user: User) -> None:
    await log_in(user, account("tara", "operator"))
    tag = f"slow-count-{uuid.uuid4().hex[:8]}"
    now = utcnow()
    Job._get_collection().insert_many(
        {"type": "sendEmail", "state": "succeeded", "data": {}, "created_by": tag}
        | {"idempotency_key": f"{tag}-{i}", "created_at": now}
        for i in range(COUNT_CAP + 5)
    )
    try:
        await user.open(f"/jobs?q={tag}")
        await user.should_see("1–50 of more than 50", retries=100)
        assert len(table_rows(user)) == 50
    finally:
        Job.objects(created_by=tag).delete()


async def test_detail_panel_shows_attempts_and_operator_retries_with_one_click(user: User):
    await log_in(user, account("otto", "operator"))
    job = dead_job()
    await user.open(f"/jobs?job={job.id}")
    await user.should_see(str(job.id), marker="detail-id")
    entries = user.find(ui.timeline_entry).elements
    assert [e.props["title"] for e in entries] == ["#1 failed"]
    await user.should_see("SMTPRecipientsRefused: 550 no such user")
    await user.should_see("Traceback")
    user.find(marker="detail-retry").click()
    await user.should_see("1 job retried")
    assert Job.objects.get(id=job.id).state == "queued"
    assert len(Job.objects.get(id=job.id).attempts) == 1  # history kept


async def test_row_retry_and_bulk_actions(user: User) -> None:
    await log_in(user, account("oren", "operator"))
    one, two, three = dead_job(), dead_job(), dead_job()
    await user.open("/jobs?state=dead")
    await user.should_see(marker="job-table")
    user.find(marker="job-table").trigger("retry", str(one.id))
    await user.should_see("1 job retried")
    assert Job.objects.get(id=one.id).state == "queued"
    [table] = user.find(marker="job-table").elements
    table.selected = [{"id": str(two.id)}, {"id": str(three.id)}]
    user.find(marker="bulk-retry").click()
    await user.should_see("2 jobs retried")
    assert {Job.objects.get(id=j.id).state for j in (two, three)} == {"queued"}
    table.selected = [{"id": str(two.id)}]
    user.find(marker="bulk-cancel").click()
    await user.should_see("1 job cancelled")
    assert Job.objects.get(id=two.id).state == "cancelled"


async def test_viewer_is_refused_a_retry_on_the_server(user: User) -> None:
    await log_in(user, account("vic", "viewer"))
    job = dead_job()
    await user.open(f"/jobs?job={job.id}")
    await user.should_see(str(job.id), marker="detail-id")
    await user.should_not_see(marker="detail-retry")  # the button is hidden ...
    user.find(marker="job-table").trigger("retry", str(job.id))  # ... and the handler refuses
    await user.should_see("Refused: role 'viewer' may not retry jobs")
    [table] = user.find(marker="job-table").elements
    table.selected = [{"id": str(job.id)}]
    user.find(marker="bulk-retry").click()
    assert Job.objects.get(id=job.id).state == "dead"
    assert Job.objects.get(id=job.id).updated_at == job.updated_at


async def test_keyboard_help_lists_the_shortcuts(user: User) -> None:
    await log_in(user, account("kim", "operator"))
    await user.open("/jobs")
    user.find(marker="shortcuts").click()
    await user.should_see("Keyboard shortcuts")
    await user.should_see("focus the search box")
    await user.should_see("retry the selected job when it is dead")


async def test_dark_mode_is_remembered(user: User) -> None:
    await log_in(user, account("dana", "viewer"))
    [dark] = user.find(ui.dark_mode).elements
    assert dark.value is False
    user.find(marker="dark-toggle").click()
    await user.open("/plugins")
    [dark] = user.find(ui.dark_mode).elements
    assert dark.value is True


async def test_new_job_form_is_generated_and_shows_schema_errors_inline(user: User) -> None:
    await log_in(user, account("nina", "operator"))
    await user.open("/jobs/new")
    await user.should_see("To *")  # the schema's meta label, required
    await user.should_see("Plain-text body")
    await user.should_see("Variables (JSON)")
    user.find(marker="field-recipient").type("not-an-address")
    user.find(marker="submit").click()
    await user.should_see("data does not match the 'sendEmail' schema")
    [recipient] = user.find(marker="field-recipient").elements
    [subject] = user.find(marker="field-subject").elements
    assert recipient.error and subject.error == "required field"
    assert Job.objects(created_by="nina").count() == 0


async def test_new_job_is_submitted_from_the_form(user: User) -> None:
    await log_in(user, account("ned", "operator"))
    subject = f"Hello {uuid.uuid4().hex[:6]}"
    await user.open("/jobs/new")
    user.find(marker="field-recipient").type("a@example.com, b@example.com")
    user.find(marker="field-subject").type(subject)
    user.find(marker="field-variables").type('{"name": "Ned"}')
    user.find(marker="delay").type("3600")
    user.find(marker="submit").click()
    await user.should_see("submitted", retries=50)
    job = Job.objects(data__subject=subject).first()
    assert job.state == "scheduled" and job.created_by == "ned"
    assert job.data["recipient"] == ["a@example.com", "b@example.com"]
    assert job.data["variables"] == {"name": "Ned"}
    assert job.run_at > utcnow() + timedelta(minutes=50)


async def test_a_dollar_key_in_a_dict_field_is_refused_in_the_new_job_form(user: User) -> None:
    """The data rule of the core (jobs/data_rules.py), as the API enforces it too."""
    await log_in(user, account("ned", "operator"))
    subject = f"Dollar {uuid.uuid4().hex[:6]}"
    await user.open("/jobs/new")
    user.find(marker="field-recipient").type("a@example.com")
    user.find(marker="field-subject").type(subject)
    user.find(marker="field-variables").type('{"$gt": 1}')
    user.find(marker="submit").click()
    await user.should_see("keys may not start with '$' or contain '.'", retries=50)
    assert Job.objects(data__subject=subject).count() == 0


async def test_viewer_is_refused_a_submission(user: User) -> None:
    await log_in(user, account("val", "viewer"))
    await user.open("/jobs/new")
    user.find(marker="field-recipient").type("a@example.com")
    user.find(marker="field-subject").type("from a viewer")
    user.find(marker="submit").click()
    await user.should_see("Refused: role 'viewer' may not submit jobs")
    assert Job.objects(data__subject="from a viewer").count() == 0


async def test_plugins_and_workers_pages(user: User) -> None:
    await log_in(user, account("pia", "viewer"))
    await user.open("/plugins")
    await user.should_see("email")
    await user.should_see("loaded")
    rows = {row["name"]: row for table in user.find(ui.table).elements for row in table.rows}
    assert set(rows) == {"sendEmail", "webhook.deliver"}  # the email and webhooks plugins
    assert rows["sendEmail"]["queue"] == "email"
    assert rows["sendEmail"]["retry"].startswith("3 attempts, 2s × 2")
    assert rows["webhook.deliver"]["queue"] == "webhooks"
    await user.open("/workers")
    await user.should_see(marker="worker-table")


async def test_admin_creates_disables_and_resets_a_user(user: User) -> None:
    await log_in(user, "admin", ADMIN_PASSWORD)
    Account.objects(username="uma").delete()
    await user.open("/users")
    user.find(marker="new-username").type("uma")
    user.find(marker="new-password").type("short")
    user.find(marker="create-user").click()
    await user.should_see("Could not create user 'uma': password is too short", retries=50)
    [password] = user.find(marker="new-password").elements
    password.value = PASSWORD
    user.find(marker="new-role").elements.pop().value = "operator"
    user.find(marker="create-user").click()
    await user.should_see(marker="user-uma", retries=50)
    assert Account.objects.get(username="uma").role == "operator"
    user.find(marker="toggle-uma").click()
    await user.should_see("Done: disable 'uma'", retries=50)
    assert Account.objects.get(username="uma").disabled
    user.find(marker="reset-uma").click()
    user.find(marker="reset-password").type("another-long-password")
    user.find(marker="reset-save").click()
    await user.should_see("Done: reset the password of 'uma'", retries=50)


async def test_an_admin_cannot_disable_themselves_from_the_users_page(user: User) -> None:
    """The rule the API enforces holds in the admin app too: it lives in auth/accounts.py."""
    name = account("ada", "admin")
    await log_in(user, name)
    await user.open("/users")
    await user.should_see(marker="user-ada", retries=50)
    user.find(marker="toggle-ada").click()
    await user.should_see("Could not disable 'ada': you cannot disable yourself", retries=50)
    assert not Account.objects.get(username="ada").disabled


async def test_admin_creates_a_token_shown_once_and_revokes_it(user: User) -> None:
    await log_in(user, "admin", ADMIN_PASSWORD)
    name = f"ci-{uuid.uuid4().hex[:6]}"
    await user.open("/tokens")
    user.find(marker="token-name").type(name)
    user.find(marker="create-token").click()
    await user.should_see(marker="new-token", retries=50)
    [shown] = user.find(marker="new-token").elements
    token = shown.value
    assert ApiToken.objects.get(name=name).token_digest == digest(token)  # only the digest kept
    await user.open("/tokens")
    await user.should_see(marker=f"token-{name}")
    await user.should_not_see(marker="new-token")  # never shown again
    user.find(marker=f"revoke-{name}").click()
    await user.should_see("Token revoked", retries=50)
    assert ApiToken.objects.get(name=name).revoked_at is not None


async def test_a_token_name_of_only_spaces_is_refused_on_the_tokens_page(user: User) -> None:
    await log_in(user, "admin", ADMIN_PASSWORD)
    before = ApiToken.objects.count()
    await user.open("/tokens")
    user.find(marker="token-name").type("   ")
    user.find(marker="create-token").click()
    await user.should_see("that says who uses it", retries=50)  # the core's rule, as for the API
    await user.should_not_see(marker="new-token")
    assert ApiToken.objects.count() == before


async def test_a_viewer_sees_no_user_or_token_management(user: User) -> None:
    await log_in(user, account("vin", "viewer"))
    await user.open("/users")
    await user.should_see("Only admins manage users.")
    await user.should_not_see(marker="create-user")
    await user.open("/tokens")
    await user.should_see("Only admins manage API tokens.")


def press(user: User, key: str) -> None:
    """A key pressed in the browser, as NiceGUI's keyboard element reports it."""
    user.find(ui.keyboard).trigger(
        "key",
        {
            "action": "keydown",
            "repeat": False,
            "altKey": False,
            "ctrlKey": False,
            "metaKey": False,
            "shiftKey": False,
            "key": key,
            "code": f"Key{key.upper()}",
            "location": 0,
        },
    )


async def test_j_opens_the_next_job_and_r_retries_it(user: User) -> None:
    await log_in(user, account("kai", "operator"))
    marker = f"keys-{uuid.uuid4().hex[:8]}"
    older = dead_job(f"SMTPDataError: 554 {marker}")
    newer = dead_job(f"SMTPDataError: 554 {marker}")
    await user.open(f"/jobs?q={marker}")
    await eventually(lambda: len(table_rows(user)) == 2, message="the two dead jobs")
    press(user, "j")
    await user.should_see(str(newer.id), marker="detail-id", retries=50)
    press(user, "j")
    await user.should_see(str(older.id), marker="detail-id", retries=50)
    press(user, "k")
    await user.should_see(str(newer.id), marker="detail-id", retries=50)
    press(user, "r")
    await user.should_see("1 job retried", retries=50)
    assert Job.objects.get(id=newer.id).state == "queued"
    assert Job.objects.get(id=older.id).state == "dead"
