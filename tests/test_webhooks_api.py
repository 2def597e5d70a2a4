"""/api/webhooks in-process (real FerretDB and Redis, a real worker process serving the
`webhooks` queue, a real HTTP listener on loopback): create with the secret shown once and
never readable again; a ping is a `webhook.deliver` job, listed in /api/jobs and in the
endpoint's deliveries with its attempt; rotate; delete cancels the waiting deliveries and
keeps their history; bad input 422 and other roles 403 with nothing changed; a job
cancelled through the API becomes one delivery job however often its event is reported;
a delivery job submitted by hand is refused unsent; an event no endpoint wants costs no
MongoDB command."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from jobplatform import db
from jobplatform.config import load_settings
from jobplatform.db import COMMANDS
from jobplatform.jobs.models import CANCELLED, DEAD, FINAL, RETRYING, SUCCEEDED, Job, utcnow
from jobplatform.web import create_app
from jobplatform.webhooks.delivery import DELIVER, QUEUE, made_by
from jobplatform.webhooks.models import WebhookEndpoint
from jobplatform.webhooks.routing import ROUTES, event_deliveries
from jobplatform.webhooks.signing import verify
from tests.api_app import JWT_SECRET, bearer, login, new_user
from tests.conftest import ADMIN_PASSWORD, ROOT
from tests.engine_harness import WorkerProcess
from tests.helpers import wait_until
from tests.webhook_listener import Listener

EMAIL = {"recipient": "a@example.com", "subject": "Hello"}
CLOSED = "http://127.0.0.1:9/closed"  # nothing listens on port 9


@pytest.fixture(scope="module")
def app(private_redis, mongo_server, mongo_uri, tmp_path_factory) -> Iterator[TestClient]:
    """The web app on a database of its own and a Redis database of its own, and a worker
    process serving the `webhooks` queue there (it sends the deliveries)."""
    tmp = tmp_path_factory.mktemp("webhooks-api")
    mongo, redis = f"{mongo_server}jp_webhooks_api_{uuid.uuid4().hex[:8]}", private_redis()
    settings = load_settings(
        mongo_uri=mongo,
        redis_uri=redis,
        jwt_secret=JWT_SECRET,
        admin_password=ADMIN_PASSWORD,
        data_dir=tmp,
        plugins_file=ROOT / "plugins.toml",
        app_env="test",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "TEST_"))}
    env.update(
        APP_ENV="test",
        MONGO_URI=mongo,
        REDIS_URI=redis,
        JWT_SECRET=JWT_SECRET,
        DATA_DIR=str(tmp),
        PLUGINS_FILE=str(ROOT / "plugins.toml"),
        PYTHONUNBUFFERED="1",
    )
    with TestClient(create_app(settings)) as client:
        worker = WorkerProcess(env, tmp / "worker.log", ["--queues", QUEUE])
        client.headers.update(bearer(login(client, "admin", ADMIN_PASSWORD)["access_token"]))
        yield client
        worker.stop()
    client.app.state.services.jobs.stats.close()
    db.connect(load_settings(mongo_uri=mongo_uri))


@pytest.fixture
def listener():
    with Listener() as running:
        yield running


def create(app, **fields) -> dict:
    body = {"url": CLOSED, "events": ["job.succeeded"], **fields}
    response = app.post("/api/webhooks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def stored() -> list[dict]:
    return list(WebhookEndpoint.objects.order_by("id").as_pymongo())


def deliveries(app, endpoint: dict, **params) -> dict:
    response = app.get(f"/api/webhooks/{endpoint['id']}/deliveries", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def ping(app, endpoint: dict) -> dict:
    response = app.post(f"/api/webhooks/{endpoint['id']}/test")
    assert response.status_code == 202, response.text
    return response.json()


def settled(app, endpoint: dict, delivery_id: str, states=FINAL) -> dict:
    """The endpoint's delivery once its job is in one of `states`."""
    return wait_until(
        lambda: next(
            (
                d
                for d in deliveries(app, endpoint)["deliveries"]
                if d["id"] == delivery_id and d["state"] in states
            ),
            None,
        ),
        message=f"delivery {delivery_id} in {states}",
    )


