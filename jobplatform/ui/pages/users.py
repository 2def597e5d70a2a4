"""Users (admins only): create, change role, disable or enable, reset a password.

Every handler checks the admin role on the server and calls the same account functions as
`jobplatform users` and the API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from jobplatform.auth.accounts import set_password, update_user
from jobplatform.auth.users import User, create_user, list_users
from jobplatform.services import Services
from jobplatform.ui.guarded import guarded
from jobplatform.ui.live_list import LiveList
from jobplatform.ui.session import ADMINISTER, require_login
from jobplatform.ui.shell import frame
from jobplatform.ui.widgets import admins_only, role_select, titled_card


async def _admin_action(action: str, function: Callable, *args, **kwargs) -> bool:
    """Run an account change for an admin; show the outcome. True when it was done."""
    if await guarded(ADMINISTER, action, function, *args, **kwargs):
        ui.notify(f"Done: {action}", type="positive")
        return True
    return False


class NewUserForm:
    """Username, password and role, and Create; `created` runs after a user was created."""

    def __init__(self, created: Callable[[], Awaitable[None]]):
        self.created = created
        with titled_card("New user"), ui.row().classes("items-end gap-2"):
            self.name = ui.input("Username").props("dense").mark("new-username")
            self.password = ui.input("Password", password=True).props("dense").mark("new-password")
            self.role = role_select("viewer", "new-role", label="Role")
            ui.button("Create", icon="person_add", on_click=self.create).props(
                "dense no-caps"
            ).mark("create-user")

    async def create(self) -> None:  # the core normalises and checks the name
        if await _admin_action(
            f"create user '{self.name.value}'",
            create_user,
            self.name.value or "",
            self.password.value or "",
            self.role.value,
        ):
            self.name.value = self.password.value = ""
            await self.created()


class UserList:
    """Every account with its role, whether it is disabled, and the changes an admin makes."""

    def __init__(self, by: str):
        self.by = by  # the admin making the changes
        self.rows = LiveList("user-list", list_users, self._row)

    async def show(self) -> None:
        await self.rows.show()

    def _row(self, account: User) -> None:
        name = account.username
        with ui.row().classes("w-full items-center gap-2 q-px-sm").mark(f"user-{name}"):
            ui.label(name).classes("w-48 font-mono")
            role_select(
                account.role, f"role-{name}", on_change=lambda e: self.change_role(name, e.value)
            )
            ui.badge(
                "disabled" if account.disabled else "active",
                color="grey" if account.disabled else "positive",
            )
            ui.space()
            ui.button(
                "Enable" if account.disabled else "Disable",
                on_click=lambda: self.toggle(name, not account.disabled),
            ).props("dense flat no-caps").mark(f"toggle-{name}")
            ui.button("Reset password", on_click=lambda: _reset_dialog(name)).props(
                "dense flat no-caps"
            ).mark(f"reset-{name}")

    async def change_role(self, username: str, role: str) -> None:
        action = f"change the role of '{username}'"
        await _admin_action(action, update_user, username, role=role, by=self.by)
        await self.show()

    async def toggle(self, username: str, disable: bool) -> None:
        action = f"{'disable' if disable else 'enable'} '{username}'"
        await _admin_action(action, update_user, username, disabled=disable, by=self.by)
        await self.show()


def _reset_dialog(username: str) -> None:
    with ui.dialog() as dialog, ui.card():
        ui.label(f"New password for {username}").classes("font-semibold")
        new = ui.input("Password", password=True).mark("reset-password")

        async def save() -> None:
            action = f"reset the password of '{username}'"
            if await _admin_action(action, set_password, username, new.value or ""):
                dialog.close()

        with ui.row():
            ui.button("Save", on_click=save).mark("reset-save")
            ui.button("Cancel", on_click=dialog.close).props("flat")
    dialog.open()


def register(services: Services) -> None:
    @ui.page("/users", title="Users · jobplatform")
    async def users_page() -> None:
        user = require_login()
        if user is None:
            return
        with frame("Users", services, user):
            if not admins_only(user, "users"):
                return
            NewUserForm(created=lambda: users.show())
            users = UserList(by=user["username"])
            await users.show()
