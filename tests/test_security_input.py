"""Input MongoDB, the JSON answer or SMTP could never take is refused with a 422 naming the
field, through the API and through `JobService.submit`, and nothing is stored; a failure
that still happens answers in the error envelope (issue 16, items 6 and 7)."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.testclient import TestClient

from jobplatform.jobs.data_rules import MAX_DEPTH
from jobplatform.jobs.errors import InvalidJobData
from jobplatform.jobs.models import Job
from tests.api_app import app_client, bearer, login
from tests.conftest import ADMIN_PASSWORD


@pytest.fixture(scope="module")
def client(mongo_uri, private_redis, tmp_path_factory):
    queue_uri = private_redis()  # no worker reads it
    with app_client(mongo_uri, queue_uri, tmp_path_factory.mktemp("input")) as client:
        client.headers.update(bearer(login(client, "admin", ADMIN_PASSWORD)["access_token"]))
        yield client


def post(client, path: str, body: dict):
    """POST `body` as JSON the way any client may write it: lone surrogates as `\\ud800`
    escapes, NaN as `NaN` (httpx's own encoder refuses both)."""
    return client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})


def email(**extra) -> dict:
    return {"recipient": "a@example.com", "subject": "Hi", **extra}


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


# (data, the field the 422 names): each once broke the insert or the answer with a 500.
UNSTORABLE = {
    "int-above-int64": (email(variables={"n": 2**63}), "variables.n"),
    "int-below-int64": (email(variables={"n": -(2**63) - 1}), "variables.n"),
    "nul-in-nested-key": (email(variables={"a": {"b\x00c": 1}}), "variables.a.b\\x00c"),
    "nul-in-list-key": (email(variables={"a": [{"\x00": 1}]}), "variables.a.0.\\x00"),
    "lone-surrogate-value": (email(subject="Hi \ud800"), "subject"),
    "lone-surrogate-key": (email(variables={"\udfff": "x"}), "variables.\\udfff"),
    "too-deep": (email(variables=nested(MAX_DEPTH + 5)), "variables" + ".n" * (MAX_DEPTH - 1)),
    "dollar-key": (email(variables={"x": {"$where": "1"}}), "variables.x.$where"),
    "dotted-key": (email(variables={"a.b": 1}), "variables.a.b"),
}


@pytest.mark.parametrize(("data", "field"), UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_unstorable_data_is_422_naming_the_field_through_the_api(client, data, field):
    before = Job.objects.count()
    response = post(client, "/api/jobs", {"name": "sendEmail", "data": data})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    assert field in response.json()["error"]["details"], response.json()
    assert Job.objects.count() == before


@pytest.mark.parametrize(("data", "field"), UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_unstorable_data_is_refused_by_the_job_service(client, data, field):
    before = Job.objects.count()
    with pytest.raises(InvalidJobData) as refused:
        client.app.state.services.jobs.submit("sendEmail", data)
    assert field in refused.value.details
    assert Job.objects.count() == before


def test_batch_names_the_job_and_the_field(client):
    jobs = [{"name": "sendEmail", "data": email()}] * 2
    jobs.append({"name": "sendEmail", "data": email(variables={"big": 10**30})})
    response = post(client, "/api/jobs/batch", {"jobs": jobs})
    assert response.status_code == 422, response.text
    assert list(response.json()["error"]["details"]) == ["jobs.2.data.variables.big"]


def test_data_nested_far_deeper_than_mongodb_allows(client):
    response = post(
        client, "/api/jobs", {"name": "sendEmail", "data": email(variables=nested(500))}
    )
    assert response.status_code == 422, response.text
    assert "nested deeper than 32 levels" in str(response.json()["error"]["details"])


def test_data_at_the_depth_limit_is_stored(client):
    data = email(variables={"deep": nested(MAX_DEPTH - 2)})  # the document itself is a level
    response = post(client, "/api/jobs", {"name": "sendEmail", "data": data})
    assert response.status_code == 201, response.text
    assert Job.objects(id=response.json()["id"]).first().data == data


def test_numbers_that_json_cannot_answer_are_refused(client):
    data = email(variables={"n": float("nan"), "m": float("-inf")})
    response = post(client, "/api/jobs", {"name": "sendEmail", "data": data})
    assert response.status_code == 422, response.text
    assert {"variables.n", "variables.m"} <= set(response.json()["error"]["details"])


@pytest.mark.parametrize(
    "run_at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"], ids=["after", "before"]
)
def test_run_at_outside_the_utc_calendar_is_422(client, run_at):
    before = Job.objects.count()
    response = post(client, "/api/jobs", {"name": "sendEmail", "data": email(), "run_at": run_at})
    assert response.status_code == 422, response.text
    assert "run_at" in response.json()["error"]["details"]
    assert Job.objects.count() == before


@pytest.mark.parametrize("param", ["created_after", "created_before"])
def test_list_filter_times_outside_the_utc_calendar_are_422(client, param):
    response = client.get("/api/jobs", params={param: "0001-01-01T00:00:00+01:00"})
    assert response.status_code == 422, response.text
    assert f"query.{param}" in response.json()["error"]["details"]


def test_bulk_retry_times_outside_the_utc_calendar_are_422(client):
    response = post(client, "/api/jobs/retry", {"created_after": "9999-12-31T23:59:59-01:00"})
    assert response.status_code == 422, response.text
    assert "created_after" in response.json()["error"]["details"]


@pytest.mark.parametrize(
    "key",
    ["caf\u00e9-order", "line\r\nbreak", "tab\there", "nul\x00", "x" * 201, "\ud800"],
    ids=["non-ascii", "crlf", "tab", "nul", "too-long", "surrogate"],
)
def test_idempotency_key_must_be_printable_ascii_up_to_200(client, key):
    before = Job.objects.count()
    response = post(
        client, "/api/jobs", {"name": "sendEmail", "data": email(), "idempotency_key": key}
    )
    assert response.status_code == 422, response.text
    assert "idempotency_key" in response.json()["error"]["details"]
    assert Job.objects.count() == before


def test_a_printable_ascii_key_of_200_is_accepted(client):
    key = ("order =?#~ " + uuid.uuid4().hex).ljust(200, "x")
    response = post(
        client, "/api/jobs", {"name": "sendEmail", "data": email(), "idempotency_key": key}
    )
    assert response.status_code == 201, response.text


def test_a_job_type_named_with_a_lone_surrogate_is_422(client):
    response = post(client, "/api/jobs", {"name": "no\ud800such", "data": {}})
    assert response.status_code == 422, response.text
    assert "name" in response.json()["error"]["details"]


def test_an_unexpected_failure_answers_500_in_the_envelope(mongo_uri, redis_uri, tmp_path):
    """A route that fails, added first to a real app: its answer is still the envelope."""
    app = app_client(mongo_uri, redis_uri, tmp_path).app

    async def failure():
        raise RuntimeError("boom")

    app.add_api_route("/api/test-failure", failure)
    app.router.routes.insert(0, app.router.routes.pop())
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/test-failure")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "the server failed to answer this request; it was logged",
            "details": None,
        }
    }
