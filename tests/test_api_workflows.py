"""/api/workflows: a submission is stored whole or refused whole with a 422 naming each bad
step or edge; the list pages and the view of one workflow. No worker reads this Redis
database, so the steps stay as submitted."""

from __future__ import annotations

import pytest

from jobplatform.jobs.models import Job
from jobplatform.jobs.workflow_models import Workflow
from tests.api_app import app_client, bearer, login
from tests.conftest import ADMIN_PASSWORD


def mail(key: str, *after: str, **data) -> dict:
    return {
        "key": key,
        "name": "sendEmail",
        "data": {"recipient": "a@example.com", "subject": key, **data},
        "after": list(after),
    }


@pytest.fixture(scope="module")
def client(mongo_uri, private_redis, tmp_path_factory):
    with app_client(mongo_uri, private_redis(), tmp_path_factory.mktemp("workflows")) as client:
        client.headers.update(bearer(login(client, "admin", ADMIN_PASSWORD)["access_token"]))
        yield client


def stored_counts() -> tuple[int, int]:
    return Workflow.objects.count(), Job.objects.count()


def test_a_workflow_is_stored_with_roots_queued_and_the_rest_blocked(client):
    body = {"name": "welcome", "jobs": [mail("a"), mail("b", "a"), mail("c", "a", "b")]}

    response = client.post("/api/workflows", json=body)

    assert response.status_code == 201, response.text
    workflow = response.json()
    assert workflow["state"] == "running" and workflow["step_count"] == 3
    assert [(s["key"], s["state"], s["after"]) for s in workflow["steps"]] == [
        ("a", "queued", []),
        ("b", "blocked", ["a"]),
        ("c", "blocked", ["a", "b"]),
    ]
    assert workflow["edges"] == [["a", "b"], ["a", "c"], ["b", "c"]]
    again = client.get(f"/api/workflows/{workflow['id']}").json()
    assert again["steps"] == workflow["steps"]
    job = client.get(f"/api/jobs/{workflow['steps'][1]['job_id']}").json()
    assert job["state"] == "blocked"


@pytest.mark.parametrize(
    ("jobs", "field", "words"),
    [
        ([mail("a", "c"), mail("b", "a"), mail("c", "b")], "jobs.0.after", "cycle"),
        ([mail("a"), mail("b", "nope")], "jobs.1.after", "'nope'"),
        ([mail("a"), mail("a")], "jobs.1.key", "unique"),
        ([mail("a"), mail("b", "a", recipient="not an address")], "jobs.1.data.recipient", ""),
        ([mail("a"), {**mail("b", "a"), "name": "no.such.type"}], "jobs.1.name", "no.such.type"),
        ([mail("a"), {**mail("b", "a"), "max_attempts": 99}], "jobs.1.max_attempts", ""),
    ],
)
def test_a_bad_workflow_is_refused_whole_and_stores_nothing(client, jobs, field, words):
    before = stored_counts()

    response = client.post("/api/workflows", json={"name": "bad", "jobs": jobs})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["details"], error
    assert words in str(error["details"][field])
    assert stored_counts() == before


def test_the_list_pages_newest_first_and_filters_by_state(client):
    ids = [
        client.post("/api/workflows", json={"name": f"page {n}", "jobs": [mail("a")]}).json()["id"]
        for n in range(3)
    ]

    first = client.get("/api/workflows", params={"limit": 2, "name": "page 2"}).json()
    assert [w["id"] for w in first["workflows"]] == [ids[2]]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "state": "running", **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/workflows", params=params).json()
        seen += [w["id"] for w in page["workflows"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen.index(ids[2]) < seen.index(ids[1]) < seen.index(ids[0])
    assert client.get("/api/workflows", params={"state": "nope"}).status_code == 422
    assert client.get("/api/workflows", params={"cursor": "!!"}).status_code == 422


def test_cancel_cancels_every_step_and_a_second_cancel_is_a_conflict(client):
    body = {"name": "to cancel", "jobs": [mail("a"), mail("b", "a")]}
    workflow = client.post("/api/workflows", json=body).json()

    cancelled = client.post(f"/api/workflows/{workflow['id']}/cancel")

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert [s["state"] for s in cancelled.json()["steps"]] == ["cancelled", "cancelled"]
    assert client.post(f"/api/workflows/{workflow['id']}/cancel").status_code == 409
    assert client.get("/api/workflows/000000000000000000000000").status_code == 404
