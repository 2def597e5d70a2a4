"""The application shell every admin page enters: header, navigation rail, content area."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import ui

from jobplatform.ui.session import current_user, log_out

NAVIGATION = [("Jobs", "/jobs", "work_history")]


@contextmanager
def frame(title: str) -> Iterator[None]:
    user = current_user() or {}
    with ui.header().classes("items-center q-py-xs q-px-md bg-slate-800"):
        ui.label("jobplatform").classes("text-lg font-semibold")
        ui.label(f"· {title}").classes("text-sm opacity-80")
        ui.space()
        ui.label(f"{user.get('username', '')} ({user.get('role', '')})").classes("text-sm")

        def logout() -> None:
            log_out()
            ui.navigate.to("/login")

        ui.button(icon="logout", on_click=logout).props("flat dense round color=white") \
            .tooltip("Log out")
    with ui.left_drawer(fixed=True).props("width=180 bordered").classes("q-pa-sm"):
        for label, target, icon in NAVIGATION:
            ui.button(label, icon=icon, on_click=lambda t=target: ui.navigate.to(t)) \
                .props("flat align=left no-caps").classes("w-full")
    with ui.column().classes("w-full q-pa-md gap-2"):
        yield
