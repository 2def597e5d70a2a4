"""JSON logs and Prometheus metrics of a real web process and a real worker.

The module runs its own web and worker in production mode against a private Redis (so no
other worker takes its jobs) and an SMTP server that accepts some recipients, defers
`busy@` ones (451, retried) and refuses `nobody@` ones (550, dead at once). Then it reads
the processes' JSON log lines and scrapes both `/metrics` endpoints.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobplatform.devservices import RedisServer, free_port, wait_for_port
from tests.conftest import ADMIN_PASSWORD, ROOT, smtp_on_loopback, start_web, start_worker, stop
from tests.helpers import wait_until

METRICS_TOKEN = "test-metrics-token-0123456789"


class PickySmtp:
    """Accepts mail, except that it defers busy@ and refuses nobody@ recipients."""

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if address.startswith("busy@"):
            return "451 4.3.0 mailbox busy, try later"
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        return "250 OK"


@dataclass
class Platform:
    url: str
    worker_metrics_url: str
    web_log: Path
    worker_log: Path
    log_file: Path
    client: httpx.Client


@pytest.fixture(scope="module")
def platform(platform_env, mongo_server, tmp_path_factory) -> Iterator[Platform]:
    tmp = tmp_path_factory.mktemp("ops")
    redis = RedisServer(tmp / "redis").start()
    smtp = ExitStack()
    smtp_port = smtp.enter_context(smtp_on_loopback(PickySmtp()))
    manifest = tmp / "plugins.toml"
    manifest.write_text(
        (ROOT / "plugins.toml").read_text() + "\n[job_types.sendEmail]\n"
        "retry = { max_attempts = 2, initial_delay = 0.2, jitter = 0 }\n"
    )
    metrics_port = free_port()
    env = {
        **platform_env,
        "APP_ENV": "production",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "REDIS_URI": redis.uri,
        "MONGO_URI": f"{mongo_server}jp_ops_{uuid.uuid4().hex[:8]}",
        "SMTP_PORT": str(smtp_port),
        "PLUGINS_FILE": str(manifest),
        "METRICS_TOKEN": METRICS_TOKEN,
        "WORKER_METRICS_PORT": str(metrics_port),
    }
    web_log, worker_log = tmp / "web.out", tmp / "worker.out"
    processes: list[subprocess.Popen] = []
    try:
        processes.append(start_worker(env, worker_log))
        wait_for_port(metrics_port, timeout=30, process=processes[0])
        web, url = start_web({**env, "LOG_FILE": str(tmp / "logs" / "web.jsonl")}, web_log)
        processes.append(web)
        client = httpx.Client(base_url=url, timeout=30)
        login = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield Platform(
            url,
            f"http://127.0.0.1:{metrics_port}",
            web_log,
            worker_log,
            tmp / "logs" / "web.jsonl",
            client,
        )
    finally:
        for process in processes:
            stop(process)
        smtp.close()
        redis.stop()


def json_lines(path: Path) -> list[dict]:
    """The JSON log lines a process wrote (other output, such as `print`, is skipped)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def submit(platform: Platform, recipient: str, request_id: str | None = None) -> str:
    headers = {"X-Request-ID": request_id} if request_id else {}
    response = platform.client.post(
        "/api/jobs",
        headers=headers,
        json={
            "name": "sendEmail",
            "data": {"recipient": recipient, "subject": "Hi", "body": "Hello"},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def wait_for_state(platform: Platform, job_id: str, state: str) -> dict:
    return wait_until(
        lambda: (
            (job := platform.client.get(f"/api/jobs/{job_id}").json())["state"] == state and job
        ),
        timeout=60,
        message=f"job {job_id} {state}",
    )


def scrape(url: str, token: str | None = METRICS_TOKEN) -> dict[tuple[str, tuple], float]:
    """Samples of a /metrics page as {(name, sorted labels): value}."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def by_type(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted({"type": "sendEmail", **labels}.items()))), 0.0)


@pytest.fixture(scope="module")
def finished_jobs(platform) -> dict[str, str]:
    """Two jobs that succeed, one deferred until it dies, one refused; all finished."""
    jobs = {
        "ok1": submit(platform, "a@example.com"),
        "ok2": submit(platform, "b@example.com"),
        "busy": submit(platform, "busy@example.com"),
        "nobody": submit(platform, "nobody@example.com"),
    }
    for name, job_id in jobs.items():
        wait_for_state(platform, job_id, "succeeded" if name.startswith("ok") else "dead")
    return jobs


def test_request_id_is_on_the_web_log_lines_and_the_response(platform):
    job_id = submit(platform, "c@example.com", request_id="trace-abc-123")

    def request_lines() -> list[dict]:
        return [
            line
            for line in json_lines(platform.web_log)
            if line.get("request_id") == "trace-abc-123"
        ]

    wait_until(
        lambda: any(line["logger"] == "jobplatform.http" for line in request_lines()),
        timeout=10,
        message="the request's access line",
    )  # written once it is answered
    lines = request_lines()
    access = [line for line in lines if line["logger"] == "jobplatform.http"]
    assert access[0]["path"] == "/api/jobs" and access[0]["status"] == 201
    assert access[0]["level"] == "INFO" and access[0]["ts"].endswith("Z")
    queued = [line for line in lines if line.get("event") == "queued"]
    assert queued and queued[0]["job_id"] == job_id  # the request's id ties it to its job
    wait_for_state(platform, job_id, "succeeded")  # so the metrics test counts it as done

    response = platform.client.get("/api/jobs", headers={"X-Request-ID": "bad id with spaces"})
    assert response.headers["X-Request-ID"] not in ("", "bad id with spaces")
    made = response.headers["X-Request-ID"]
    assert len(made) == 32
    wait_until(
        lambda: any(line.get("request_id") == made for line in json_lines(platform.web_log)),
        timeout=10,
        message="log line with the generated id",
    )


def test_log_file_gets_the_same_json_lines(platform):
    wait_for_state(
        platform, submit(platform, "d@example.com", request_id="trace-to-file"), "succeeded"
    )
    wait_until(
        lambda: (
            platform.log_file.exists()
            and any(
                line.get("request_id") == "trace-to-file" for line in json_lines(platform.log_file)
            )
        ),
        timeout=10,
        message="the request in LOG_FILE",
    )


def test_worker_log_lines_carry_job_id_type_and_attempt(platform, finished_jobs):
    lines = json_lines(platform.worker_log)
    busy = [line for line in lines if line.get("job_id") == finished_jobs["busy"]]
    events = [(line["event"], line["attempt"]) for line in busy]
    assert events == [
        ("started", 1),
        ("failed", 1),
        ("retrying", 1),
        ("started", 2),
        ("failed", 2),
        ("dead", 2),
    ]
    assert {line["job_type"] for line in busy} == {"sendEmail"}
    assert "451" in busy[1]["error"] and busy[1]["level"] == "WARNING"
    ok = [line for line in lines if line.get("job_id") == finished_jobs["ok1"]]
    assert [line["event"] for line in ok] == ["started", "succeeded"]
    assert ok[1]["duration_ms"] > 0


def test_metrics_count_the_jobs_in_the_process_where_they_happened(platform, finished_jobs):
    web = scrape(f"{platform.url}/metrics")
    worker = scrape(f"{platform.worker_metrics_url}/metrics")
    submitted = by_type(web, "jobplatform_jobs_submitted_total")
    assert submitted >= 4  # earlier tests in this module submit a few more
    assert by_type(worker, "jobplatform_jobs_submitted_total") == 0  # counted once, in web

    done = by_type(worker, "jobplatform_jobs_succeeded_total")
    assert done == submitted - 2  # every job succeeds but busy@ and nobody@
    assert by_type(worker, "jobplatform_jobs_failed_total") == 3  # busy twice, nobody once
    assert by_type(worker, "jobplatform_jobs_retried_total") == 1  # busy, after attempt 1
    assert by_type(worker, "jobplatform_jobs_dead_total") == 2
    assert (
        by_type(worker, "jobplatform_job_attempt_duration_seconds_count", outcome="succeeded")
        == done
    )
    assert by_type(worker, "jobplatform_job_attempt_duration_seconds_count", outcome="failed") == 3
    assert by_type(web, "jobplatform_jobs_succeeded_total") == 0

    posts = web[
        (
            "jobplatform_http_requests_total",
            (("method", "POST"), ("route", "/api/jobs"), ("status", "201")),
        )
    ]
    assert posts == submitted
    reads = web[
        (
            "jobplatform_http_request_duration_seconds_count",
            (("method", "GET"), ("route", "/api/jobs/{job_id}")),
        )
    ]
    assert reads >= 4  # polled by route template, not one series per job id
    assert not any(dict(labels).get("route", "").startswith("/api/jobs/6") for _, labels in web)
    assert web[("jobplatform_queue_depth", (("queue", "email"),))] == 0
    assert web[("jobplatform_workers_alive", ())] == 1


def test_retry_by_hand_counts_in_the_web_process(platform, finished_jobs):
    before = by_type(scrape(f"{platform.url}/metrics"), "jobplatform_jobs_retried_total")
    response = platform.client.post(f"/api/jobs/{finished_jobs['nobody']}/retry")
    assert response.status_code == 200, response.text
    wait_for_state(platform, finished_jobs["nobody"], "dead")
    assert (
        by_type(scrape(f"{platform.url}/metrics"), "jobplatform_jobs_retried_total") == before + 1
    )
    worker = wait_until(
        lambda: (
            (w := scrape(f"{platform.worker_metrics_url}/metrics"))
            and by_type(w, "jobplatform_jobs_dead_total") == 3
            and w
        ),
        timeout=10,
        message="the second death counted",
    )
    assert by_type(worker, "jobplatform_jobs_failed_total") == 4


def test_metrics_need_the_token(platform):
    for url in (f"{platform.url}/metrics", f"{platform.worker_metrics_url}/metrics"):
        for token in (None, "wrong-token"):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = httpx.get(url, headers=headers)
            assert response.status_code == 401
            assert "METRICS_TOKEN" in response.text
            assert "jobplatform_" not in response.text
    assert httpx.get(f"{platform.worker_metrics_url}/health").text == "ok\n"
