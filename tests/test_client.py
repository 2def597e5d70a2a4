"""The client package (`jobplatform_client`) against the real web and worker processes of
the session: an email job delivered, a login session, idempotency, refusals, outages.
tests/test_client_package.py drives both clients through the rest."""

from __future__ import annotations

import uuid

import httpx
import pytest
from jobplatform_client import ApiError, Client, NewJob

from jobplatform.devservices import free_port
from tests.api_app import bearer
from tests.conftest import ADMIN_PASSWORD


def email(subject: str) -> dict:
    return {"recipient": "client@example.com", "subject": subject, "body": "from the client"}


@pytest.fixture(scope="module")
def api_token(web_url, admin_token) -> str:
    response = httpx.post(
        f"{web_url}/api/tokens",
        headers=bearer(admin_token),
        json={"name": "client-" + uuid.uuid4().hex[:6], "role": "operator"},
    )
    assert response.status_code == 201, response.text
    return response.json()["token"]


def test_submit_and_wait_until_the_email_is_delivered(web_url, worker, smtp_server, api_token):
    recorder, _ = smtp_server
    subject = "client " + uuid.uuid4().hex[:8]
    with Client(web_url, token=api_token) as jobs:
        job = jobs.submit("sendEmail", email(subject))
        assert job.created_by.startswith("token:client-")
        done = jobs.wait(job.id, timeout=60, poll=0.1)
    assert done.state == "succeeded"
    assert len(done.attempts) == 1
    assert recorder.with_subject(subject)


def test_login_with_a_password_and_read_back_pages(web_url):
    with Client(web_url, username="admin", password=ADMIN_PASSWORD) as jobs:
        made = jobs.submit_many([NewJob("sendEmail", email("batch"))] * 3)
        assert len({j.id for j in made}) == 3  # each made up its own idempotency key
        seen = {j.id for j in jobs.iterate(limit=2, q="admin")}
        assert {j.id for j in made} <= seen
        assert jobs.get(made[0].id).id == made[0].id


def test_resubmitting_with_the_same_key_gives_the_same_job(web_url, api_token):
    with Client(web_url, token=api_token) as jobs:
        key = "client-key-" + uuid.uuid4().hex
        first = jobs.submit("sendEmail", email("once"), idempotency_key=key)
        again = jobs.submit("sendEmail", email("once"), idempotency_key=key)
    assert first.id == again.id


def test_refusals_raise_api_error_with_the_api_reasons(web_url, api_token):
    with Client(web_url, token=api_token) as jobs:
        with pytest.raises(ApiError) as missing:
            jobs.get("000000000000000000000000")
        assert missing.value.status == 404 and missing.value.code == "not_found"
        with pytest.raises(ApiError) as invalid:
            jobs.submit("sendEmail", {"subject": "no recipient"})
        assert invalid.value.status == 422 and "recipient" in invalid.value.details
        with pytest.raises(ApiError) as conflict:
            job = jobs.submit("sendEmail", email("retry too early"))
            jobs.retry(job.id)
        assert conflict.value.status == 409


def test_wrong_password_and_revoked_token_raise_401(web_url):
    with (
        pytest.raises(ApiError) as wrong,
        Client(web_url, username="nobody-" + uuid.uuid4().hex, password="not it") as jobs,
    ):
        jobs.list()
    assert wrong.value.status == 401 and wrong.value.code == "login_failed"
    with pytest.raises(ApiError) as revoked, Client(web_url, token="jpt_unknown") as jobs:
        jobs.list()
    assert revoked.value.status == 401


def test_unreachable_server_is_retried_then_reported():
    with Client(f"http://127.0.0.1:{free_port()}", token="jpt_x", retries=2, backoff=0.01) as jobs:
        with pytest.raises(httpx.ConnectError):
            jobs.list()
