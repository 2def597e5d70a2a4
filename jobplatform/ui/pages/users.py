"""Users (admins only): create, change role, disable or enable, reset a password.

Every handler checks the admin role on the server and calls the same account functions as
`jobplatform users` and the API.
"""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from jobplatform.auth.accounts import set_password, update_user
from jobplatform.auth.users import ROLES, AccountError, create_user, list_users
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.session import ADMINISTER, allowed, require_login
from jobplatform.ui.shell import frame


async def _admin_action(action: str, function: Callable, *args, **kwargs) -> bool:
    """Run an account change for an admin; show the outcome. True when it was done."""
    if not allowed(ADMINISTER, action):
        return False
    try:
        await blocking.call(function, *args, **kwargs)
    except AccountError as exc:
        ui.notify(f"Could not {action}: {exc}", type="negative")
        return False
    ui.notify(f"Done: {action}", type="positive")
    return True


def register(services: Services) -> None:
    @ui.page("/users", title="Users · jobplatform")
    async def users_page() -> None:
        user = require_login()
        if user is None:
            return
        with frame("Users", services, user):
            if user["role"] not in ADMINISTER:
                ui.label("Only admins manage users.").classes("text-warning")
                return
            with ui.card().classes("w-full q-pa-sm").props("flat bordered"):
                ui.label("New user").classes("font-semibold")
                with ui.row().classes("items-end gap-2"):
                    name = ui.input("Username").props("dense").mark("new-username")
                    password = (
                        ui.input("Password", password=True).props("dense").mark("new-password")
                    )
                    role = (
                        ui.select(list(ROLES), value="viewer", label="Role")
                        .props("dense")
                        .classes("w-32")
                        .mark("new-role")
                    )
                    create = (
                        ui.button("Create", icon="person_add")
                        .props("dense no-caps")
                        .mark("create-user")
                    )
            listing = ui.column().classes("w-full gap-1").mark("user-list")

            async def show() -> None:
                accounts = await blocking.call(list_users)
                listing.clear()
                with listing:
                    for account in accounts:
                        _user_row(account)

            def _user_row(account) -> None:
                with (
                    ui.row()
                    .classes("w-full items-center gap-2 q-px-sm")
                    .mark(f"user-{account.username}")
                ):
                    ui.label(account.username).classes("w-48 font-mono")
                    ui.select(
                        list(ROLES),
                        value=account.role,
                        on_change=lambda e, a=account.username: change_role(a, e.value),
                    ).props("dense").classes("w-32").mark(f"role-{account.username}")
                    ui.badge(
                        "disabled" if account.disabled else "active",
                        color="grey" if account.disabled else "positive",
                    )
                    ui.space()
                    ui.button(
                        "Enable" if account.disabled else "Disable",
                        on_click=lambda a=account: toggle(a.username, not a.disabled),
                    ).props("dense flat no-caps").mark(f"toggle-{account.username}")
                    ui.button(
                        "Reset password", on_click=lambda a=account.username: reset_dialog(a)
                    ).props("dense flat no-caps").mark(f"reset-{account.username}")

            async def change_role(username: str, new_role: str) -> None:
                await _admin_action(
                    f"change the role of '{username}'",
                    update_user,
                    username,
                    role=new_role,
                    by=user["username"],
                )
                await show()

            async def toggle(username: str, disable: bool) -> None:
                verb = "disable" if disable else "enable"
                await _admin_action(
                    f"{verb} '{username}'",
                    update_user,
                    username,
                    disabled=disable,
                    by=user["username"],
                )
                await show()

            def reset_dialog(username: str) -> None:
                with ui.dialog() as dialog, ui.card():
                    ui.label(f"New password for {username}").classes("font-semibold")
                    new = ui.input("Password", password=True).mark("reset-password")

                    async def save() -> None:
                        if await _admin_action(
                            f"reset the password of '{username}'",
                            set_password,
                            username,
                            new.value or "",
                        ):
                            dialog.close()

                    with ui.row():
                        ui.button("Save", on_click=save).mark("reset-save")
                        ui.button("Cancel", on_click=dialog.close).props("flat")
                dialog.open()

            async def add() -> None:  # the core normalises and checks the name
                if await _admin_action(
                    f"create user '{name.value}'",
                    create_user,
                    name.value or "",
                    password.value or "",
                    role.value,
                ):
                    name.value = password.value = ""
                    await show()

            create.on_click(add)
            await show()
