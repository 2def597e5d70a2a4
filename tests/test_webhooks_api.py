"""/api/webhooks in-process (real FerretDB and Redis, a real HTTP listener on loopback):
create with the secret shown once and never readable again, ping, deliveries with their
tries, rotate, delete; bad input 422 and other roles 403 with nothing changed; a job
cancelled through the API becomes a pending delivery; one try is claimed once; retention."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from jobplatform import db
from jobplatform.config import load_settings
from jobplatform.db import COMMANDS
from jobplatform.jobs.models import utcnow
from jobplatform.web import create_app
from jobplatform.webhooks import retention
from jobplatform.webhooks.delivery import claim
from jobplatform.webhooks.models import (
    DELIVERED,
    PENDING,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookTry,
)
from jobplatform.webhooks.routing import ROUTES, new_delivery, record_job_event
from jobplatform.webhooks.signing import verify
from tests.api_app import JWT_SECRET, bearer, login, new_user
from tests.conftest import ADMIN_PASSWORD, ROOT
from tests.webhook_listener import Listener

EMAIL = {"recipient": "a@example.com", "subject": "Hello"}


@pytest.fixture(scope="module")
def app(private_redis, mongo_server, mongo_uri, tmp_path_factory):
    """The web app on a database of its own, with a Redis database no worker reads."""
    settings = load_settings(
        mongo_uri=f"{mongo_server}jp_webhooks_api_{uuid.uuid4().hex[:8]}",
        redis_uri=private_redis(),
        jwt_secret=JWT_SECRET,
        admin_password=ADMIN_PASSWORD,
        data_dir=tmp_path_factory.mktemp("webhooks-api"),
        plugins_file=ROOT / "plugins.toml",
        app_env="test",
    )
    with TestClient(create_app(settings)) as client:
        client.headers.update(bearer(login(client, "admin", ADMIN_PASSWORD)["access_token"]))
        yield client
    client.app.state.services.jobs.stats.close()
    db.connect(load_settings(mongo_uri=mongo_uri))


@pytest.fixture
def listener():
    with Listener() as running:
        yield running


def create(app, **fields) -> dict:
    body = {"url": "http://127.0.0.1:9/hooks", "events": ["job.succeeded"], **fields}
    response = app.post("/api/webhooks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def stored() -> list[dict]:
    return list(WebhookEndpoint.objects.order_by("id").as_pymongo())


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


def test_a_ping_arrives_signed_and_is_recorded_with_its_try(app, listener):
    created = create(app, url=listener.url)
    answer = app.post(f"/api/webhooks/{created['id']}/test")
    assert answer.status_code == 200, answer.text
    delivery = answer.json()
    assert (delivery["event"], delivery["state"], delivery["status_code"]) == (
        "ping",
        "delivered",
        200,
    )
    [request] = listener.received()
    assert verify(created["secret"], request.headers, request.body)
    assert request.headers["Webhook-Id"] == delivery["id"]
    assert json.loads(request.body)["data"]["webhook_id"] == created["id"]

    listing = app.get(f"/api/webhooks/{created['id']}/deliveries").json()
    [shown] = listing["deliveries"]
    assert shown["id"] == delivery["id"] and listing["next_cursor"] is None
    [first_try] = shown["tries"]
    assert first_try["number"] == 1 and first_try["status_code"] == 200
    assert first_try["latency_ms"] >= 0 and first_try["next_attempt_at"] is None


def test_a_failed_ping_names_the_reason(app):
    created = create(app, url="http://127.0.0.1:9/closed")  # nothing listens on port 9
    delivery = app.post(f"/api/webhooks/{created['id']}/test").json()
    assert delivery["state"] == "failed" and delivery["status_code"] is None
    assert "ConnectError" in delivery["error"] and delivery["attempts"] == 1

    app.patch(f"/api/webhooks/{created['id']}", json={"enabled": False})
    delivery = app.post(f"/api/webhooks/{created['id']}/test").json()
    assert delivery["state"] == "failed"
    assert delivery["error"] == "not sent: the endpoint is disabled"


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
    assert WebhookDelivery.objects(endpoint_id=endpoint["id"]).count() == 0


def test_rotating_the_secret_signs_with_the_new_one_only(app, listener):
    created = create(app, url=listener.url)
    rotated = app.post(f"/api/webhooks/{created['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    secret = rotated.json()["secret"]
    assert secret != created["secret"] and rotated.json()["secret_rotated_at"]
    app.post(f"/api/webhooks/{created['id']}/test")
    [request] = listener.received()
    assert verify(secret, request.headers, request.body)
    assert not verify(created["secret"], request.headers, request.body)


def test_delete_removes_the_endpoint_and_its_deliveries(app, listener):
    created = create(app, url=listener.url)
    delivery = app.post(f"/api/webhooks/{created['id']}/test").json()
    assert app.delete(f"/api/webhooks/{created['id']}").status_code == 204
    assert app.get(f"/api/webhooks/{created['id']}").status_code == 404
    assert app.delete(f"/api/webhooks/{created['id']}").status_code == 404
    assert WebhookDelivery.objects(id=delivery["id"]).count() == 0
    assert WebhookTry.objects(delivery_id=delivery["id"]).count() == 0
    for path in ("", "/deliveries"):
        missing = app.get(f"/api/webhooks/000000000000000000000000{path}")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_deliveries_come_in_pages_newest_first(app, listener):
    created = create(app, url=listener.url)
    ids = [app.post(f"/api/webhooks/{created['id']}/test").json()["id"] for _ in range(3)]
    first = app.get(f"/api/webhooks/{created['id']}/deliveries", params={"limit": 2}).json()
    assert [d["id"] for d in first["deliveries"]] == ids[:0:-1]
    rest = app.get(
        f"/api/webhooks/{created['id']}/deliveries",
        params={"limit": 2, "before": first["next_cursor"]},
    ).json()
    assert [d["id"] for d in rest["deliveries"]] == ids[:1] and rest["next_cursor"] is None
    for params in ({"before": "nonsense"}, {"limit": 0}, {"limit": 201}):
        refused = app.get(f"/api/webhooks/{created['id']}/deliveries", params=params)
        assert refused.status_code == 422, refused.text


def test_a_cancelled_job_becomes_a_pending_delivery_for_the_endpoints_that_want_it(app):
    wants = create(app, events=["job.cancelled"], job_types=["sendEmail"])
    other_event = create(app, events=["job.dead"])
    disabled = create(app, events=["job.cancelled"], enabled=False)
    job = app.post("/api/jobs", json={"name": "sendEmail", "data": EMAIL, "delay": 3600}).json()
    assert app.post(f"/api/jobs/{job['id']}/cancel").status_code == 200

    [delivery] = WebhookDelivery.objects(endpoint_id=wants["id"])
    assert (delivery.event, delivery.job_id, delivery.state) == (
        "job.cancelled",
        job["id"],
        PENDING,
    )
    assert delivery.next_attempt_at <= utcnow() and delivery.attempts == 0
    body = json.loads(delivery.body)
    assert body["id"] == str(delivery.id) and body["event"] == "job.cancelled"
    assert body["data"]["job_id"] == job["id"] and body["data"]["job_type"] == "sendEmail"
    for endpoint in (other_event, disabled):
        assert WebhookDelivery.objects(endpoint_id=endpoint["id"]).count() == 0


def test_of_processes_racing_for_one_try_exactly_one_claims_it(app):
    endpoint = create(app)
    delivery = new_delivery(endpoint["id"], "job.succeeded", {"job_id": "j"}, max_attempts=5)
    delivery.save(force_insert=True)
    copies = [WebhookDelivery.objects.get(id=delivery.id) for _ in range(8)]
    start, claimed = threading.Barrier(len(copies)), []

    def race(copy):
        start.wait()
        claimed.append(claim(copy, f"sender-{id(copy)}", lease=60))

    threads = [threading.Thread(target=race, args=(c,)) for c in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed, key=str) == [1] + [None] * 7
    assert WebhookTry.objects(delivery_id=delivery.id).count() == 1
    assert claim(copies[0], "late", lease=60) is None  # the try is leased: not due


def test_a_try_another_process_recorded_first_is_not_sent_again(app):
    """Where the store lets two conditional updates both land, the try's id decides."""
    endpoint = create(app)
    delivery = new_delivery(endpoint["id"], "job.succeeded", {"job_id": "j"}, max_attempts=5)
    delivery.save(force_insert=True)
    WebhookTry(id=f"{delivery.id}:1", delivery_id=delivery.id, number=1, sender="other").save(
        force_insert=True
    )
    assert claim(delivery, "me", lease=60) is None
    assert WebhookTry.objects.get(id=f"{delivery.id}:1").sender == "other"


