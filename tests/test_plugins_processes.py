"""Broken plugins next to good ones in real web and worker processes.

The processes start, /health and /api/plugins report each failure with its reason, the
good plugin's jobs run on the worker, and its `on_job_event` sees every transition.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, start_web, start_worker, stop
from tests.fake_plugins import BROKEN, EXPECTED_ERRORS, write_manifest, write_plugins
from tests.helpers import run_cli, wait_until


@dataclass
class Platform:
    url: str
    env: dict[str, str]
    events: Path
    queue: str


@pytest.fixture(scope="module")
def platform(platform_env, tmp_path_factory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("fake-plugins")
    write_plugins(root)
    queue = f"echo-{uuid.uuid4().hex[:8]}"  # no other worker of the session serves it
    env = {
        **platform_env,
        "PYTHONPATH": str(root),
        "EVENTS_FILE": str(root / "events.jsonl"),
        "PLUGINS_FILE": str(write_manifest(root / "plugins.toml", queue)),
    }
    web, url = start_web(env, root / "web.log")
    try:
        worker = start_worker(env, root / "worker.log")
    except BaseException:
        stop(web)
        raise
    yield Platform(url, env, root / "events.jsonl", queue)
    stop(worker)
    stop(web)


@pytest.fixture(scope="module")
def client(platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.url, timeout=30) as client:
        token = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


def events_of(platform: Platform, job_id: str) -> list[str]:
    lines = platform.events.read_text().splitlines() if platform.events.exists() else []
    return [e["kind"] for e in map(json.loads, lines) if e["job_id"] == job_id]


def run_to_end(client: httpx.Client, data: dict) -> dict:
    response = client.post("/api/jobs", json={"name": "echo", "data": data})
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    return wait_until(
        lambda: (
            (j := client.get(f"/api/jobs/{job_id}").json())["state"] in ("succeeded", "dead") and j
        ),
        timeout=60,
        message="job to finish",
    )


def test_health_shows_failed_plugins_and_stays_up(platform):
    assert httpx.get(f"{platform.url}/health").status_code == 200

    ready = httpx.get(f"{platform.url}/health/ready")

    assert ready.status_code == 200, ready.text
    plugins = ready.json()["checks"]["plugins"]
    assert plugins["status"] == "degraded"
    assert set(plugins["failed"]) == set(BROKEN) - {"observer_raises"}


def test_api_plugins_reports_each_reason(platform, client):
    assert httpx.get(f"{platform.url}/api/plugins").status_code == 401

    plugins = {p["name"]: p for p in client.get("/api/plugins").json()["plugins"]}

    for name, reason in EXPECTED_ERRORS.items():
        assert plugins[name]["status"] == "failed"
        assert reason in plugins[name]["error"]
    assert plugins["echo"] == {
        "name": "echo",
        "version": "0.1",
        "status": "loaded",
        "source": "fakeplug-echo (fakeplug_echo)",
        "error": None,
        "job_types": ["echo"],
    }
    assert plugins["email"]["job_types"] == ["sendEmail"]


def test_api_job_types_lists_the_good_ones_with_overrides(platform, client):
    types = {t["name"]: t for t in client.get("/api/job-types").json()["job_types"]}

    assert {"echo", "sendEmail"} <= set(types)
    assert not {"badSchema", "limited"} & set(types)
    echo = types["echo"]
    assert echo["plugin"] == "echo"
    assert echo["queue"] == platform.queue
    assert echo["retry"] == {
        "max_attempts": 3,
        "initial_delay": 0.2,
        "backoff_factor": 2.0,
        "max_delay": 300.0,
        "jitter": 0,
    }
    assert echo["schema"]["text"] == {"type": "string", "required": True}


def test_retried_job_fires_every_event_in_order(platform, client):
    job = run_to_end(client, {"text": "hi", "succeed_on_attempt": 2})

    assert (job["state"], job["attempt_count"]) == ("succeeded", 2)
    assert job["result"] == {"echo": "hi", "attempt": 2}
    assert [a["outcome"] for a in job["attempts"]] == ["failed", "succeeded"]
    assert "attempt 1 fails on purpose" in job["attempts"][0]["error_message"]
    kinds = wait_until(
        lambda: len(k := events_of(platform, job["id"])) == 6 and k,
        timeout=10,
        message="six events",
    )
    # `queued` is written by the web process, the rest in order by the worker.
    assert kinds.count("queued") == 1
    assert [k for k in kinds if k != "queued"] == [
        "started",
        "failed",
        "retrying",
        "started",
        "succeeded",
    ]


def test_permanent_failure_dies_at_once(platform, client):
    job = run_to_end(client, {"text": "x", "permanent": True})

    assert (job["state"], job["attempt_count"]) == ("dead", 1)
    assert "asked to fail for good" in job["error"]
    kinds = wait_until(
        lambda: len(k := events_of(platform, job["id"])) == 4 and k,
        timeout=10,
        message="four events",
    )
    assert sorted(kinds) == ["dead", "failed", "queued", "started"]


def test_cancelled_job_fires_cancelled(platform, client):
    job_id = client.post(
        "/api/jobs", json={"name": "echo", "data": {"text": "later"}, "delay": 300}
    ).json()["id"]

    cancelled = client.post(f"/api/jobs/{job_id}/cancel")

    assert cancelled.json()["state"] == "cancelled"
    assert events_of(platform, job_id) == ["queued", "cancelled"]


def test_plugins_list_command_shows_every_column(platform):
    listing = run_cli("plugins", "list", env=platform.env)

    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "STATUS", "JOB", "TYPES"]
    echo = lines.index(next(line for line in lines if line.startswith("echo ")))
    assert lines[echo].split() == ["echo", "0.1", "loaded", "echo"]
    assert lines[echo + 1].split() == ["source:", "fakeplug-echo", "(fakeplug_echo)"]
    twin = lines.index(next(line for line in lines if line.startswith("twin ")))
    assert lines[twin].split() == ["twin", "0.1", "failed", "-"]
    assert lines[twin + 2].split(maxsplit=1) == [
        "error:",
        "job type 'echo' is already registered by plugin 'echo'",
    ]
