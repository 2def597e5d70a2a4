"""Who is logged in to the admin app (kept in NiceGUI's signed per-user storage)."""

from __future__ import annotations

from nicegui import app


def current_user() -> dict | None:
    user = app.storage.user.get("user")
    return user if isinstance(user, dict) else None


def log_in(username: str, role: str) -> None:
    app.storage.user["user"] = {"username": username, "role": role}


def log_out() -> None:
    app.storage.user.pop("user", None)
