"""Who is logged in to the admin app, and what their role lets them do.

A login opens a login session in MongoDB, the same kind `POST /api/login` opens, and NiceGUI's
per-user storage (signed cookie id, data on the server under DATA_DIR) keeps its id. Every
page load and every action handler checks that session is still open (`current_user`, one
lookup by id), so logging out, a new password and disabling the user end the admin app's
sessions as they end the API's, at once. The session carries the user's current role, so a
changed role applies at once too. Every action handler asks `allowed(...)` before it changes
anything, so a role is enforced on the server even if a button was reached some other way.
"""

from __future__ import annotations

from nicegui import app, ui

from jobplatform.auth.roles import ADMINISTER, OPERATE
from jobplatform.auth.sessions import active_session, open_session, revoke_session

__all__ = [
    "ADMINISTER",
    "OPERATE",
    "allowed",
    "current_user",
    "log_in",
    "log_out",
    "require_login",
]


def current_user() -> dict | None:
    """The logged-in user as {"username", "role", "sid"}, or None when there is no open
    login session (logged out, password changed, disabled, expired)."""
    user = app.storage.user.get("user")
    if not isinstance(user, dict):
        return None
    session = active_session(user["sid"]) if isinstance(user.get("sid"), str) else None
    if session is None or session.username != user.get("username"):
        app.storage.user.pop("user", None)
        return None
    if session.role != user.get("role"):
        user = {**user, "role": session.role}
        app.storage.user["user"] = user
    return user


def log_in(username: str, role: str, ttl_seconds: int) -> None:
    """Open a login session for the user and keep its id in this browser's storage."""
    session, _ = open_session(username, role, ttl_seconds)  # no refresh token is handed out
    app.storage.user["user"] = {"username": username, "role": role, "sid": str(session.id)}


def log_out() -> None:
    """End this browser's login session."""
    user = app.storage.user.pop("user", None)
    if isinstance(user, dict) and isinstance(user.get("sid"), str):
        revoke_session(user["sid"])


def require_login() -> dict | None:
    """For a page: the user, or None after sending the browser to the login page."""
    user = current_user()
    if user is None:
        ui.navigate.to("/login")
    return user


def allowed(roles: tuple[str, ...], action: str) -> bool:
    """Whether the session's user may do `action`; if not, say so and refuse."""
    user = current_user()
    if user is None:
        ui.notify("Your session has ended; log in again.", type="negative")
        ui.navigate.to("/login")
        return False
    if user["role"] not in roles:
        ui.notify(
            f"Refused: role '{user['role']}' may not {action}; it needs {' or '.join(roles)}.",
            type="negative",
        )
        return False
    return True
