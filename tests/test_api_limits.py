"""GET /api/job-types and GET /api/queues show each job type's rate and concurrency limits
and how many of its attempts hold a concurrency slot now, across all workers: on an app
of their own with the limited job types of tests/plugins/limits.py, on Redis and on the
queue file (no REDIS_URI, the limits counted in DATA_DIR)."""

from __future__ import annotations

import uuid

import pytest

from tests.api_app import app_client, bearer, login, new_user
from tests.conftest import ADMIN_PASSWORD

PLUGIN = "tests.plugins.limits"


@pytest.fixture(scope="module", params=["redis", "queue file"])
def client(request, mongo_server, private_redis, tmp_path_factory):
    mongo = f"{mongo_server}jp_limits_{uuid.uuid4().hex[:8]}"
    redis = private_redis() if request.param == "redis" else None
    data = tmp_path_factory.mktemp("api-limits")
    with app_client(mongo, redis, data, extra_plugins=PLUGIN) as c:
        admin = login(c, "admin", ADMIN_PASSWORD)["access_token"]
        username, password = new_user(c, admin, "viewer")  # everyone reads them
        c.headers.update(bearer(login(c, username, password)["access_token"]))
        yield c


def job_types(client) -> dict[str, dict]:
    response = client.get("/api/job-types")
    assert response.status_code == 200, response.text
    return {row["name"]: row for row in response.json()["job_types"]}


def limits_row(client) -> dict:
    response = client.get("/api/queues")
    assert response.status_code == 200, response.text
    return {row["name"]: row for row in response.json()["queues"]}["limits"]


def test_job_types_show_their_limits(client):
    listed = job_types(client)

    def limits(name: str) -> tuple:
        row = listed[name]
        return row["rate_limit"], row["concurrency_limit"], row["slots_taken"]

    assert limits("limits_rate") == ("5/s", None, None)
    assert limits("limits_pair") == (None, 2, 0)
    assert limits("limits_both") == ("4/s", 2, 0)
    assert limits("sendEmail") == (None, None, None)


def test_slots_taken_count_attempts_running_on_any_worker(client):
    store = client.app.state.services.limit_store
    assert store.acquire("limits_pair", "elsewhere", None, 2, 60) is None  # another worker's
    try:
        assert job_types(client)["limits_pair"]["slots_taken"] == 1
        by_type = {row["job_type"]: row for row in limits_row(client)["limits"]}
        assert by_type["limits_pair"] == {
            "job_type": "limits_pair",
            "rate_limit": None,
            "concurrency_limit": 2,
            "slots_taken": 1,
        }
    finally:
        store.release("limits_pair", "elsewhere")
    assert job_types(client)["limits_pair"]["slots_taken"] == 0


def test_queues_list_the_limits_of_their_job_types(client):
    row = limits_row(client)

    assert [limit["job_type"] for limit in row["limits"]] == [
        "limits_both",
        "limits_pair",
        "limits_rate",
        "limits_single",
    ]
    assert {r["name"]: r for r in client.get("/api/queues").json()["queues"]}["email"][
        "limits"
    ] == []
