"""The admin app's side of issue 16 through NiceGUI's simulated `User`: a new password or
disabling ends the admin app's sessions, logging out ends the login session, usernames in
any case, the queue badge without Redis, and the `Secure` cookie in production."""

from __future__ import annotations

import secrets
import uuid

import pytest
from nicegui.testing import User

from jobplatform.auth.accounts import set_password, update_user
from jobplatform.auth.sessions import LoginSession
from jobplatform.auth.users import User as Account
from jobplatform.auth.users import create_user
from tests.ui.test_ui_pages import PASSWORD, log_in


def account(role: str = "operator") -> str:
    return create_user(f"ui-{uuid.uuid4().hex[:8]}", PASSWORD, role).username


@pytest.mark.parametrize(
    "end",
    [
        lambda name: set_password(name, "another-long-password"),
        lambda name: update_user(name, disabled=True),
    ],
    ids=["new password", "disabled"],
)
async def test_a_new_password_or_disabling_ends_the_admin_app_session(user: User, end) -> None:
    name = account()
    await log_in(user, name)
    await user.open("/jobs")
    await user.should_see(marker="job-table")

    end(name)  # what `jobplatform users set-password|disable`, the API and the Users page call
    await user.open("/jobs")
    await user.should_see(marker="login")
    await user.should_not_see(marker="job-table")


async def test_an_action_after_the_password_changed_is_refused(user: User) -> None:
    name = account("admin")
    await log_in(user, name)
    await user.open("/users")
    await user.should_see(marker="create-user")
    set_password(name, "another-long-password")
    user.find(marker="new-username").type("never-created")
    user.find(marker="new-password").type(PASSWORD)
    user.find(marker="create-user").click()  # the page is open; its handler checks the session
    await user.should_see("Your session has ended; log in again.")
    assert Account.objects(username="never-created").count() == 0
    await log_in(user, name, "another-long-password")


async def test_logging_out_ends_the_login_session(user: User) -> None:
    name = account()
    await log_in(user, name)
    [session] = LoginSession.objects(username=name, revoked_at=None)
    user.find(marker="user-menu").click()
    user.find(marker="logout").click()
    await user.should_see(marker="login")
    assert session.reload().revoked_at is not None


async def test_a_username_logs_in_in_any_case_and_a_case_twin_is_refused(user: User) -> None:
    name = account("admin")
    await log_in(user, f" {name.upper()} ")
    await user.should_see(f"{name} (admin)")
    await user.open("/users")
    user.find(marker="new-username").type(name.upper())
    user.find(marker="new-password").type(PASSWORD)
    user.find(marker="create-user").click()
    await user.should_see("already exists")
    assert Account.objects(username=name.upper()).count() == 0


@pytest.fixture
def without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app of the test queues on the SQLite file (ask for it before `user`)."""
    monkeypatch.setenv("REDIS_URI", "")


async def test_without_redis_the_header_shows_the_queue_file(without_redis, user: User) -> None:
    await log_in(user, account())
    await user.should_see("Queue file up", retries=100)
    await user.should_not_see("Redis up")


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app of the test runs with APP_ENV=production (ask for it before `user`)."""
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", secrets.token_urlsafe(48))


async def test_in_production_the_session_cookie_is_secure(production, user: User) -> None:
    response = await user.http_client.get("/login")
    cookie = response.headers["set-cookie"].lower()
    assert "session=" in cookie and "; secure" in cookie, cookie


async def test_outside_production_the_cookie_also_works_over_http(user: User) -> None:
    response = await user.http_client.get("/login")
    assert "; secure" not in response.headers["set-cookie"].lower()
