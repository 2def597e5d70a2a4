"""API tokens (admins only): create one with a name and role and see it once; revoke."""

from __future__ import annotations

from nicegui import ui

from jobplatform.auth.api_tokens import create_api_token, list_api_tokens, revoke_api_token
from jobplatform.auth.users import ROLES, AccountError
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.session import ADMINISTER, allowed, require_login
from jobplatform.ui.shell import frame


def register(services: Services) -> None:
    @ui.page("/tokens", title="API tokens · jobplatform")
    async def tokens_page() -> None:
        user = require_login()
        if user is None:
            return
        with frame("API tokens", services, user):
            if user["role"] not in ADMINISTER:
                ui.label("Only admins manage API tokens.").classes("text-warning")
                return
            with ui.card().classes("w-full q-pa-sm").props("flat bordered"):
                ui.label("New API token").classes("font-semibold")
                with ui.row().classes("items-end gap-2"):
                    name = ui.input("Name").props("dense").mark("token-name")
                    role = (
                        ui.select(list(ROLES), value="operator", label="Role")
                        .props("dense")
                        .classes("w-32")
                        .mark("token-role")
                    )
                    create = (
                        ui.button("Create", icon="key").props("dense no-caps").mark("create-token")
                    )
                shown = ui.column().classes("w-full")
            listing = ui.column().classes("w-full gap-1").mark("token-list")

            async def show() -> None:
                records = await blocking.call(list_api_tokens)
                listing.clear()
                with listing:
                    for record in records:
                        with (
                            ui.row()
                            .classes("w-full items-center gap-2 q-px-sm")
                            .mark(f"token-{record.name}")
                        ):
                            ui.label(record.name).classes("w-48")
                            ui.label(record.role).classes("w-24")
                            ui.label(f"{record.prefix}…").classes("font-mono text-xs")
                            ui.label(f"by {record.created_by}").classes("text-xs opacity-70")
                            ui.space()
                            if record.revoked_at:
                                ui.badge("revoked", color="grey")
                            else:
                                ui.button(
                                    "Revoke", on_click=lambda r=record: revoke(str(r.id))
                                ).props("dense flat no-caps color=negative").mark(
                                    f"revoke-{record.name}"
                                )

            async def add() -> None:
                if not allowed(ADMINISTER, "create API tokens"):
                    return
                if not (name.value or "").strip():
                    ui.notify("Give the token a name that says who uses it.", type="negative")
                    return
                try:
                    _, token = await blocking.call(
                        create_api_token, name.value or "", role.value, user["username"]
                    )
                except AccountError as exc:
                    ui.notify(f"Could not create the token: {exc}", type="negative")
                    return
                shown.clear()
                with shown:
                    ui.label("Copy the token now; it is not shown again:").classes(
                        "text-sm text-warning"
                    )
                    ui.input(value=token).props("readonly dense outlined").classes(
                        "w-full font-mono"
                    ).mark("new-token")
                name.value = ""
                await show()

            async def revoke(token_id: str) -> None:
                if not allowed(ADMINISTER, "revoke API tokens"):
                    return
                try:
                    await blocking.call(revoke_api_token, token_id)
                except AccountError as exc:
                    ui.notify(f"Could not revoke: {exc}", type="negative")
                    return
                ui.notify("Token revoked", type="positive")
                await show()

            create.on_click(add)
            await show()