def test_a_try_whose_sender_died_is_followed_by_the_next_or_ends_the_delivery(app):
    endpoint = create(app)
    delivery = new_delivery(endpoint["id"], "job.succeeded", {"job_id": "j"}, max_attempts=2)
    delivery.save(force_insert=True)
    assert claim(delivery, "dies", lease=0) == 1  # its lease ends at once: as if it died
    assert claim(WebhookDelivery.objects.get(id=delivery.id), "dies too", lease=0) == 2
    assert claim(WebhookDelivery.objects.get(id=delivery.id), "third", lease=60) is None
    ended = WebhookDelivery.objects.get(id=delivery.id)
    assert (ended.state, ended.attempts, ended.next_attempt_at) == ("failed", 2, None)
    assert ended.error == "the last try's sender stopped before recording its outcome"
    tries = WebhookTry.objects(delivery_id=delivery.id).order_by("number")
    assert [(t.number, t.sender, t.finished_at) for t in tries] == [
        (1, "dies", None),
        (2, "dies too", None),
    ]


def test_retention_removes_old_and_surplus_finished_deliveries_only(app):
    endpoint = create(app)
    now = utcnow()
    made = []
    for age_days, state in [(10, DELIVERED), (10, PENDING), (1, DELIVERED), (0, DELIVERED)]:
        delivery = new_delivery(endpoint["id"], "job.dead", {"job_id": "j"}, max_attempts=5)
        delivery.state = state
        delivery.finished_at = now - timedelta(days=age_days) if state != PENDING else None
        delivery.save(force_insert=True)
        made.append(delivery.id)
    assert retention.trim(retention_days=7, keep_per_endpoint=10, now=now) >= 1
    kept = set(WebhookDelivery.objects(endpoint_id=endpoint["id"]).scalar("id"))
    assert kept == set(made[1:])
    retention.trim(retention_days=7, keep_per_endpoint=1, now=now)
    kept = set(WebhookDelivery.objects(endpoint_id=endpoint["id"]).scalar("id"))
    assert kept == {made[1], made[3]}  # the pending one stays, whatever its age


def test_an_event_no_endpoint_wants_costs_no_mongodb_command(app):
    for endpoint in app.get("/api/webhooks").json()["webhooks"]:
        app.delete(f"/api/webhooks/{endpoint['id']}")
    create(app, events=["job.dead"], job_types=["sendEmail"])
    event = {"job_id": "j", "job_type": "sendEmail", "attempt": 1, "at": utcnow()}
    ROUTES.forget()
    assert record_job_event({**event, "kind": "succeeded"}, max_attempts=5) == []  # reads once
    before = COMMANDS.counts()
    for kind in ("queued", "started", "succeeded", "retrying", "failed", "cancelled"):
        for _ in range(50):
            assert record_job_event({**event, "kind": kind}, max_attempts=5) == []
    assert COMMANDS.counts() == before
