"""Webhook deliveries end to end: real worker processes run the `webhook.deliver` jobs
that finished jobs' events become, against real HTTP listeners on loopback. A signed
`job.succeeded` arrives and verifies; a delivery's own events deliver nothing; a listener
answering 500 twice gets the third attempt, and the delivery job records three; a
listener that holds every request unanswered delays neither the jobs (of its type or
others) nor other endpoints' deliveries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobplatform import db
from jobplatform.config import load_settings
from jobplatform.jobs.models import FINAL, SUCCEEDED, Job
from jobplatform.jobs.workflows import submit_workflow
from jobplatform.webhooks.crypto import SecretBox
from jobplatform.webhooks.delivery import DELIVER, QUEUE, made_by
from jobplatform.webhooks.models import WebhookEndpoint
from jobplatform.webhooks.service import WebhookService
from jobplatform.webhooks.signing import verify
from tests.engine_harness import ROOT, Engine, wait_final
from tests.helpers import wait_until
from tests.webhook_listener import Listener

QUEUES = ("--queues", f"tests,{QUEUE}")


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
    box = SecretBox(engine.settings.resolved_jwt_secret())
    service = WebhookService(engine.jobs.host, box, engine.jobs)
    yield service
    engine.stop_workers()
    for endpoint in WebhookEndpoint.objects:
        service.delete(str(endpoint.id))


def deliveries_of(endpoint: WebhookEndpoint) -> list[Job]:
    return list(Job.objects(created_by=made_by(endpoint.id)).order_by("id"))


def final_deliveries(endpoint: WebhookEndpoint, count: int) -> list[Job]:
    return wait_until(
        lambda: (
            (found := deliveries_of(endpoint))
            and len(found) >= count
            and all(j.state in FINAL for j in found)
            and found
        ),
        message=f"{count} final deliveries to {endpoint.url}",
    )


def test_a_signed_delivery_arrives_for_job_succeeded_and_verifies(engine, webhooks, tmp_path):
    with Listener() as listener, Listener() as every_type:
        endpoint, secret = webhooks.create(
            {"url": listener.url, "events": ["job.succeeded"], "job_types": ["test.noop"]}
        )
        dead_only, _ = webhooks.create({"url": listener.url, "events": ["job.dead"]})
        everything, _ = webhooks.create({"url": every_type.url, "events": ["job.succeeded"]})
        engine.worker(*QUEUES)  # after the endpoints exist: its route cache starts with them
        job = engine.jobs.submit("test.noop", {})
        other = engine.jobs.submit("test.touch", {"path": str(tmp_path / "touched")})
        assert {j.state for j in wait_final([job.id, other.id]).values()} == {SUCCEEDED}

        [request] = listener.wait_for(1)
        assert verify(secret, request.headers, request.body)
        payload = json.loads(request.body)
        assert payload["event"] == "job.succeeded"
        assert payload["data"]["job_id"] == str(job.id)
        assert payload["data"]["job_type"] == "test.noop" and payload["data"]["attempt"] == 1
        assert request.headers["Content-Type"] == "application/json"

        [delivery] = final_deliveries(endpoint, 1)
        assert (delivery.type, delivery.queue, delivery.state) == (DELIVER, QUEUE, SUCCEEDED)
        assert payload["id"] == request.headers["Webhook-Id"] == str(delivery.id)
        [shown], _ = webhooks.deliveries(str(endpoint.id))
        assert (shown["state"], shown["status_code"], shown["error"]) == (SUCCEEDED, 200, None)
        assert shown["job_id"] == str(job.id) and shown["latency_ms"] >= 0
        assert [a["number"] for a in shown["attempts"]] == [1]
        assert deliveries_of(dead_only) == [] and len(listener.received()) == 1

        # The endpoint for every job type gets both jobs' events, and none of the
        # delivery jobs' own: a third job's delivery comes after theirs would have.
        last = engine.jobs.submit("test.noop", {})
        delivered = final_deliveries(everything, 3)
        reported = {j.data["payload"]["job_id"]: j.data["payload"]["job_type"] for j in delivered}
        assert reported == {
            str(job.id): "test.noop",
            str(other.id): "test.touch",
            str(last.id): "test.noop",
        }
        assert len(deliveries_of(everything)) == 3 and len(every_type.received()) == 3


def test_a_listener_answering_500_twice_gets_the_third_attempt(engine, webhooks):
    fast = plugins_file(engine.tmp, initial_delay=0.2, backoff_factor=2)
    with Listener(statuses=[500, 500, 204]) as listener:
        endpoint, secret = webhooks.create({"url": listener.url, "events": ["job.succeeded"]})
        for _ in range(2):  # two processes serve the queue; each attempt is sent once
            engine.worker(*QUEUES, PLUGINS_FILE=fast)
        job = engine.jobs.submit("test.noop", {})
        wait_final([job.id])

        requests = listener.wait_for(3)
        [delivery] = final_deliveries(endpoint, 1)
        assert (delivery.state, delivery.attempt_count) == (SUCCEEDED, 3)
        assert [a.outcome for a in delivery.attempts] == ["failed", "failed", "succeeded"]
        assert [a.error_type for a in delivery.attempts] == ["EndpointRefused"] * 2 + [None]
        [shown], _ = webhooks.deliveries(str(endpoint.id))
        assert (shown["state"], shown["attempt_count"], shown["status_code"]) == (
            SUCCEEDED,
            3,
            204,
        )
        attempts = shown["attempts"]
        assert [a["number"] for a in attempts] == [1, 2, 3]
        assert [a["status_code"] for a in attempts] == [500, 500, 204]
        assert all(a["latency_ms"] is not None for a in attempts)
        assert attempts[0]["error"].startswith("EndpointRefused: HTTP 500 in ")
        assert attempts[0]["retry_delay"] and attempts[1]["retry_delay"]
        assert attempts[2]["error"] is None and attempts[2]["retry_delay"] is None
        assert shown["next_attempt_at"] is None and shown["error"] is None
        assert len(listener.received()) == 3
        assert {r.headers["Webhook-Id"] for r in requests} == {shown["id"]}
        assert len({r.body for r in requests}) == 1  # the same body on every attempt
        assert all(verify(secret, r.headers, r.body) for r in requests)
        assert all(json.loads(r.body)["data"]["job_id"] == str(job.id) for r in requests)


def test_a_listener_that_never_answers_delays_no_job_and_no_other_endpoint(
    engine, webhooks, tmp_path
):
    # Each send to the silent listener may wait a minute: far longer than the rest takes.
    patient = plugins_file(engine.tmp, timeout=60, per_endpoint=2)
    with Listener(hold=True) as silent, Listener() as answering:
        held, _ = webhooks.create(
            {"url": silent.url, "events": ["job.succeeded"], "job_types": ["test.touch"]}
        )
        served, secret = webhooks.create(
            {"url": answering.url, "events": ["job.succeeded"], "job_types": ["test.noop"]}
        )
        engine.worker(*QUEUES, PLUGINS_FILE=patient)  # 4 threads a queue
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
        assert {j.state for j in final_deliveries(served, 20)} == {SUCCEEDED}
        silent.wait_for(1)  # its sends are under way, unanswered
        assert len(silent.received()) <= 2  # one endpoint holds at most per_endpoint threads
        waiting = deliveries_of(held)
        assert len(waiting) == len(touched)
        assert SUCCEEDED not in {d.state for d in waiting}


def test_a_workflows_end_is_delivered_each_time_it_ends(engine, webhooks):
    """`workflow.finished` goes to the endpoints that want it, whatever job types they
    filter on; a workflow that fails and, after a retry of its dead step, succeeds is
    delivered twice, once for each end."""
    with Listener() as listener:
        endpoint, secret = webhooks.create(
            {"url": listener.url, "events": ["workflow.finished"], "job_types": ["test.noop"]}
        )
        jobs_only, _ = webhooks.create({"url": listener.url, "events": ["job.dead"]})
        engine.worker(*QUEUES)
        graph = [
            {"key": "a", "name": "test.step", "data": {"tag": "a"}},
            {
                "key": "b",
                "name": "test.step",
                "data": {"tag": "b", "fail_times": 1},
                "after": ["a"],
                "max_attempts": 1,
            },
        ]
        workflow = submit_workflow(engine.jobs, "hooked", graph)

        [failed] = final_deliveries(endpoint, 1)
        [request] = [r for r in listener.wait_for(2) if b"workflow.finished" in r.body]
        assert verify(secret, request.headers, request.body)
        sent = json.loads(request.body)
        assert sent["id"] == str(failed.id) and sent["event"] == "workflow.finished"
        assert {k: sent["data"][k] for k in ("workflow_id", "workflow_name", "state")} == {
            "workflow_id": str(workflow.id),
            "workflow_name": "hooked",
            "state": "failed",
        }
        assert len(final_deliveries(jobs_only, 1)) == 1  # b's death, not the workflow's end

        dead = Job.objects.get(workflow_id=workflow.id, step_key="b")
        engine.jobs.retry(str(dead.id))
        delivered = final_deliveries(endpoint, 2)
        assert [d.data["payload"]["state"] for d in delivered] == ["failed", "succeeded"]
        assert {d.state for d in delivered} == {SUCCEEDED}
        assert len(deliveries_of(jobs_only)) == 1
