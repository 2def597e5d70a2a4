"""The login page."""

from __future__ import annotations

from nicegui import run, ui

from jobplatform.auth.users import LoginFailed, authenticate
from jobplatform.services import Services
from jobplatform.ui.session import log_in


def register(services: Services) -> None:
    @ui.page("/login", title="Log in · jobplatform")
    def login_page() -> None:
        async def submit() -> None:
            error.text = ""
            try:
                user = await run.io_bound(authenticate, username.value, password.value)
            except LoginFailed as exc:
                error.text = str(exc)
                return
            log_in(user.username, user.role)
            ui.navigate.to("/jobs")

        with ui.card().classes("absolute-center w-80"):
            ui.label("jobplatform").classes("text-xl font-semibold")
            username = ui.input("Username").props("autofocus").classes("w-full")
            password = ui.input("Password", password=True).classes("w-full") \
                .on("keydown.enter", submit)
            error = ui.label("").classes("text-negative text-sm")
            ui.button("Log in", on_click=submit).classes("w-full")

    @ui.page("/")
    def index() -> None:
        ui.navigate.to("/jobs")
