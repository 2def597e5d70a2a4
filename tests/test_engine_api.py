"""GET /api/stats and GET /api/workers against the session's real web and worker processes."""

from __future__ import annotations

import uuid

import httpx

from tests.helpers import wait_until


def test_workers_lists_the_live_worker_with_its_queues(api, worker):
    listed = wait_until(
        lambda: [w for w in api.get("/api/workers").json()["workers"] if w["pid"] == worker.pid],
        message="the worker's heartbeat",
    )
    [me] = listed
    assert "email" in me["queues"] and "default" in me["queues"]
    assert me["concurrency"] == 4
    assert me["seen_at"].endswith("Z")


def test_stats_count_a_delivered_email_and_show_queues_and_workers(api, worker):
    before = api.get("/api/stats").json()["by_type"].get("sendEmail", {}).get("succeeded", 0)
    job = api.post(
        "/api/jobs",
        json={
            "name": "sendEmail",
            "data": {
                "recipient": "stats@example.com",
                "subject": f"Stats {uuid.uuid4().hex[:6]}",
                "body": "counted",
            },
        },
    ).json()

    def counted():
        stats = api.get("/api/stats").json()
        return (
            api.get(f"/api/jobs/{job['id']}").json()["state"] == "succeeded"  # this job
            and stats["by_type"].get("sendEmail", {}).get("succeeded", 0) > before
            and stats["last_hour"]["totals"]["succeeded"] >= 1
            and stats
        )

    stats = wait_until(counted, message="the counters to include the delivered email")

    assert api.get(f"/api/jobs/{job['id']}").json()["state"] == "succeeded"
    assert stats["by_state"]["succeeded"] >= 1
    assert len(stats["last_hour"]["minutes"]) == 60
    assert {"pending", "scheduled"} <= set(stats["queues"]["email"])
    assert worker.pid in [w["pid"] for w in stats["workers"]]


def test_stats_need_a_login(web_url):
    response = httpx.get(f"{web_url}/api/stats")
    assert response.status_code == 401
    assert response.json()["error"]["code"]
