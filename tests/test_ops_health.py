"""Health probes of a real web process, and its graceful stop.

`/health/ready` is checked against a private redis-server that the test stops and starts
again, and against a "hung Redis" (a socket that accepts and never answers), which also
keeps a request in flight while the web process is told to stop.
"""

from __future__ import annotations

import signal
import socket
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest

from jobplatform.devservices import RedisServer
from tests.api_app import app_client
from tests.conftest import start_web, start_worker, stop
from tests.helpers import wait_until


class HungServer:
    """Accepts TCP connections on loopback and never says a word, like a hung server."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("ready-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def web(platform_env, mongo_server, redis_server, tmp_path_factory) -> Iterator[str]:
    """A web process and a worker on the private Redis and a database of their own."""
    env = {
        **platform_env,
        "REDIS_URI": redis_server.uri,
        "MONGO_URI": f"{mongo_server}jp_health_{uuid.uuid4().hex[:8]}",
    }
    logs = tmp_path_factory.mktemp("ready-web")
    worker = start_worker(env, logs / "worker.log")
    process, url = start_web(env, logs / "web.log")
    wait_until(
        lambda: httpx.get(f"{url}/health/ready").json()["checks"]["workers"]["status"] == "up",
        timeout=30,
        message="the worker's heartbeat",
    )
    yield url
    stop(process)
    stop(worker)


def test_ready_reports_each_part_with_its_latency(web):
    response = httpx.get(f"{web}/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready" and body["down"] == []
    for part in ("redis", "mongodb", "workers"):
        assert body["checks"][part]["status"] == "up"
        assert body["checks"][part]["latency_ms"] >= 0
    assert body["checks"]["workers"]["count"] == 1
    plugins = body["checks"]["plugins"]
    assert plugins["status"] in ("up", "degraded") and "sendEmail" in plugins["job_types"]
    assert body["memory_rss_mb"] > 0 and body["uptime_seconds"] >= 0


def test_redis_down_makes_ready_503_naming_redis_until_it_is_back(web, redis_server):
    redis_server.stop()
    try:
        response = httpx.get(f"{web}/health/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unready" and body["down"] == ["redis"]
        assert "Connection refused" in body["checks"]["redis"]["error"]
        assert body["checks"]["mongodb"]["status"] == "up"
        live = httpx.get(f"{web}/health")  # liveness: the process itself is fine
        assert live.status_code == 200 and live.json()["status"] == "ok"
    finally:
        redis_server.start()
    assert httpx.get(f"{web}/health/ready").status_code == 200


def test_sigterm_lets_the_in_flight_request_finish(platform_env, mongo_server, tmp_path):
    hung = HungServer()
    env = {
        **platform_env,
        "REDIS_URI": f"redis://127.0.0.1:{hung.port}/0",
        "MONGO_URI": f"{mongo_server}jp_stop_{uuid.uuid4().hex[:8]}",
    }
    log = tmp_path / "web.log"
    process, url = start_web(env, log)
    answers: list[httpx.Response] = []
    try:
        request = threading.Thread(
            target=lambda: answers.append(httpx.get(f"{url}/health/ready", timeout=30))
        )
        request.start()
        wait_until(lambda: hung.accepted, message="the readiness probe to reach the hung Redis")
        process.send_signal(signal.SIGTERM)
        wait_until(
            lambda: refuses_connections(url),
            timeout=10,
            message="the stopping web process to refuse new connections",
        )
        request.join(30)
        [answer] = answers  # the request that was in flight got its whole answer
        assert answer.status_code == 503
        checks = answer.json()["checks"]
        assert answer.json()["down"] == ["redis", "workers"]  # and no worker runs here
        assert "no answer within" in checks["redis"]["error"]
        assert "start one with `jobplatform worker`" in checks["workers"]["error"]
        # uvicorn re-raises SIGTERM once it has stopped in order, so the exit reads as SIGTERM
        assert process.wait(30) in (0, -signal.SIGTERM)
        stopping = log.read_text().split("Shutting down", 1)[1]
        assert "Waiting for connections to close" in stopping
        assert "Application shutdown complete" in stopping
    finally:
        stop(process)
        hung.close()


def refuses_connections(url: str) -> bool:
    """Whether a new request is turned away (refused, or reset while the server closes)."""
    try:
        httpx.get(f"{url}/health", timeout=2)
    except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
        return True
    return False


def test_one_machine_setup_reports_its_queue_file_and_missing_worker(mongo_server, tmp_path):
    """No REDIS_URI: the queue is a SQLite file; with no worker running, ready is 503."""
    database = f"{mongo_server}jp_lonely_{uuid.uuid4().hex[:8]}"
    with app_client(database, None, tmp_path) as client:
        response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["workers"]
    assert body["checks"]["queue_file"]["status"] == "up" and "redis" not in body["checks"]
    assert "no worker reported in the last 15s" in body["checks"]["workers"]["error"]
