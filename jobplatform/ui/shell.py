"""The application shell every admin page enters: header, navigation rail, content area.

The header shows live status of the queue (Redis, or the queue file without REDIS_URI),
MongoDB and the workers, the dark-mode switch
(remembered per user), the shortcut help and the user menu. Pages add their own keyboard
shortcuts to `Shell.shortcuts`; `?` always opens the list.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from nicegui import app, ui
from nicegui.events import KeyEventArguments

from jobplatform import overview
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.session import log_out

NAVIGATION = [
    ("Dashboard", "/", "dashboard", None),
    ("Jobs", "/jobs", "work_history", None),
    ("New job", "/jobs/new", "add_circle", None),
    ("Workflows", "/workflows", "account_tree", None),
    ("Schedules", "/schedules", "schedule", None),
    ("Queues", "/queues", "view_list", None),
    ("Plugins", "/plugins", "extension", None),
    ("Workers", "/workers", "memory", None),
    ("Users", "/users", "group", "admin"),
    ("API tokens", "/tokens", "key", "admin"),
    ("Webhooks", "/webhooks", "webhook", "admin"),
]
STATUS_INTERVAL = 2.0


@dataclass
class Shell:
    """What a page can add to the shell: keyboard shortcuts with their descriptions."""

    shortcuts: dict[str, tuple[str, Callable[[], object]]] = field(default_factory=dict)

    def shortcut(self, key: str, description: str, action: Callable[[], object]) -> None:
        self.shortcuts[key] = (description, action)


def _status_badges(services: Services) -> None:
    badges, tips = {}, {}
    queue = "Redis" if services.settings.redis_uri else "Queue file"
    for name in (queue, "MongoDB", "Workers"):
        with ui.badge(name).props("outline").classes("q-px-sm").mark(f"status-{name}") as badge:
            tips[name] = ui.tooltip("")
        badges[name] = badge

    async def refresh() -> None:
        status = await blocking.call(overview.dependency_status, services)
        workers = await blocking.call(overview.workers_online, services)
        for name, error in ((queue, status["redis"]), ("MongoDB", status["mongodb"])):
            badges[name].text = f"{name} {'up' if error is None else 'down'}"
            badges[name].props(f"color={'positive' if error is None else 'negative'}")
            tips[name].text = error or f"{name} answers"
        badges["Workers"].text = f"{len(workers)} worker{'s' * (len(workers) != 1)}"
        badges["Workers"].props(f"color={'positive' if workers else 'warning'}")
        tips["Workers"].text = ", ".join(w["id"] for w in workers) or "no worker is running"

    ui.timer(0.01, refresh, once=True)
    ui.timer(STATUS_INTERVAL, refresh)


def _help_dialog(shell: Shell) -> ui.dialog:
    with ui.dialog() as dialog, ui.card().classes("min-w-80"):
        ui.label("Keyboard shortcuts").classes("text-lg font-semibold")
        rows = [("?", "show this help"), *((k, d) for k, (d, _) in shell.shortcuts.items())]
        for key, description in rows:
            with ui.row().classes("items-center gap-3"):
                ui.label(key).classes("font-mono q-px-sm rounded bg-grey-3 text-black")
                ui.label(description)
        ui.button("Close", on_click=dialog.close).props("flat")
    return dialog


@contextmanager
def frame(title: str, services: Services, user: dict) -> Iterator[Shell]:
    """Build the shell around a page's content; yields the `Shell` for its shortcuts."""
    shell = Shell()
    dark = ui.dark_mode(bool(app.storage.user.get("dark", False)))

    def toggle_dark() -> None:
        dark.value = not dark.value
        app.storage.user["dark"] = dark.value

    def logout() -> None:
        log_out()
        ui.navigate.to("/login")

    with ui.header().classes("items-center q-py-xs q-px-md gap-2 bg-slate-800"):
        ui.label("jobplatform").classes("text-lg font-semibold")
        ui.label(f"· {title}").classes("text-sm opacity-80")
        ui.space()
        _status_badges(services)
        ui.button(icon="dark_mode", on_click=toggle_dark).props(
            "flat dense round color=white"
        ).tooltip("Dark mode").mark("dark-toggle")
        ui.button(icon="keyboard", on_click=lambda: _help_dialog(shell).open()).props(
            "flat dense round color=white"
        ).tooltip("Keyboard shortcuts (?)").mark("shortcuts")
        with (
            ui.button(icon="account_circle")
            .props("flat dense no-caps color=white")
            .mark("user-menu")
        ):
            ui.label(f"{user['username']} ({user['role']})").classes("q-ml-xs text-sm")
            with ui.menu():
                ui.menu_item(f"Role: {user['role']}").props("disable")
                ui.menu_item("Log out", on_click=logout).mark("logout")
    with ui.left_drawer(value=True, fixed=True).props("width=170 bordered").classes("q-pa-xs"):
        for label, target, icon, role in NAVIGATION:
            if role is None or user["role"] == role:
                ui.button(label, icon=icon, on_click=lambda t=target: ui.navigate.to(t)).props(
                    "flat dense align=left no-caps"
                ).classes("w-full")

    async def on_key(event: KeyEventArguments) -> None:
        if not event.action.keydown or event.modifiers.ctrl or event.modifiers.alt:
            return
        if event.key.name == "?":
            _help_dialog(shell).open()
        elif event.key.name in shell.shortcuts:
            result = shell.shortcuts[event.key.name][1]()
            if inspect.isawaitable(result):
                await result

    ui.keyboard(on_key=on_key)
    with ui.column().classes("w-full q-pa-sm gap-2"):
        yield shell
