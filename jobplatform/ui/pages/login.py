"""The login page, and `/logout`."""

from __future__ import annotations

from fastapi import Request
from nicegui import ui

from jobplatform.auth.login import log_in as check_login
from jobplatform.auth.ratelimit import Limited, LimitStoreDown
from jobplatform.auth.users import LoginFailed
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.session import current_user, log_in, log_out


def register(services: Services) -> None:
    @ui.page("/login", title="Log in · jobplatform")
    def login_page(request: Request) -> None:
        if current_user() is not None:
            ui.navigate.to("/")
            return

        client_ip = request.client.host if request.client else "unknown"

        async def submit() -> None:
            error.text = ""
            if not username.value or not password.value:
                error.text = "Enter your username and password."
                return
            try:
                user = await blocking.call(
                    check_login, services.limiter, client_ip, username.value, password.value
                )
            except (LoginFailed, Limited) as exc:
                error.text = f"Login failed: {exc}"
                return
            except LimitStoreDown:
                error.text = "Login is unavailable: the queue store (Redis) cannot be reached."
                return
            log_in(user.username, user.role, services.settings.refresh_ttl_seconds)
            ui.navigate.to("/")

        with ui.card().classes("absolute-center w-80"):
            ui.label("jobplatform").classes("text-xl font-semibold")
            username = ui.input("Username").props("autofocus").classes("w-full").mark("username")
            password = (
                ui.input("Password", password=True)
                .classes("w-full")
                .mark("password")
                .on("keydown.enter", submit)
            )
            error = ui.label("").classes("text-negative text-sm").mark("login-error")
            ui.button("Log in", on_click=submit).classes("w-full").mark("login")

    @ui.page("/logout")
    def logout_page() -> None:
        log_out()
        ui.navigate.to("/login")
