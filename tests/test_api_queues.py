"""/api/queues (list, pause, resume), POST /api/jobs/{id}/run-now and POST /api/jobs/clean,
on an app of their own (a MongoDB database and a Redis database no worker of theirs reads):
what each answers, who may call them, and bad input answered in the envelope with nothing
changed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from bson import ObjectId
from mongoengine.connection import get_db

from jobplatform.jobs.cleaning import DELETE_BATCH
from jobplatform.jobs.models import Job, utcnow
from jobplatform.jobs.queue_controls import PAUSED
from jobplatform.jobs.stats import counts_by_type, recount
from tests.api_app import app_client, bearer, login, new_user
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import object_id_at


@pytest.fixture(scope="module")
def client(mongo_server, private_redis, tmp_path_factory):
    mongo = f"{mongo_server}jp_queues_{uuid.uuid4().hex[:8]}"
    with app_client(mongo, private_redis(), tmp_path_factory.mktemp("queues")) as c:
        c.headers.update(bearer(login(c, "admin", ADMIN_PASSWORD)["access_token"]))
        yield c


@pytest.fixture(scope="module")
def viewer(client) -> dict[str, str]:
    username, password = new_user(client, client.headers["Authorization"][7:], "viewer")
    return bearer(login(client, username, password)["access_token"])


@pytest.fixture(scope="module")
def operator(client) -> dict[str, str]:
    username, password = new_user(client, client.headers["Authorization"][7:], "operator")
    return bearer(login(client, username, password)["access_token"])


def email(**options) -> dict:
    return {"name": "sendEmail", "data": {"recipient": "a@example.com", "subject": "Hi"}, **options}


def queue_row(client, name: str = "email") -> dict:
    response = client.get("/api/queues")
    assert response.status_code == 200, response.text
    return {row["name"]: row for row in response.json()["queues"]}[name]


def paused_documents() -> list[dict]:
    return list(get_db()[PAUSED].find())


def test_queues_lists_each_queue_of_a_job_type_with_its_jobs(client, viewer):
    client.post("/api/jobs", json=email())
    client.post("/api/jobs", json=email(delay=3600))
    client.app.state.services.jobs.stats.flush()

    response = client.get("/api/queues", headers=viewer)  # everyone reads

    assert response.status_code == 200, response.text
    [row] = [r for r in response.json()["queues"] if r["name"] == "email"]
    assert row["job_types"] == ["sendEmail"]
    assert row["waiting"] >= 1 and row["scheduled"] >= 1
    assert (row["paused"], row["paused_by"], row["paused_at"]) == (False, None, None)


def test_an_operator_pauses_and_resumes_a_queue(client, operator):
    paused = client.post("/api/queues/email/pause", headers=operator)
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] and paused.json()["paused_by"].startswith("operator-")
    assert paused.json()["paused_at"].endswith("Z")
    again = client.post("/api/queues/email/pause")  # a second pause keeps the first
    assert again.json()["paused_by"] == paused.json()["paused_by"]
    assert queue_row(client)["paused"]

    resumed = client.post("/api/queues/email/resume", headers=operator)
    assert resumed.status_code == 200 and not resumed.json()["paused"]
    assert client.post("/api/queues/email/resume").json()["paused"] is False  # no-op
    assert paused_documents() == []


def test_pausing_an_unknown_queue_is_404_and_changes_nothing(client):
    for action in ("pause", "resume"):
        response = client.post(f"/api/queues/no-such-queue/{action}")
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert error["code"] == "not_found"
        assert "no job type uses a queue named 'no-such-queue'" in error["message"]
        assert error["details"] == {"known": ["email", "webhooks"]}  # sendEmail, webhook.deliver
    assert paused_documents() == []


def test_a_viewer_may_not_pause_run_now_or_clean(client, viewer):
    job = client.post("/api/jobs", json=email(delay=3600)).json()
    for path, body in (
        ("/api/queues/email/pause", None),
        (f"/api/jobs/{job['id']}/run-now", None),
        ("/api/jobs/clean", {"dry_run": False}),
    ):
        response = client.post(path, json=body, headers=viewer)
        assert response.status_code == 403, (path, response.text)
    assert paused_documents() == []
    assert client.get(f"/api/jobs/{job['id']}").json()["state"] == "scheduled"


def test_run_now_makes_a_scheduled_job_queued_once(client):
    job = client.post("/api/jobs", json=email(delay=3600)).json()

    response = client.post(f"/api/jobs/{job['id']}/run-now")

    assert response.status_code == 200, response.text
    assert (response.json()["state"], response.json()["run_at"]) == ("queued", None)
    again = client.post(f"/api/jobs/{job['id']}/run-now")
    assert again.status_code == 409
    assert "job is queued; only scheduled or retrying jobs" in again.json()["error"]["message"]


def stored(state: str, job_type: str = "sendEmail", finished_ago: timedelta | None = None):
    """A job written straight to the history, as a worker would have left it; a finished
    one was created when it finished."""
    now = utcnow()
    created = now - finished_ago if finished_ago is not None else now
    document = {
        "_id": object_id_at(created),
        "type": job_type,
        "state": state,
        "queue": "email",
        "data": {},
        "idempotency_key": f"stored-{uuid.uuid4().hex}",
        "attempt_count": 1 if state != "queued" else 0,
        "attempts": [],
        "max_attempts": 3,
        "created_at": created,
        "updated_at": created,
    }
    if finished_ago is not None:
        document["finished_at"] = now - finished_ago
    return Job._get_collection().insert_one(document).inserted_id


@pytest.mark.parametrize(
    "job_id", ["000000000000000000000000", "not-an-id"], ids=["unknown", "malformed"]
)
def test_run_now_on_an_unknown_job_is_404(client, job_id):
    response = client.post(f"/api/jobs/{job_id}/run-now")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_run_now_on_a_finished_or_due_job_is_409_and_changes_nothing(client):
    succeeded = stored("succeeded", finished_ago=timedelta(0))
    due = stored("retrying")
    Job.objects(id=due).update_one(set__run_at=utcnow())
    for job_id, reason in (
        (succeeded, "job is succeeded; only scheduled or retrying jobs can be run now"),
        (due, "job is due already; it runs as soon as a worker of queue 'email' takes it"),
    ):
        before = Job._get_collection().find_one({"_id": job_id})
        response = client.post(f"/api/jobs/{job_id}/run-now")
        assert response.status_code == 409, response.text
        assert response.json()["error"]["message"] == reason
        assert Job._get_collection().find_one({"_id": job_id}) == before


def recount_now(client) -> None:
    """Make the counters equal to the jobs (the app's buffered changes flushed first)."""
    client.app.state.services.jobs.stats.flush()
    recount()


def truth() -> dict[str, dict[str, int]]:
    """Jobs by type and state, counted from the jobs themselves."""
    counted: dict[str, dict[str, int]] = {}
    for row in Job._get_collection().aggregate(
        [{"$group": {"_id": {"type": "$type", "state": "$state"}, "n": {"$sum": 1}}}]
    ):
        counted.setdefault(row["_id"]["type"], {})[row["_id"]["state"]] = row["n"]
    return counted


def counters(client) -> dict[str, dict[str, int]]:
    """The engine's counters, as the stats read them, without the zeros."""
    client.app.state.services.jobs.stats.flush()
    by_type = {t: {s: n for s, n in c.items() if n} for t, c in counts_by_type().items()}
    return {t: c for t, c in by_type.items() if c}


def remaining(ids: list[ObjectId]) -> set[ObjectId]:
    return {doc["_id"] for doc in Job._get_collection().find({"_id": {"$in": ids}}, {"_id": 1})}


def test_clean_deletes_exactly_the_matching_finished_jobs_and_keeps_the_counters(client):
    kind = f"cleanable-{uuid.uuid4().hex[:6]}"
    day, hour = timedelta(days=1), timedelta(hours=1)
    matching = [stored("dead", kind, day) for _ in range(DELETE_BATCH + 7)]  # two batches
    kept = [
        stored("dead", kind, timedelta(minutes=5)),  # too recent
        stored("dead", "sendEmail", day),  # another type
        stored("succeeded", kind, day),  # another state
        stored("cancelled", kind, day),
        stored("queued", kind),  # not finished, whatever the filter
        stored("running", kind),
        stored("retrying", kind),
    ]
    recount_now(client)  # the counters start equal to the jobs
    request = {"state": "dead", "type": kind, "older_than_seconds": hour.total_seconds()}

    dry = client.post("/api/jobs/clean", json={**request, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json() == {"dry_run": True, "deleted": 0, "would_delete": len(matching)}
    assert remaining(matching + kept) == set(matching + kept)

    done = client.post("/api/jobs/clean", json=request)

    assert done.status_code == 200, done.text
    assert done.json() == {"dry_run": False, "deleted": len(matching), "would_delete": None}
    assert remaining(matching + kept) == set(kept)
    assert counters(client) == truth()
    assert counters(client)[kind] == {"dead": 1, "succeeded": 1, "cancelled": 1} | {
        "queued": 1,
        "running": 1,
        "retrying": 1,
    }


def test_clean_without_a_state_takes_every_finished_state_of_the_type(client):
    kind = f"cleanable-{uuid.uuid4().hex[:6]}"
    finished = [stored(state, kind, timedelta(0)) for state in ("succeeded", "dead", "cancelled")]
    waiting = stored("scheduled", kind)
    recount_now(client)

    done = client.post("/api/jobs/clean", json={"type": kind})

    assert done.json()["deleted"] == 3
    assert remaining([*finished, waiting]) == {waiting}
    assert counters(client) == truth()


def test_clean_older_than_ids_can_tell_deletes_nothing(client):
    """An age reaching before 1970, where ObjectIds begin, matches no job (and is no
    error)."""
    kind = f"cleanable-{uuid.uuid4().hex[:6]}"
    job = stored("dead", kind, timedelta(days=1))
    request = {"type": kind, "older_than_seconds": 90 * 365 * 86400}

    for dry_run in (True, False):
        done = client.post("/api/jobs/clean", json={**request, "dry_run": dry_run})
        assert done.status_code == 200, done.text
        assert done.json()["deleted"] == 0 and done.json()["would_delete"] in (0, None)
    assert remaining([job]) == {job}


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"state": "queued"}, "state", "'queued' is not finished, and only finished jobs"),
        ({"state": "running"}, "state", "'running' is not finished, and only finished jobs"),
        ({"state": "waiting"}, "state", "'waiting' is not a job state"),
        ({"state": "bogus"}, "state", "'bogus' is not a job state"),
        ({"older_than_seconds": -1}, "older_than_seconds", "greater than or equal to 0"),
        ({"older_than_seconds": "soon"}, "older_than_seconds", "valid number"),
        ({"type": ""}, "type", "at least 1 character"),
        ({"name": "sendEmail"}, "name", "Extra inputs are not permitted"),
        ({"states": ["dead"]}, "states", "Extra inputs are not permitted"),
    ],
)
def test_clean_refuses_bad_input_and_deletes_nothing(client, body, field, text):
    job = stored("dead", "sendEmail", timedelta(days=1))
    total = Job.objects.count()

    response = client.post("/api/jobs/clean", json=body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert any(text in message for message in error["details"][field]), error
    assert Job.objects.count() == total and remaining([job]) == {job}


def test_clean_refuses_infinity_and_nan(client):
    total = Job.objects.count()
    for value in ("Infinity", "NaN", "1e400"):
        response = client.post(
            "/api/jobs/clean",
            content=f'{{"older_than_seconds": {value}}}',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code in (400, 422), (value, response.text)
    assert Job.objects.count() == total
