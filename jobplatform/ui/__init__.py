"""The NiceGUI admin app, mounted next to the API in the web process."""

from __future__ import annotations

import hashlib

from fastapi import FastAPI
from nicegui import app as nicegui_app
from nicegui import ui
from nicegui.storage import Storage

from jobplatform.services import Services


def session_secret(jwt_secret: str) -> str:
    """The key that signs the admin app's session cookie, derived from JWT_SECRET."""
    return hashlib.sha256(b"jobplatform admin session\0" + jwt_secret.encode()).hexdigest()


def mount(app: FastAPI, services: Services) -> None:
    """Register the admin pages and mount NiceGUI on `app`; sessions live under DATA_DIR.
    With APP_ENV=production the session cookie is `Secure` (sent over HTTPS only)."""
    from jobplatform.ui.pages import (
        dashboard,
        jobs,
        login,
        new_job,
        plugins,
        queues,
        schedules,
        tokens,
        users,
        webhooks,
        workers,
        workflows,
    )

    Storage.path = (services.settings.data_dir / "nicegui").resolve()
    Storage.path.mkdir(parents=True, exist_ok=True)
    nicegui_app.storage = Storage()  # its general store was opened on the old path
    pages = (login, dashboard, jobs, new_job, schedules, queues, plugins, workers, users, tokens)
    for page in pages:
        page.register(services)
    webhooks.register(services)
    workflows.register(services)
    ui.run_with(
        app,
        title="jobplatform",
        storage_secret=session_secret(services.jwt_secret),
        session_middleware_kwargs={"https_only": services.settings.app_env == "production"},
        show_welcome_message=False,
        reconnect_timeout=10,
    )
