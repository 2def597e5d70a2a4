"""API tokens (admins only): create one with a name and role and see it once; revoke."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from jobplatform.auth.api_tokens import (
    ApiToken,
    create_api_token,
    list_api_tokens,
    revoke_api_token,
)
from jobplatform.services import Services
from jobplatform.ui.guarded import attempt, guarded
from jobplatform.ui.live_list import LiveList
from jobplatform.ui.session import ADMINISTER, allowed, require_login
from jobplatform.ui.shell import frame
from jobplatform.ui.widgets import admins_only, role_select, titled_card


class NewTokenForm:
    """Name, role and Create; the new token is shown under them, once. `created` runs
    after a token was created."""

    def __init__(self, by: str, created: Callable[[], Awaitable[None]]):
        self.by = by  # the admin creating tokens
        self.created = created
        with titled_card("New API token"):
            with ui.row().classes("items-end gap-2"):
                self.name = ui.input("Name").props("dense").mark("token-name")
                self.role = role_select("operator", "token-role", label="Role")
                ui.button("Create", icon="key", on_click=self.create).props("dense no-caps").mark(
                    "create-token"
                )
            self.shown = ui.column().classes("w-full")

    async def create(self) -> None:
        if not allowed(ADMINISTER, "create API tokens"):
            return
        outcome = await attempt(
            "Could not create the token",
            create_api_token,
            self.name.value or "",
            self.role.value,
            self.by,
        )
        if not outcome:
            return
        _, token = outcome.value
        self.shown.clear()
        with self.shown:
            ui.label("Copy the token now; it is not shown again:").classes("text-sm text-warning")
            ui.input(value=token).props("readonly dense outlined").classes("w-full font-mono").mark(
                "new-token"
            )
        self.name.value = ""
        await self.created()


class TokenList:
    """Every token with its role, prefix and creator, and Revoke on those still valid."""

    def __init__(self):
        self.rows = LiveList("token-list", list_api_tokens, self._row)

    async def show(self) -> None:
        await self.rows.show()

    def _row(self, record: ApiToken) -> None:
        with ui.row().classes("w-full items-center gap-2 q-px-sm").mark(f"token-{record.name}"):
            ui.label(record.name).classes("w-48")
            ui.label(record.role).classes("w-24")
            ui.label(f"{record.prefix}…").classes("font-mono text-xs")
            ui.label(f"by {record.created_by}").classes("text-xs opacity-70")
            ui.space()
            if record.revoked_at:
                ui.badge("revoked", color="grey")
            else:
                ui.button("Revoke", on_click=lambda: self.revoke(str(record.id))).props(
                    "dense flat no-caps color=negative"
                ).mark(f"revoke-{record.name}")

    async def revoke(self, token_id: str) -> None:
        if await guarded(
            ADMINISTER, "revoke API tokens", revoke_api_token, token_id, failure="Could not revoke"
        ):
            ui.notify("Token revoked", type="positive")
            await self.show()


def register(services: Services) -> None:
    @ui.page("/tokens", title="API tokens · jobplatform")
    async def tokens_page() -> None:
        user = require_login()
        if user is None:
            return
        with frame("API tokens", services, user):
            if not admins_only(user, "API tokens"):
                return
            NewTokenForm(by=user["username"], created=lambda: tokens.show())
            tokens = TokenList()
            await tokens.show()
