"""The Webhooks page through NiceGUI's simulated `User`, against the real app, FerretDB,
Redis, a real worker process serving the `webhooks` queue and a real HTTP listener on
loopback: admins only (in the navigation and on the server), create with the secret shown
once in a dialog and stored encrypted, errors next to their fields with nothing stored,
enable/disable, a test ping that a worker delivers, delete after a confirmation, and each
endpoint's recent deliveries, linked to their jobs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from bson import ObjectId
from nicegui.testing import User

from jobplatform.auth.sessions import set_sessions_role
from jobplatform.config import load_settings
from jobplatform.jobs.models import DEAD, SUCCEEDED, Attempt, Job, utcnow
from jobplatform.services import build_services
from jobplatform.webhooks.crypto import SecretBox
from jobplatform.webhooks.delivery import DELIVER, QUEUE, delivery_request, made_by
from jobplatform.webhooks.models import WebhookEndpoint
from jobplatform.webhooks.service import WebhookService
from tests.conftest import JWT_SECRET
from tests.engine_harness import WorkerProcess
from tests.helpers import eventually
from tests.ui.test_ui_pages import account, log_in
from tests.webhook_listener import Listener


@pytest.fixture(scope="module")
def webhooks_worker(ui_env, tmp_path_factory) -> Iterator[WorkerProcess]:
    """A worker process serving the `webhooks` queue of the UI tests' app."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    log = tmp_path_factory.mktemp("ui-webhooks") / "worker.log"
    worker = WorkerProcess({**env, "PYTHONUNBUFFERED": "1"}, log, ["--queues", QUEUE])
    yield worker
    worker.stop()


def webhooks() -> WebhookService:
    services = build_services(load_settings())
    return WebhookService(services.host, SecretBox(JWT_SECRET), services.jobs)


def stored(**fields) -> WebhookEndpoint:
    url = f"https://hooks.example.com/{uuid.uuid4().hex[:8]}"
    endpoint, _ = webhooks().create({"url": url, "events": ["job.dead"], **fields})
    return endpoint


def element(user: User, marker: str):
    [found] = user.find(marker=marker).elements
    return found


async def test_a_viewer_has_no_webhooks_page(user: User) -> None:
    await log_in(user, account("vera", "viewer"))
    await user.should_not_see("Webhooks")
    await user.open("/webhooks")
    await user.should_see("Only admins manage webhooks.", retries=50)
    await user.should_not_see(marker="create-webhook")


async def test_an_admin_finds_webhooks_in_the_navigation(user: User) -> None:
    await log_in(user, account("ada", "admin"))
    user.find("Webhooks").click()
    await user.should_see("New webhook", retries=50)


async def test_an_admin_creates_a_webhook_and_sees_its_secret_once(user: User) -> None:
    await log_in(user, account("alma", "admin"))
    url = f"https://hooks.example.com/{uuid.uuid4().hex[:8]}"
    await user.open("/webhooks")
    user.find(marker="webhook-url").type(url)
    element(user, "webhook-events").value = ["job.succeeded", "job.cancelled"]
    element(user, "webhook-job-types").value = ["sendEmail"]
    user.find(marker="webhook-description").type("billing")
    user.find(marker="create-webhook").click()
    await user.should_see(f"Webhook {url} created", retries=50)

    endpoint = WebhookEndpoint.objects.get(url=url)
    assert (endpoint.events, endpoint.job_types) == (
        ["job.succeeded", "job.cancelled"],
        ["sendEmail"],
    )
    assert endpoint.created_by == "alma" and endpoint.description == "billing"
    shown = element(user, "new-secret").value
    assert shown.startswith("whsec_") and shown not in endpoint.sealed_secret
    assert SecretBox(JWT_SECRET).open(endpoint.sealed_secret) == shown

    user.find(marker="secret-done").click()
    await user.should_see(marker=f"webhook-{endpoint.id}", retries=50)
    await user.should_see(f"Secret {endpoint.secret_hint}…")
    await user.open("/webhooks")  # the secret is never on the page again
    await user.should_see(marker=f"webhook-{endpoint.id}", retries=50)
    await user.should_not_see(shown)


async def test_bad_input_shows_errors_next_to_the_fields_and_stores_nothing(user: User) -> None:
    await log_in(user, account("abel", "admin"))
    await user.open("/webhooks")
    before = WebhookEndpoint.objects.count()
    user.find(marker="webhook-url").type("ftp://files.example.com/in")
    element(user, "webhook-events").value = []
    user.find(marker="create-webhook").click()
    await user.should_see("the webhook is invalid; nothing was stored", retries=50)
    assert "http:// or https://" in element(user, "webhook-url").error
    assert "one or more of job.succeeded" in element(user, "webhook-events").error
    assert WebhookEndpoint.objects.count() == before
    await user.should_not_see(marker="new-secret")


