"""A payload the job type's schema refuses gets 422 with per-field messages; nothing is kept."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient
from redis import Redis

from jobplatform.config import load_settings
from jobplatform.jobs.errors import InvalidSubmission
from jobplatform.jobs.models import Job
from jobplatform.web import create_app
from tests.conftest import ADMIN_PASSWORD, ROOT


@pytest.fixture(scope="module")
def queue_uri(private_redis) -> str:
    """A Redis database no worker of the session reads, so the queue's length is meaningful."""
    return private_redis()


@pytest.fixture(scope="module")
def client(queue_uri, mongo_uri, tmp_path_factory):
    """The web app in-process."""
    settings = load_settings(
        mongo_uri=mongo_uri,
        redis_uri=queue_uri,
        jwt_secret="x" * 48,
        admin_password=ADMIN_PASSWORD,
        data_dir=tmp_path_factory.mktemp("inproc"),
        plugins_file=ROOT / "plugins.toml",
        app_env="test",
    )
    with TestClient(create_app(settings)) as client:
        token = client.post(
            "/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        ).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield client


def queued_messages(redis_uri: str) -> int:
    redis = Redis.from_url(redis_uri)
    return sum(redis.zcard(key) for key in redis.keys("huey.redis.*"))  # priority queues


@pytest.mark.parametrize(
    ("data", "field", "expected"),
    [
        ({"subject": "Hi", "body": "x"}, "recipient", "required field"),
        ({"recipient": "not-an-address", "subject": "Hi"}, "recipient", "no definitions validate"),
        ({"recipient": "a@example.com", "subject": ""}, "subject", "empty values not allowed"),
        (
            {"recipient": "a@example.com", "subject": "Hi", "colour": "red"},
            "colour",
            "unknown field",
        ),
    ],
)
def test_refused_payload_gets_422_per_field_and_stores_nothing(
    client, queue_uri, data, field, expected
):
    jobs_before = Job.objects.count()
    queued_before = queued_messages(queue_uri)

    response = client.post("/api/jobs", json={"name": "sendEmail", "data": data})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["details"]
    assert expected in str(error["details"][field])
    assert Job.objects.count() == jobs_before
    assert queued_messages(queue_uri) == queued_before


def test_unknown_job_type_is_404_naming_the_known_types(client):
    response = client.post("/api/jobs", json={"name": "sendFax", "data": {}})
    assert response.status_code == 404
    assert "sendEmail" in response.json()["error"]["details"]["known"]


def test_valid_payload_is_stored_queued_and_enqueued(client, queue_uri):
    queued_before = queued_messages(queue_uri)
    response = client.post(
        "/api/jobs",
        json={"name": "sendEmail", "data": {"recipient": "a@example.com", "subject": "Hi"}},
    )
    assert response.status_code == 201, response.text
    job = Job.objects.get(id=response.json()["id"])
    assert job.state == "queued"
    assert job.queue == "email"
    assert queued_messages(queue_uri) == queued_before + 1


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"priority": 101}, "priority"),
        ({"priority": True}, "priority"),
        ({"priority": 1.5}, "priority"),
        ({"delay": -1}, "delay"),
        ({"delay": 366 * 86400}, "delay"),
        ({"delay": float("nan")}, "delay"),
    ],
)
def test_priority_and_delay_bounds_are_the_core_s_for_every_caller(
    client, queue_uri, options, field
):
    """The API's body model has the bounds too, so the core is called directly here, as a
    plugin's hook or the admin app calls it."""
    jobs = client.app.state.services.jobs
    stored, queued = Job.objects.count(), queued_messages(queue_uri)
    data = {"recipient": "a@example.com", "subject": "bounds"}
    with pytest.raises(InvalidSubmission) as refused:
        jobs.submit("sendEmail", data, **options)
    assert list(refused.value.details) == [field]
    assert (Job.objects.count(), queued_messages(queue_uri)) == (stored, queued)
    if not any(isinstance(v, float) and math.isnan(v) for v in options.values()):  # JSON has no NaN
        answer = client.post("/api/jobs", json={"name": "sendEmail", "data": data, **options})
        assert answer.status_code == 422 and field in answer.json()["error"]["details"]
