"""The NiceGUI admin app, mounted next to the API in the web process."""

from __future__ import annotations

from fastapi import FastAPI
from nicegui import ui

from jobplatform.services import Services


def mount(app: FastAPI, services: Services) -> None:
    """Register the admin pages and mount NiceGUI on `app`."""
    from jobplatform.ui.pages import jobs, login

    login.register(services)
    jobs.register(services)
    ui.run_with(app, title="jobplatform", storage_secret=services.jwt_secret,
                show_welcome_message=False, reconnect_timeout=10)
