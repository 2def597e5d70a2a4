"""Every /api/jobs endpoint, its filters and pages, and the request errors it answers."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from bson import ObjectId

from jobplatform.jobs.models import Job, utcnow
from jobplatform.jobs.query import COUNT_CAP
from tests.api_app import app_client, bearer, login
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import wait_until
from tests.test_submit_validation import queued_messages


def email(**data) -> dict:
    return {"name": "sendEmail", "data": {"recipient": "a@example.com", "subject": "Hi", **data}}


@pytest.fixture(scope="module")
def queue_uri(private_redis) -> str:
    """A Redis database no worker reads, so jobs stay queued and queue lengths mean something."""
    return private_redis()


@pytest.fixture(scope="module")
def client(mongo_uri, queue_uri, tmp_path_factory):
    with app_client(mongo_uri, queue_uri, tmp_path_factory.mktemp("jobs")) as client:
        client.headers.update(bearer(login(client, "admin", ADMIN_PASSWORD)["access_token"]))
        yield client


def stored(state: str, tag: str, **fields) -> Job:
    """A job written straight to the history, as a worker would have left it."""
    defaults = {
        "type": "sendEmail",
        "data": {},
        "idempotency_key": f"{tag}-{uuid.uuid4().hex}",
        "retry_policy": {"max_attempts": 3},
    }
    return Job(**{**defaults, **fields}, state=state, created_by=tag).save()


def test_submit_then_read_with_attempts(client):
    response = client.post("/api/jobs", json={**email(), "max_attempts": 1, "timeout": 5})
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["state"] == "queued" and job["created_by"] == "admin"
    assert job["max_attempts"] == 1
    read = client.get(f"/api/jobs/{job['id']}")
    assert read.status_code == 200 and read.json()["attempts"] == []


@pytest.mark.parametrize("job_id", ["000000000000000000000000", "not-an-id", "$where"])
def test_unknown_job_is_404(client, job_id):
    response = client.get(f"/api/jobs/{job_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_idempotency_key_returns_the_first_job_and_a_conflicting_reuse_is_409(client):
    key = "order-" + uuid.uuid4().hex
    first = client.post("/api/jobs", json={**email(), "idempotency_key": key}).json()
    again = client.post("/api/jobs", json={**email(), "idempotency_key": key})
    assert again.json()["id"] == first["id"]
    stored("dead", "other-type", type="otherType", idempotency_key=key + "-x")
    conflict = client.post("/api/jobs", json={**email(), "idempotency_key": key + "-x"})
    assert conflict.status_code == 409, conflict.text
    assert "already used" in conflict.json()["error"]["message"]


@pytest.mark.parametrize(
    "data",
    [{"$where": "1"}, {"a.b": 1}, {"deep": {"list": [{"$gt": 1}]}}],
    ids=["dollar", "dot", "nested"],
)
def test_data_keys_mongodb_would_read_as_operators_are_422(client, queue_uri, data):
    before, queued = Job.objects.count(), queued_messages(queue_uri)
    response = client.post("/api/jobs", json={"name": "sendEmail", "data": data})
    assert response.status_code == 422
    assert "may not start with '$' or contain '.'" in str(response.json()["error"]["details"])
    assert Job.objects.count() == before and queued_messages(queue_uri) == queued


def test_batch_submits_all(client, queue_uri):
    queued = queued_messages(queue_uri)
    response = client.post("/api/jobs/batch", json={"jobs": [email(), email(), email()]})
    assert response.status_code == 201, response.text
    assert len({j["id"] for j in response.json()["jobs"]}) == 3
    assert queued_messages(queue_uri) == queued + 3


def test_batch_with_one_bad_job_stores_nothing_and_names_it(client, queue_uri):
    before, queued = Job.objects.count(), queued_messages(queue_uri)
    bad = {"name": "sendEmail", "data": {"subject": "no recipient"}}
    response = client.post(
        "/api/jobs/batch", json={"jobs": [email(), bad, {"name": "sendFax", "data": {}}]}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert "2 of 3 jobs are invalid; nothing was submitted" == error["message"]
    assert "jobs.1.data.recipient" in error["details"] and "jobs.2.name" in error["details"]
    assert Job.objects.count() == before and queued_messages(queue_uri) == queued


def test_batch_over_the_limit_is_422(client):
    response = client.post("/api/jobs/batch", json={"jobs": [email()] * 501})
    assert response.status_code == 422
    assert "jobs" in response.json()["error"]["details"]


def test_cancel_retry_and_delete(client):
    job = client.post("/api/jobs", json=email()).json()
    cancelled = client.post(f"/api/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    again = client.post(f"/api/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]["message"]
    retried = client.post(f"/api/jobs/{job['id']}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "queued"
    refused = client.post(f"/api/jobs/{job['id']}/retry")
    assert refused.status_code == 409
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 404


def test_bulk_retry_by_filter_retries_only_matching_dead_jobs(client):
    tag = "bulk-" + uuid.uuid4().hex[:8]
    kind = "bulkType" + uuid.uuid4().hex[:6]
    dead = [stored("dead", tag, type=kind) for _ in range(3)]
    cancelled = stored("cancelled", tag, type=kind)
    done = stored("succeeded", tag, type=kind)
    other = stored("dead", tag)

    response = client.post("/api/jobs/retry", json={"name": kind})
    assert response.status_code == 200, response.text
    assert sorted(response.json()["ids"]) == sorted(str(j.id) for j in dead)
    assert {j.reload().state for j in dead} == {"queued"}
    assert cancelled.reload().state == "cancelled" and done.reload().state == "succeeded"
    assert other.reload().state == "dead"

    again = client.post("/api/jobs/retry", json={"name": kind, "state": "cancelled"})
    assert again.json() == {"retried": 1, "ids": [str(cancelled.id)]}
    refused = client.post("/api/jobs/retry", json={"state": "running"})
    assert refused.status_code == 422 and "state" in refused.json()["error"]["details"]


def test_list_filters_by_state_type_time_and_text(client):
    tag = "filter-" + uuid.uuid4().hex[:8]
    old = stored(
        "dead",
        tag,
        created_at=utcnow() - timedelta(days=3),
        id=ObjectId.from_datetime(utcnow() - timedelta(days=3)),
    )
    new_dead = stored("dead", tag, error="SMTP 550 mailbox unavailable")
    new_ok = stored("succeeded", tag)

    def ids(**params) -> set[str]:
        response = client.get("/api/jobs", params={"q": tag, **params})
        assert response.status_code == 200, response.text
        return {j["id"] for j in response.json()["jobs"]}

    assert ids() == {str(old.id), str(new_dead.id), str(new_ok.id)}
    assert ids(state="dead") == {str(old.id), str(new_dead.id)}
    assert ids(state=["dead", "succeeded"]) == ids()
    assert ids(name="sendEmail") == ids() and ids(name="otherType") == set()
    since = (utcnow() - timedelta(days=1)).isoformat() + "Z"
    assert ids(created_after=since) == {str(new_dead.id), str(new_ok.id)}
    assert ids(created_before=since) == {str(old.id)}
    by_error = client.get("/api/jobs", params={"q": "550 MAILBOX"}).json()["jobs"]
    assert str(new_dead.id) in {j["id"] for j in by_error}
    by_id = client.get("/api/jobs", params={"q": str(new_ok.id)}).json()["jobs"]
    assert [j["id"] for j in by_id] == [str(new_ok.id)]


@pytest.mark.parametrize(
    "params", [{"name": '{"$ne": ""}'}, {"q": ".*"}, {"q": "(["}, {"name": "$where"}]
)
def test_filter_values_are_text_never_operators_or_patterns(client, params):
    response = client.get("/api/jobs", params=params)
    assert response.status_code == 200, response.text
    assert response.json()["jobs"] == [] and response.json()["total"] == 0


@pytest.mark.parametrize("query", ["state[$ne]=dead", "name[$regex]=.*", "where=1"])
def test_unknown_and_operator_shaped_parameters_are_422(client, query):
    response = client.get(f"/api/jobs?{query}")
    assert response.status_code == 422
    assert "unknown query parameter" in response.json()["error"]["message"]


def test_bad_filter_values_are_422_per_field(client):
    response = client.get(
        "/api/jobs", params={"state": "exploded", "limit": 0, "created_after": "yesterday"}
    )
    assert response.status_code == 422
    fields = set(response.json()["error"]["details"])
    assert {"query.state.0", "query.limit", "query.created_after"} <= fields
    cursor = client.get("/api/jobs", params={"cursor": "!!not-ours"})
    assert cursor.status_code == 422 and "cursor" in cursor.json()["error"]["details"]


def test_cursor_pages_walk_every_match_once_in_both_orders(client):
    tag = "pages-" + uuid.uuid4().hex[:8]
    made = [str(stored("succeeded", tag).id) for _ in range(7)]
    for order, expected in (("newest", made[::-1]), ("oldest", made)):
        seen, cursor, pages = [], None, 0
        while True:
            params = {"q": tag, "limit": 3, "order": order}
            if cursor:
                params["cursor"] = cursor
            body = client.get("/api/jobs", params=params).json()
            pages += 1
            assert body["total"] == (7 if pages == 1 else None)
            seen += [j["id"] for j in body["jobs"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == expected and pages == 3


@pytest.fixture
def many_tagged(client):  # the client connects MongoEngine
    """COUNT_CAP + 5 stored jobs created by one tag of their own; yields the tag."""
    tag = "many-" + uuid.uuid4().hex[:8]
    rows = [
        {
            "_id": ObjectId(),
            "type": "sendEmail",
            "state": "succeeded",
            "data": {},
            "created_by": tag,
            "idempotency_key": f"{tag}-{i}",
            "created_at": utcnow(),
        }
        for i in range(COUNT_CAP + 5)
    ]
    Job._get_collection().insert_many(rows)
    yield tag
    Job.objects(created_by=tag).delete()


def test_total_is_capped_on_a_large_history(client, many_tagged):
    body = client.get("/api/jobs", params={"q": many_tagged, "limit": 2}).json()
    assert body["total"] == COUNT_CAP and body["total_capped"] is True
    assert len(body["jobs"]) == 2


def test_a_count_over_its_budget_is_given_up_and_the_page_still_answers(
    mongo_uri, queue_uri, tmp_path, many_tagged
):
    # Counting 1,001 matches of a text search takes FerretDB far longer than 1 ms.
    with app_client(mongo_uri, queue_uri, tmp_path, list_count_budget_ms=1) as budgeted:
        budgeted.headers.update(bearer(login(budgeted, "admin", ADMIN_PASSWORD)["access_token"]))
        body = budgeted.get("/api/jobs", params={"q": many_tagged, "limit": 2}).json()
        assert body["total"] is None and body["total_capped"] is False
        assert len(body["jobs"]) == 2 and body["next_cursor"]
        # A first page that holds every match knows its total without counting.
        key = f"{many_tagged}-{COUNT_CAP + 4}"  # the only key it is a part of
        body = budgeted.get("/api/jobs", params={"q": key, "limit": 50}).json()
        assert [j["idempotency_key"] for j in body["jobs"]] == [key]
        assert body["total"] == 1 and body["next_cursor"] is None


def test_malformed_json_is_400(client):
    response = client.post(
        "/api/jobs", content=b'{"name": "sendEmail",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_body_that_is_not_json_is_415(client):
    response = client.post(
        "/api/jobs",
        content=b"name=sendEmail",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["error"]["message"]


def test_body_over_the_limit_is_413_whether_announced_or_streamed(client, queue_uri):
    before, queued = Job.objects.count(), queued_messages(queue_uri)
    big = email(body="x" * (1024 * 1024))
    announced = client.post("/api/jobs", json=big)
    assert announced.status_code == 413
    assert "over the limit of 1048576 bytes" in announced.json()["error"]["message"]

    def chunks():
        yield b'{"name": "sendEmail", "data": {"body": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}}'

    streamed = client.post(
        "/api/jobs", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert Job.objects.count() == before and queued_messages(queue_uri) == queued


def test_wrong_method_is_405_in_the_envelope(client):
    response = client.put("/api/jobs", json={})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["allow"] == "GET, POST"


def test_api_answers_over_real_http(web_url, admin_token):
    """The same API from the session's real web process (uvicorn), not only in-process."""
    response = httpx.get(f"{web_url}/api/jobs", headers=bearer(admin_token), timeout=30)
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"


