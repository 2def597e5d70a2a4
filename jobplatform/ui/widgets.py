"""Small pieces the admin pages share: the card of a create form, a select of the roles, a
row's Enabled switch, a confirmation dialog, a delete button that asks first, and the notice
a non-admin gets on an admins' page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from nicegui import ui

from jobplatform.auth.roles import ROLES
from jobplatform.ui.session import ADMINISTER


@contextmanager
def titled_card(title: str, classes: str = "w-full q-pa-sm") -> Iterator[ui.card]:
    """A flat card with a title; the caller's elements go under it."""
    with ui.card().classes(classes).props("flat bordered") as card:
        ui.label(title).classes("font-semibold")
        yield card


def role_select(value: str, marker: str, label: str | None = None, **kwargs) -> ui.select:
    """A dense select of the roles, `value` chosen."""
    select = ui.select(list(ROLES), value=value, label=label, **kwargs)
    return select.props("dense").classes("w-32").mark(marker)


def enabled_switch(
    enabled: bool, marker: str, change: Callable[[bool], Awaitable[None]]
) -> ui.switch:
    """The Enabled switch of a row; `change` gets the new value when the user flips it."""
    return ui.switch("Enabled", value=enabled, on_change=lambda e: change(e.value)).mark(marker)


def confirm(question: str, label: str, action: Callable[[], Awaitable[None]], marker: str) -> None:
    """Ask `question` in a dialog; the button `label` (marked `marker`) closes it and runs
    `action`, Cancel only closes it."""
    with ui.dialog() as dialog, ui.card():
        ui.label(question)

        async def confirmed() -> None:
            dialog.close()
            await action()

        with ui.row():
            ui.button(label, on_click=confirmed).props("color=negative").mark(marker)
            ui.button("Cancel", on_click=dialog.close).props("flat")
    dialog.open()


def delete_button(marker: str, question: str, action: Callable[[], Awaitable[None]]) -> ui.button:
    """A round red delete icon (marked `marker`) that asks `question` before `action` runs;
    the dialog's Delete is marked `delete-confirm`."""
    return (
        ui.button(
            icon="delete", on_click=lambda: confirm(question, "Delete", action, "delete-confirm")
        )
        .props("flat dense round color=negative")
        .tooltip("Delete")
        .mark(marker)
    )


def admins_only(user: dict, what: str) -> bool:
    """Whether `user` is an admin; if not, the page says that only admins manage `what`."""
    if user["role"] in ADMINISTER:
        return True
    ui.label(f"Only admins manage {what}.").classes("text-warning")
    return False
