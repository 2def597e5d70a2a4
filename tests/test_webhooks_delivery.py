"""Webhook deliveries end to end: real worker processes (the dispatcher runs in each) send
finished jobs' events to real HTTP listeners on loopback. A signed `job.succeeded`
arrives and verifies; a listener answering 500 twice gets the third try, and the
delivery records three; a listener that holds every request unanswered delays neither
the jobs (of its type or others) nor other endpoints' deliveries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobplatform import db
from jobplatform.config import load_settings
from jobplatform.jobs.models import SUCCEEDED
from jobplatform.webhooks.crypto import SecretBox
from jobplatform.webhooks.models import DELIVERED, PENDING, WebhookDelivery, WebhookEndpoint
from jobplatform.webhooks.service import WebhookService
from jobplatform.webhooks.signing import verify
from tests.engine_harness import ROOT, Engine, wait_final
from tests.helpers import wait_until
from tests.webhook_listener import Listener


def plugins_file(tmp: Path, **webhooks: float) -> str:
    """plugins.toml as the project has it, with `[plugins.webhooks.settings]`."""
    settings = "\n".join(f"{key} = {value}" for key, value in webhooks.items())
    path = tmp / f"plugins-{uuid.uuid4().hex[:6]}.toml"
    text = (ROOT / "plugins.toml").read_text()
    path.write_text(f"{text}\n[plugins.webhooks.settings]\n{settings}\n")
    return str(path)


@pytest.fixture(scope="module")
def engine(tmp_path_factory, private_redis, mongo_server, mongo_uri) -> Iterator[Engine]:
    tmp = tmp_path_factory.mktemp("webhooks-engine")
    running = Engine(
        tmp,
        private_redis(),  # queues no other test's worker reads
        f"{mongo_server}engine_webhooks_{uuid.uuid4().hex[:8]}",
    )
    try:
        yield running
    finally:
        running.close()
        db.connect(load_settings(mongo_uri=mongo_uri))


@pytest.fixture
def webhooks(engine) -> Iterator[WebhookService]:
    """The core service on the engine's database; each test's endpoints and workers go
    when it ends (so no endpoint of one test receives another's events)."""
    yield WebhookService(engine.jobs.host, SecretBox(engine.settings.resolved_jwt_secret()))
    engine.stop_workers()
    for endpoint in WebhookEndpoint.objects:
        WebhookService(engine.jobs.host, SecretBox("unused")).delete(str(endpoint.id))


def deliveries_of(endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects(endpoint_id=endpoint.id).order_by("id"))


def test_a_signed_delivery_arrives_for_job_succeeded_and_verifies(engine, webhooks, tmp_path):
    with Listener() as listener:
        endpoint, secret = webhooks.create(
            {"url": listener.url, "events": ["job.succeeded"], "job_types": ["test.noop"]}
        )
        dead_only, _ = webhooks.create({"url": listener.url, "events": ["job.dead"]})
        engine.worker()  # after the endpoints exist: its route cache starts with them
        job = engine.jobs.submit("test.noop", {})
        other = engine.jobs.submit("test.touch", {"path": str(tmp_path / "touched")})
        assert {j.state for j in wait_final([job.id, other.id]).values()} == {SUCCEEDED}

        [request] = listener.wait_for(1)
        assert verify(secret, request.headers, request.body)
        payload = json.loads(request.body)
        assert (
            payload["event"] == "job.succeeded" and payload["id"] == request.headers["Webhook-Id"]
        )
        assert payload["data"]["job_id"] == str(job.id)
        assert payload["data"]["job_type"] == "test.noop" and payload["data"]["attempt"] == 1
        assert request.headers["Content-Type"] == "application/json"

        [delivery] = wait_until(
            lambda: [d for d in deliveries_of(endpoint) if d.state == DELIVERED],
            message="the delivery recorded as delivered",
        )
        assert (delivery.status_code, delivery.attempts, delivery.error) == (200, 1, None)
        assert delivery.latency_ms is not None and delivery.job_id == str(job.id)
        assert deliveries_of(dead_only) == [] and len(listener.received()) == 1


def test_a_listener_answering_500_twice_gets_the_third_try(engine, webhooks):
    fast = plugins_file(engine.tmp, initial_delay=0.2, backoff_factor=2)
    with Listener(statuses=[500, 500, 204]) as listener:
        endpoint, secret = webhooks.create({"url": listener.url, "events": ["job.succeeded"]})
        for _ in range(2):  # two processes dispatch; each try is sent once
            engine.worker(PLUGINS_FILE=fast)
        job = engine.jobs.submit("test.noop", {})
        wait_final([job.id])

        requests = listener.wait_for(3)
        wait_until(
            lambda: deliveries_of(endpoint) and deliveries_of(endpoint)[0].state == DELIVERED,
            message="the delivery recorded as delivered",
        )
        [shown], _ = webhooks.deliveries(str(endpoint.id))
        assert (shown["state"], shown["attempts"], shown["status_code"]) == ("delivered", 3, 204)
        tries = shown["tries"]
        assert [t["number"] for t in tries] == [1, 2, 3]
        assert [t["status_code"] for t in tries] == [500, 500, 204]
        assert tries[0]["error"].startswith("HTTP 500") and tries[2]["error"] is None
        assert tries[0]["next_attempt_at"] and tries[1]["next_attempt_at"]
        assert tries[2]["next_attempt_at"] is None and shown["next_attempt_at"] is None
        assert len(listener.received()) == 3
        assert {r.headers["Webhook-Id"] for r in requests} == {shown["id"]}
        assert all(verify(secret, r.headers, r.body) for r in requests)
        assert all(json.loads(r.body)["data"]["job_id"] == str(job.id) for r in requests)


def test_a_listener_that_never_answers_delays_no_job_and_no_other_endpoint(
    engine, webhooks, tmp_path
):
    # Each try to the silent listener may wait a minute: far longer than the rest takes.
    patient = plugins_file(engine.tmp, timeout=60, concurrency=4)
    with Listener(hold=True) as silent, Listener() as answering:
        held, _ = webhooks.create(
            {"url": silent.url, "events": ["job.succeeded"], "job_types": ["test.touch"]}
        )
        served, secret = webhooks.create(
            {"url": answering.url, "events": ["job.succeeded"], "job_types": ["test.noop"]}
        )
        engine.worker(PLUGINS_FILE=patient)
        touched = [
            engine.jobs.submit("test.touch", {"path": str(tmp_path / f"t{n}")}) for n in range(6)
        ]
        noops = [engine.jobs.submit("test.noop", {}) for _ in range(20)]
        done = wait_final([j.id for j in touched + noops], timeout=45)
        assert {j.state for j in done.values()} == {SUCCEEDED}

        requests = answering.wait_for(20, timeout=45)
        assert sorted(json.loads(r.body)["data"]["job_id"] for r in requests) == sorted(
            str(j.id) for j in noops
        )
        assert all(verify(secret, r.headers, r.body) for r in requests)
        silent.wait_for(1)  # its sends are under way, unanswered
        assert len(silent.received()) <= 2  # one endpoint holds at most half the sends
        waiting = deliveries_of(held)
        assert len(waiting) == len(touched)
        assert {d.state for d in waiting} == {PENDING}
