"""Webhooks (admins only): the endpoints finished jobs' events are POSTed to, signed.

Create one (its secret is shown once, in a dialog), enable or disable it, send a test
ping, rotate its secret, delete it after a confirmation, and read each endpoint's recent
deliveries, each linked to its job (a delivery is a `webhook.deliver` job: the Jobs page
shows its attempts and retries or cancels it). Every change goes through
`WebhookService`, as the API's do, and checks the admin role on the server first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from jobplatform.errors import PlatformError
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.session import ADMINISTER, allowed, require_login
from jobplatform.ui.shell import frame
from jobplatform.webhooks.crypto import SecretBox
from jobplatform.webhooks.models import EVENTS, WebhookEndpoint
from jobplatform.webhooks.service import InvalidWebhook, WebhookService

REFRESH_SECONDS = 3.0
RECENT_DELIVERIES = 10
STATE_COLOURS = {"succeeded": "positive", "dead": "negative", "cancelled": "grey"}  # else warning


def _listing(service: WebhookService) -> list[tuple[WebhookEndpoint, list[dict[str, Any]]]]:
    return [
        (endpoint, service.deliveries(str(endpoint.id), RECENT_DELIVERIES)[0])
        for endpoint in service.list()
    ]


async def _change(action: str, function: Callable, *args) -> tuple[bool, Any]:
    """Run a webhook change for an admin; report a refusal. Whether it was done, and
    what the change answered."""
    if not allowed(ADMINISTER, action):
        return False, None
    try:
        return True, await blocking.call(function, *args)
    except PlatformError as exc:
        ui.notify(f"Could not {action.split()[0]}: {exc.message}", type="negative")
        return False, None


def _show_secret(title: str, secret: str) -> None:
    with ui.dialog() as dialog, ui.card().classes("min-w-96"):
        ui.label(title).classes("font-semibold")
        ui.label("Copy the secret now; it is not shown again.").classes("text-sm text-warning")
        ui.input(value=secret).props("readonly dense outlined").classes("w-full font-mono").mark(
            "new-secret"
        )
        ui.button("Done", on_click=dialog.close).props("flat").mark("secret-done")
    dialog.open()


def _delivery_row(delivery: dict[str, Any]) -> None:
    key = delivery["id"]
    with ui.row().classes("w-full items-center gap-3 text-sm").mark(f"delivery-{key}"):
        ui.badge(delivery["state"], color=STATE_COLOURS.get(delivery["state"], "warning"))
        ui.label(delivery["event"]).classes("font-mono")
        ui.link("delivery job", f"/jobs?job={key}").mark(f"delivery-job-{key}")
        if delivery["job_id"]:
            ui.label("of")
            ui.link(delivery["job_id"], f"/jobs?job={delivery['job_id']}").classes("font-mono")
        ui.label(f"attempt {delivery['attempt_count']} of {delivery['max_attempts']}")
        if delivery["status_code"] is not None:
            ui.label(f"HTTP {delivery['status_code']}")
        if delivery["latency_ms"] is not None:
            ui.label(f"{delivery['latency_ms']:.0f} ms")
        if delivery["next_attempt_at"]:
            ui.label(f"next attempt {delivery['next_attempt_at']}").classes("opacity-70")
        if delivery["error"]:
            ui.label(delivery["error"]).classes("text-negative")
        ui.label(delivery["created_at"] or "").classes("opacity-60")


class WebhookList:
    """The endpoints with their recent deliveries, and the actions on each."""

    def __init__(self, service: WebhookService):
        self.service = service
        self.listing = ui.column().classes("w-full gap-1").mark("webhook-list")
        self.empty = ui.label("No webhooks yet.").classes("opacity-70")
        self.seen: list | None = None

    async def show(self, force: bool = False) -> None:
        rows = await blocking.call(_listing, self.service)
        signature = [(e.describe(), deliveries) for e, deliveries in rows]
        if not force and signature == self.seen:
            return  # unchanged: keep the elements the user may be clicking
        self.seen = signature
        self.listing.clear()
        self.empty.visible = not rows
        with self.listing:
            for endpoint, deliveries in rows:
                self._card(endpoint, deliveries)

    def _card(self, endpoint: WebhookEndpoint, deliveries: list[dict]) -> None:
        key = str(endpoint.id)
        with ui.card().props("flat bordered").classes("w-full q-pa-sm").mark(f"webhook-{key}"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(endpoint.url).classes("font-mono font-semibold")
                ui.label(", ".join(endpoint.events)).classes("text-sm")
                ui.label(", ".join(endpoint.job_types) or "every job type").classes(
                    "text-sm opacity-80"
                )
                ui.space()
                ui.switch(
                    "Enabled",
                    value=endpoint.enabled,
                    on_change=lambda e: self.set_enabled(endpoint, e.value),
                ).mark(f"toggle-{key}")
                for label, action, marker in (
                    ("Test", self.ping, "ping"),
                    ("Rotate secret", self.rotate, "rotate"),
                ):
                    ui.button(label, on_click=lambda a=action: a(key)).props(
                        "dense flat no-caps"
                    ).mark(f"{marker}-{key}")
                ui.button(icon="delete", on_click=lambda: self.confirm_delete(endpoint)).props(
                    "flat dense round color=negative"
                ).tooltip("Delete").mark(f"delete-{key}")
            if endpoint.description:
                ui.label(endpoint.description).classes("text-sm opacity-80")
            ui.label(f"Secret {endpoint.secret_hint}…").classes("text-xs font-mono opacity-60")
            with (
                ui.expansion(f"Recent deliveries ({len(deliveries)})")
                .classes("w-full")
                .mark(f"deliveries-{key}")
            ):
                for delivery in deliveries:
                    _delivery_row(delivery)
                if not deliveries:
                    ui.label("None yet.").classes("opacity-70 text-sm")

    async def set_enabled(self, endpoint: WebhookEndpoint, enabled: bool) -> None:
        if enabled == endpoint.enabled:
            return
        verb = "enable" if enabled else "disable"
        changes = {"enabled": enabled}
        done, _ = await _change(f"{verb} webhooks", self.service.update, str(endpoint.id), changes)
        if done:
            ui.notify(f"Webhook {endpoint.url} {verb}d", type="positive")
        await self.show(force=True)

    async def ping(self, endpoint_id: str) -> None:
        done, delivery = await _change("test webhooks", self.service.ping, endpoint_id)
        if done:
            ui.notify(f"Test delivery queued as job {delivery['id']}", type="positive")
            await self.show(force=True)

    async def rotate(self, endpoint_id: str) -> None:
        done, rotated = await _change(
            "rotate webhook secrets", self.service.rotate_secret, endpoint_id
        )
        if done:
            _show_secret("New secret", rotated[1])
            await self.show(force=True)

    def confirm_delete(self, endpoint: WebhookEndpoint) -> None:
        with ui.dialog() as dialog, ui.card():
            ui.label(f"Delete the webhook to {endpoint.url}?")
            ui.label("Its waiting deliveries are cancelled; their jobs stay in Jobs.").classes(
                "text-sm opacity-80"
            )

            async def delete() -> None:
                dialog.close()
                done, _ = await _change("delete webhooks", self.service.delete, str(endpoint.id))
                if done:
                    ui.notify(f"Webhook {endpoint.url} deleted", type="positive")
                await self.show(force=True)

            with ui.row():
                ui.button("Delete", on_click=delete).props("color=negative").mark("delete-confirm")
                ui.button("Cancel", on_click=dialog.close).props("flat")
        dialog.open()


def register(services: Services) -> None:
    @ui.page("/webhooks", title="Webhooks · jobplatform")
    async def webhooks_page() -> None:
        user = require_login()
        if user is None:
            return
        service = WebhookService(services.host, SecretBox(services.jwt_secret), services.jobs)
        with frame("Webhooks", services, user):
            if user["role"] not in ADMINISTER:
                ui.label("Only admins manage webhooks.").classes("text-warning")
                return
            _create_card(service, user, lambda: endpoints.show(force=True))
            endpoints = WebhookList(service)
            await endpoints.show(force=True)
            ui.timer(REFRESH_SECONDS, endpoints.show)


def _create_card(service: WebhookService, user: dict, done: Callable) -> None:
    with ui.card().classes("w-full max-w-3xl q-pa-md").props("flat bordered"):
        ui.label("New webhook").classes("font-semibold")
        url = ui.input("URL *", placeholder="https://example.com/hooks").classes("w-full")
        url.mark("webhook-url")
        events = (
            ui.select(
                list(EVENTS), value=["job.succeeded", "job.dead"], multiple=True, label="Events"
            )
            .classes("w-full")
            .mark("webhook-events")
        )
        job_types = (
            ui.select(
                sorted(service.host.job_types),
                value=[],
                multiple=True,
                label="Job types (none: every type)",
            )
            .classes("w-full")
            .mark("webhook-job-types")
        )
        description = ui.input("Description").classes("w-full").mark("webhook-description")
        problems = ui.label("").classes("text-negative text-sm").mark("webhook-problems")
        create = ui.button("Create webhook", icon="webhook").mark("create-webhook")
    inputs = {"url": url, "events": events, "job_types": job_types, "description": description}

    async def submit() -> None:
        if not allowed(ADMINISTER, "create webhooks"):
            return
        for element in inputs.values():
            element.error = None
        problems.text = ""
        fields = {
            "url": url.value or "",
            "events": list(events.value or []),
            "job_types": list(job_types.value or []),
            "description": description.value or "",
        }
        try:
            endpoint, secret = await blocking.call(
                service.create, fields, created_by=user["username"]
            )
        except InvalidWebhook as exc:
            for field, messages in (exc.details or {}).items():
                if field in inputs:
                    inputs[field].error = str(messages[0])
            problems.text = exc.message
            return
        ui.notify(f"Webhook {endpoint.url} created", type="positive")
        _show_secret(f"Secret of {endpoint.url}", secret)
        url.value = description.value = ""
        await done()

    create.on_click(submit)
