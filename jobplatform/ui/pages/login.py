"""The login page, and `/logout`."""

from __future__ import annotations

from nicegui import ui

from jobplatform.auth.users import LoginFailed, authenticate
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.session import current_user, log_in, log_out


def register(services: Services) -> None:
    @ui.page("/login", title="Log in · jobplatform")
    def login_page() -> None:
        if current_user() is not None:
            ui.navigate.to("/")
            return

        async def submit() -> None:
            error.text = ""
            if not username.value or not password.value:
                error.text = "Enter your username and password."
                return
            try:
                user = await blocking.call(authenticate, username.value, password.value)
            except LoginFailed as exc:
                error.text = f"Login failed: {exc}"
                return
            log_in(user.username, user.role)
            ui.navigate.to("/")

        with ui.card().classes("absolute-center w-80"):
            ui.label("jobplatform").classes("text-xl font-semibold")
            username = ui.input("Username").props("autofocus").classes("w-full") \
                .mark("username")
            password = ui.input("Password", password=True).classes("w-full").mark("password") \
                .on("keydown.enter", submit)
            error = ui.label("").classes("text-negative text-sm").mark("login-error")
            ui.button("Log in", on_click=submit).classes("w-full").mark("login")

    @ui.page("/logout")
    def logout_page() -> None:
        log_out()
        ui.navigate.to("/login")