async def test_disable_enable_ping_and_delete(user: User, webhooks_worker) -> None:
    with Listener() as listener:
        endpoint, secret = webhooks().create({"url": listener.url, "events": ["job.dead"]})
        key = str(endpoint.id)
        await log_in(user, account("anke", "admin"))
        await user.open("/webhooks")
        await user.should_see(marker=f"toggle-{key}", retries=50)
        user.find(marker=f"toggle-{key}").click()
        await user.should_see(f"Webhook {listener.url} disabled", retries=50)
        assert not WebhookEndpoint.objects.get(id=endpoint.id).enabled
        user.find(marker=f"toggle-{key}").click()
        await user.should_see(f"Webhook {listener.url} enabled", retries=50)
        assert WebhookEndpoint.objects.get(id=endpoint.id).enabled

        user.find(marker=f"ping-{key}").click()
        await user.should_see("Test delivery queued as job", retries=50)
        [delivery] = Job.objects(created_by=made_by(endpoint.id))
        await eventually(
            lambda: Job.objects.get(id=delivery.id).state == SUCCEEDED,
            timeout=30,
            message="the worker to deliver the ping",
        )
        [request] = listener.received()
        assert request.headers["Webhook-Id"] == str(delivery.id)
        await user.open("/webhooks")
        await user.should_see("Recent deliveries (1)", retries=50)
        user.find(marker=f"deliveries-{key}").click()
        await user.should_see(marker=f"delivery-{delivery.id}", retries=50)
        await user.should_see("HTTP 200")
        await user.should_see("attempt 1 of 1")

        user.find(marker=f"delete-{key}").click()
        await user.should_see(f"Delete the webhook to {listener.url}?")
        user.find(marker="delete-confirm").click()
        await user.should_see(f"Webhook {listener.url} deleted", retries=50)
        assert WebhookEndpoint.objects(id=endpoint.id).count() == 0
        assert Job.objects.get(id=delivery.id).state == SUCCEEDED  # its history stays
        await user.should_not_see(marker=f"webhook-{key}", retries=50)


def dead_delivery(endpoint: WebhookEndpoint, job_id: str) -> Job:
    """A delivery job of `job_id`'s event as a worker leaves it after its last attempt."""
    request = delivery_request(endpoint.id, "job.dead", {"job_id": job_id, "job_type": "x"})
    error = "HTTP 503 in 12.5 ms: try later"
    now, delivery_id = utcnow(), ObjectId()
    job = Job(
        id=delivery_id,
        type=DELIVER,
        data=request["data"],
        state=DEAD,
        queue=QUEUE,
        max_attempts=5,
        attempt_count=5,
        attempts=[
            Attempt(number=n, outcome="failed", error_type="EndpointRefused", error_message=error)
            for n in range(1, 6)
        ],
        error=f"EndpointRefused: {error}",
        idempotency_key=f"job:{delivery_id}",
        created_by=request["created_by"],
        created_at=now,
        finished_at=now,
    )
    job.save(force_insert=True)
    return job


async def test_each_endpoint_shows_its_recent_deliveries_linked_to_their_jobs(
    user: User,
) -> None:
    endpoint = stored()
    job_id = "6650f1c2aaaaaaaaaaaaaaaa"
    delivery = dead_delivery(endpoint, job_id)
    await log_in(user, account("arne", "admin"))
    await user.open("/webhooks")
    await user.should_see(marker=f"deliveries-{endpoint.id}", retries=50)
    user.find(marker=f"deliveries-{endpoint.id}").click()
    await user.should_see(marker=f"delivery-{delivery.id}", retries=50)
    await user.should_see("EndpointRefused: HTTP 503 in 12.5 ms: try later")
    await user.should_see("attempt 5 of 5")
    await user.should_see("HTTP 503")
    [link] = user.find(marker=f"delivery-job-{delivery.id}").elements
    assert link.props["href"] == f"/jobs?job={delivery.id}"
    [link] = [e for e in user.find(job_id).elements if e.props.get("href")]
    assert link.props["href"] == f"/jobs?job={job_id}"


async def test_a_demoted_admin_is_refused_changes_on_the_server(user: User) -> None:
    endpoint = stored()
    await log_in(user, account("anton", "admin"))
    await user.open("/webhooks")
    await user.should_see(marker=f"toggle-{endpoint.id}", retries=50)
    set_sessions_role("anton", "operator")  # the page stays open with its buttons
    user.find(marker=f"toggle-{endpoint.id}").click()
    await user.should_see("Refused: role 'operator' may not disable webhooks", retries=50)
    user.find(marker=f"delete-{endpoint.id}").click()
    user.find(marker="delete-confirm").click()
    await user.should_see("Refused: role 'operator' may not delete webhooks", retries=50)
    stays = WebhookEndpoint.objects.get(id=endpoint.id)
    assert stays.enabled
    await eventually(lambda: WebhookEndpoint.objects(id=endpoint.id).count() == 1)