def test_unknown_api_path_is_404_in_the_envelope(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert "see /api/docs" in response.json()["error"]["message"]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00", "9999-12-31T23:59:59"])
def test_time_filters_beyond_what_ids_can_hold_are_answered(client, moment):
    for bound in ("created_after", "created_before"):
        assert client.get("/api/jobs", params={bound: moment}).status_code == 200


def test_a_first_page_filtered_by_state_and_type_takes_its_total_from_the_counters(client):
    def counted() -> int:
        return client.get("/api/stats").json()["by_type"].get("sendEmail", {}).get("queued", 0)

    before = counted()
    response = client.post("/api/jobs/batch", json={"jobs": [email() for _ in range(3)]})
    assert response.status_code == 201, response.text
    wait_until(lambda: counted() == before + 3, message="the counters to hold the batch")
    stored("queued", "uncounted")  # written past the engine: the counters do not know it

    body = client.get("/api/jobs", params={"state": "queued", "name": "sendEmail", "limit": 1})
    page = body.json()
    assert page["total"] == before + 3 and page["total_capped"] is False
    assert page["next_cursor"] and len(page["jobs"]) == 1


def test_a_callers_key_can_never_name_another_callers_job(client):
    """A job without a key gets one of the platform's own prefix, which no caller may use,
    so guessing a job's id (or its key) never returns that job to someone else."""
    mine = client.post("/api/jobs", json=email()).json()
    assert mine["idempotency_key"] == f"job:{mine['id']}"

    own = client.post("/api/jobs", json={**email(), "idempotency_key": f"job:{mine['id']}"})
    assert own.status_code == 422 and "idempotency_key" in own.json()["error"]["details"]
    by_id = client.post("/api/jobs", json={**email(), "idempotency_key": mine["id"]})
    assert by_id.status_code == 201 and by_id.json()["id"] != mine["id"]


def test_a_listed_job_reads_as_the_job_itself_without_its_attempts(client):
    """Pages are described from the stored documents, a single job from its `Job`: both
    must show the same job, progress and result included."""
    tag = f"same-{uuid.uuid4().hex[:8]}"
    at = utcnow()
    job = stored(
        "dead",
        tag,
        attempt_count=2,
        max_attempts=2,
        error="PermanentError: no",
        result={"sent": [1, 2]},
        started_at=at,
        finished_at=at,
        workflow_id=ObjectId(),
        step_key="send",
        progress={"done": 1, "total": 2, "message": "half", "at": at, "attempt": 2},
        attempts=[
            {
                "number": n,
                "worker": "w1",
                "started_at": at,
                "outcome": "failed",
                "error_type": "PermanentError",
                "traceback": "Traceback ...",
                "requeued": n == 2,
                "log": [{"level": "info", "at": at, "message": f"try {n}"}],
            }
            for n in (1, 2)
        ],
    )
    listed = client.get("/api/jobs", params={"q": tag}).json()["jobs"]
    whole = client.get(f"/api/jobs/{job.id}").json()
    assert [row["id"] for row in listed] == [str(job.id)]
    assert whole["attempts"][1]["requeued"] and whole["attempts"][0]["log"][0]["message"] == "try 1"
    without = {k: v for k, v in whole.items() if k not in ("attempts", "live_log")}
    assert listed[0] == {**without, "attempts": None, "live_log": None}


def test_a_stored_job_without_its_defaulted_fields_is_listed_with_their_defaults(client):
    """A document written before a field existed (or by hand) lacks it; it reads as MongoEngine
    reads it, with the field's default, both listed and alone."""
    tag = f"bare-{uuid.uuid4().hex[:8]}"
    bare = (
        Job._get_collection()
        .insert_one(
            {"type": "sendEmail", "state": "dead", "created_by": tag, "created_at": utcnow()}
        )
        .inserted_id
    )
    listed = client.get("/api/jobs", params={"q": tag}).json()["jobs"]
    whole = client.get(f"/api/jobs/{bare}").json()
    expected = {"queue": "default", "priority": 0, "attempt_count": 0, "max_attempts": 3}
    assert {k: listed[0][k] for k in expected} == expected
    assert {k: whole[k] for k in expected} == expected
    assert listed[0]["data"] == whole["data"] == {}