def test_the_secret_is_answered_once_and_stored_encrypted(app):
    created = create(app, job_types=["sendEmail"], description="billing")
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert created["secret_hint"] == secret[:10] + "…"
    assert (created["events"], created["job_types"]) == (["job.succeeded"], ["sendEmail"])
    assert created["enabled"] and created["created_by"] == "admin"

    for answer in (
        app.get(f"/api/webhooks/{created['id']}").json(),
        *app.get("/api/webhooks").json()["webhooks"],
        app.patch(f"/api/webhooks/{created['id']}", json={"description": "x"}).json(),
    ):
        assert "secret" not in answer and secret not in json.dumps(answer)
    [document] = [d for d in stored() if str(d["_id"]) == created["id"]]
    assert secret not in json.dumps(document, default=str)
    assert secret[6:] not in json.dumps(document, default=str)


def test_a_ping_is_a_delivery_job_that_arrives_signed_and_is_recorded(app, listener):
    created = create(app, url=listener.url)
    queued = ping(app, created)
    assert (queued["event"], queued["state"], queued["job_id"]) == ("ping", "queued", None)
    assert (queued["attempt_count"], queued["max_attempts"], queued["attempts"]) == (0, 1, [])

    [request] = listener.wait_for(1)
    assert verify(created["secret"], request.headers, request.body)
    assert request.headers["Webhook-Id"] == queued["id"]
    assert json.loads(request.body)["data"]["webhook_id"] == created["id"]
    shown = settled(app, created, queued["id"])
    assert (shown["state"], shown["status_code"], shown["error"]) == (SUCCEEDED, 200, None)
    [attempt] = shown["attempts"]
    assert (attempt["number"], attempt["outcome"], attempt["status_code"]) == (1, SUCCEEDED, 200)
    assert attempt["latency_ms"] >= 0 and attempt["retry_delay"] is None
    assert deliveries(app, created)["next_cursor"] is None

    job = app.get(f"/api/jobs/{queued['id']}").json()
    assert (job["name"], job["queue"], job["state"]) == (DELIVER, QUEUE, SUCCEEDED)
    assert job["created_by"] == f"webhook:{created['id']}" and job["result"]["status_code"] == 200
    listed = app.get("/api/jobs", params={"name": DELIVER}).json()["jobs"]
    assert queued["id"] in [j["id"] for j in listed]


def test_a_failed_ping_names_the_reason(app, listener):
    created = create(app, url=CLOSED)
    shown = settled(app, created, ping(app, created)["id"])
    assert shown["state"] == DEAD and shown["attempt_count"] == 1
    [attempt] = shown["attempts"]
    assert attempt["error"].startswith("NoAnswer: no answer after ")
    assert "ConnectError" in attempt["error"] and attempt["status_code"] is None

    app.patch(f"/api/webhooks/{created['id']}", json={"url": listener.url, "enabled": False})
    shown = settled(app, created, ping(app, created)["id"])
    assert shown["state"] == DEAD and shown["error"] == "NotSent: the endpoint is disabled"
    assert listener.received() == []


