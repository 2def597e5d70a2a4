"""503 when MongoDB or Redis is down, and nothing half-written: private servers this module
stops and starts again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from jobplatform.devservices import FerretDB, RedisServer
from jobplatform.jobs.models import Job
from tests.api_app import app_client, bearer, login
from tests.conftest import ADMIN_PASSWORD
from tests.test_submit_validation import queued_messages

pytestmark = pytest.mark.services  # its own Redis and FerretDB

JOB = {"name": "sendEmail", "data": {"recipient": "a@example.com", "subject": "Outage"}}


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[tuple[FerretDB, RedisServer]]:
    mongo = FerretDB(tmp_path_factory.mktemp("outage-mongo")).start()
    redis = RedisServer(tmp_path_factory.mktemp("outage-redis")).start()
    yield mongo, redis
    mongo.stop()
    redis.stop()


@pytest.fixture(scope="module")
def client(servers, tmp_path_factory):
    mongo, redis = servers
    with app_client(f"{mongo.uri}outage", redis.uri, tmp_path_factory.mktemp("data")) as client:
        client.headers.update(bearer(login(client, "admin", ADMIN_PASSWORD)["access_token"]))
        yield client


def test_mongodb_down_is_503_and_nothing_is_stored_or_enqueued(servers, client):
    mongo, redis = servers
    assert client.post("/api/jobs", json=JOB).status_code == 201
    jobs_before, queued_before = Job.objects.count(), queued_messages(redis.uri)

    mongo.stop()
    try:
        submit = client.post("/api/jobs", json=JOB)
        assert submit.status_code == 503
        assert submit.json()["error"]["code"] == "unavailable"
        assert "MongoDB cannot be reached" in submit.json()["error"]["message"]
        assert submit.headers["retry-after"] == "5"
        login_attempt = client.post(
            "/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert login_attempt.status_code == 503
    finally:
        mongo.process = FerretDB(mongo.data_dir, port=mongo.port).start().process

    assert Job.objects.count() == jobs_before
    assert queued_messages(redis.uri) == queued_before
    assert client.get("/api/jobs").status_code == 200


def test_redis_down_is_503_and_the_job_is_not_kept(servers, client):
    _, redis = servers
    jobs_before = Job.objects.count()
    redis.stop()
    try:
        submit = client.post("/api/jobs", json=JOB)
        assert submit.status_code == 503, submit.text
        assert "nothing was stored" in submit.json()["error"]["message"]
        assert Job.objects.count() == jobs_before
        reads = client.get("/api/jobs")  # the history stays readable; rate limits fail open
        assert reads.status_code == 200
        locked_out = client.post(
            "/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert locked_out.status_code == 503  # a lockout that cannot be checked is not skipped
        assert "rate-limit store (Redis)" in locked_out.json()["error"]["message"]
    finally:
        redis.process = RedisServer(redis.data_dir, port=redis.port).start().process
    assert Redis.from_url(redis.uri).ping()
    assert client.post("/api/jobs", json=JOB).status_code == 201
