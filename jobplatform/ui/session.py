"""Who is logged in to the admin app, and what their role lets them do.

The session lives in NiceGUI's per-user storage (signed cookie id, data on the server under
DATA_DIR). Every action handler asks `allowed(...)` before it changes anything, so a role is
enforced on the server even if a button was reached some other way; the role is re-read from
MongoDB each time, so disabling a user or changing their role takes effect at once.
"""

from __future__ import annotations

from nicegui import app, ui

from jobplatform.auth.users import User

OPERATE = ("admin", "operator")  # submit, retry, cancel
ADMINISTER = ("admin",)  # users and API tokens


def current_user() -> dict | None:
    """The logged-in user as {"username", "role"}, or None (also when disabled or removed)."""
    user = app.storage.user.get("user")
    if not isinstance(user, dict):
        return None
    stored = User.objects(username=user.get("username")).only("role", "disabled").first()
    if stored is None or stored.disabled:
        log_out()
        return None
    if stored.role != user.get("role"):
        user = {**user, "role": stored.role}
        app.storage.user["user"] = user
    return user


def log_in(username: str, role: str) -> None:
    app.storage.user["user"] = {"username": username, "role": role}


def log_out() -> None:
    app.storage.user.pop("user", None)


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