BAD_INPUT = [
    ({"url": "ftp://example.com/hooks"}, "url", "http:// or https://"),
    ({"url": "javascript:alert(1)"}, "url", "http:// or https://"),
    ({"url": "http:///no-host"}, "url", "has no host"),
    ({"url": "http://exa mple.com/"}, "url", "without spaces"),
    ({"url": "http://example.com:99999/"}, "url", "not a valid URL"),
    ({"events": ["job.exploded"]}, "events", "unknown event 'job.exploded'"),
    ({"events": []}, "events", "one or more of job.succeeded"),
    ({"job_types": ["noSuchType"]}, "job_types", "unknown job type 'noSuchType'"),
    ({"description": "a\x00b"}, "description", "control characters"),
    ({"secret": "mine"}, "secret", "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("fields", "field", "message"), BAD_INPUT)
def test_bad_input_is_refused_and_nothing_changes(app, fields, field, message):
    endpoint = create(app)
    before = stored()
    body = {"url": "https://example.com/hooks", "events": ["job.dead"], **fields}
    for response in (
        app.post("/api/webhooks", json=body),
        app.patch(f"/api/webhooks/{endpoint['id']}", json=fields),
    ):
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_failed"
        assert any(message in m for m in error["details"][field]), error
    assert stored() == before


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_only_admins_reach_webhooks(app, role):
    endpoint = create(app)
    username, password = new_user(app, app.headers["Authorization"].split()[1], role)
    other = bearer(login(app, username, password)["access_token"])
    before = stored()
    base = f"/api/webhooks/{endpoint['id']}"
    for method, path, body in [
        ("GET", "/api/webhooks", None),
        ("POST", "/api/webhooks", {"url": "https://example.com/", "events": ["job.dead"]}),
        ("GET", base, None),
        ("PATCH", base, {"enabled": False}),
        ("DELETE", base, None),
        ("POST", f"{base}/rotate-secret", None),
        ("GET", f"{base}/deliveries", None),
        ("POST", f"{base}/test", None),
    ]:
        response = app.request(method, path, json=body, headers=other)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "forbidden"
        assert "secret" not in response.text
    assert stored() == before
    assert Job.objects(created_by=made_by(endpoint["id"])).count() == 0


def test_rotating_the_secret_signs_with_the_new_one_only(app, listener):
    created = create(app, url=listener.url)
    rotated = app.post(f"/api/webhooks/{created['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    secret = rotated.json()["secret"]
    assert secret != created["secret"] and rotated.json()["secret_rotated_at"]
    ping(app, created)
    [request] = listener.wait_for(1)
    assert verify(secret, request.headers, request.body)
    assert not verify(created["secret"], request.headers, request.body)


def cancelled_email(app) -> dict:
    """A sendEmail job submitted for later and cancelled through the API: its
    `job.cancelled` event is reported in this process."""
    job = app.post("/api/jobs", json={"name": "sendEmail", "data": EMAIL, "delay": 3600}).json()
    assert app.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    return job


def test_delete_cancels_the_waiting_deliveries_and_keeps_their_history(app, listener):
    created = create(app, url=CLOSED, events=["job.cancelled"], job_types=["sendEmail"])
    cancelled_email(app)
    [waiting] = deliveries(app, created)["deliveries"]
    settled(app, created, waiting["id"], states=(RETRYING,))  # its first attempt failed
    assert app.delete(f"/api/webhooks/{created['id']}").status_code == 204

    job = app.get(f"/api/jobs/{waiting['id']}").json()
    assert (job["state"], job["attempt_count"]) == (CANCELLED, 1)
    assert app.get(f"/api/webhooks/{created['id']}").status_code == 404
    assert app.delete(f"/api/webhooks/{created['id']}").status_code == 404
    for path in ("", "/deliveries", "/test"):
        method = "POST" if path == "/test" else "GET"
        missing = app.request(method, f"/api/webhooks/000000000000000000000000{path}")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_deliveries_come_in_pages_newest_first(app, listener):
    created = create(app, url=listener.url)
    ids = [ping(app, created)["id"] for _ in range(3)]
    first = deliveries(app, created, limit=2)
    assert [d["id"] for d in first["deliveries"]] == ids[:0:-1]
    rest = deliveries(app, created, limit=2, before=first["next_cursor"])
    assert [d["id"] for d in rest["deliveries"]] == ids[:1] and rest["next_cursor"] is None
    for params in ({"before": "nonsense"}, {"limit": 0}, {"limit": 201}):
        refused = app.get(f"/api/webhooks/{created['id']}/deliveries", params=params)
        assert refused.status_code == 422, refused.text


def test_a_cancelled_job_becomes_one_delivery_job_for_each_endpoint_that_wants_it(app):
    wants = create(app, events=["job.cancelled"], job_types=["sendEmail"])
    other_event = create(app, events=["job.dead"])
    disabled = create(app, events=["job.cancelled"], enabled=False)
    job = cancelled_email(app)

    [delivery] = Job.objects(created_by=made_by(wants["id"]))
    assert (delivery.type, delivery.queue) == (DELIVER, QUEUE)
    data = delivery.data
    assert (data["endpoint_id"], data["event"]) == (wants["id"], "job.cancelled")
    assert data["payload"]["job_id"] == job["id"] and data["payload"]["job_type"] == "sendEmail"
    attempt = data["payload"]["attempt"]
    assert delivery.idempotency_key == f"webhook:{wants['id']}:{job['id']}:job.cancelled:{attempt}"
    for endpoint in (other_event, disabled):
        assert Job.objects(created_by=made_by(endpoint["id"])).count() == 0

    # the same event reported again (a repeated transition) is the same delivery
    event = {"kind": "cancelled", "job_id": job["id"], "job_type": "sendEmail"}
    jobs = app.app.state.services.jobs
    [again] = jobs.submit_many(event_deliveries({**event, "attempt": attempt, "at": utcnow()}))
    assert again.id == delivery.id
    assert Job.objects(created_by=made_by(wants["id"])).count() == 1


def test_a_delivery_job_submitted_by_hand_is_refused_unsent(app, listener):
    endpoint = create(app, url=listener.url)
    forged = {
        "endpoint_id": endpoint["id"],
        "event": "job.succeeded",
        "created_at": "2025-01-01T00:00:00.000Z",
        "payload": {"job_id": "6650f1c2aaaaaaaaaaaaaaaa", "job_type": "sendEmail"},
    }
    before = Job.objects(type=DELIVER).count()
    for bad in ({**forged, "endpoint_id": "x"}, {**forged, "event": "job.exploded"}, {}):
        refused = app.post("/api/jobs", json={"name": DELIVER, "data": bad})
        assert refused.status_code == 422, refused.text
    assert Job.objects(type=DELIVER).count() == before

    submitted = app.post("/api/jobs", json={"name": DELIVER, "data": forged})
    assert submitted.status_code == 201, submitted.text
    job = wait_until(
        lambda: (
            (j := app.get(f"/api/jobs/{submitted.json()['id']}").json())["state"] in FINAL and j
        ),
        message="the forged delivery to end",
    )
    assert job["state"] == DEAD and job["attempt_count"] == 1
    assert "made by the webhooks plugin only" in job["error"] and "admin" in job["error"]
    assert listener.received() == []


def test_an_event_no_endpoint_wants_costs_no_mongodb_command(app):
    for endpoint in app.get("/api/webhooks").json()["webhooks"]:
        app.delete(f"/api/webhooks/{endpoint['id']}")
    create(app, events=["job.dead"], job_types=["sendEmail"])
    create(app, events=["job.succeeded", "job.dead"])  # every type, but not deliveries' events
    event = {"job_id": "j", "job_type": "sendEmail", "attempt": 1, "at": utcnow()}
    ROUTES.forget()
    assert event_deliveries({**event, "kind": "cancelled"}) == []  # reads once
    before = COMMANDS.counts()
    for kind in ("queued", "started", "retrying", "failed", "cancelled"):
        for _ in range(50):
            assert event_deliveries({**event, "kind": kind}) == []
    for kind in ("succeeded", "dead"):
        assert event_deliveries({**event, "kind": kind, "job_type": DELIVER}) == []
    assert COMMANDS.counts() == before
