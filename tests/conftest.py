"""Fixtures that start real services on free loopback ports, each in a temporary directory.

Redis and FerretDB are private processes for the session (or the servers named by
TEST_REDIS_URI / TEST_MONGO_URI). The SMTP server is aiosmtpd on loopback. The web and
worker processes are real `python -m jobplatform` subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from jobplatform.devservices import FerretDB, RedisServer, free_port, wait_for_port
from tests.helpers import ROOT, redis_database, wait_until

ADMIN_PASSWORD = "test-admin-password-0123456789"
# A test needs the machine's services when it asks for one of these, directly or not.
SERVICE_FIXTURES = frozenset({"redis_uri", "mongo_server", "smtp_server"})
JWT_SECRET = "test-jwt-secret-" + "x" * 40
# Settings of every test environment. Many tests log in from 127.0.0.1 within a minute, so the
# per-minute login limits are off (they are tested on apps of their own; the lockout stays on).
TEST_LIMITS = {
    "LOGIN_RATE_LIMIT_IP": "0",
    "LOGIN_RATE_LIMIT_USER": "0",
    "LIST_COUNT_BUDGET_MS": "0",  # totals must not depend on the machine's load
}
REDIS_DATABASES = 64
# what a worker prints once it serves its queues (a plain "ready" is also in "already")
WORKER_READY = " ready: queues "


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs Redis, FerretDB or SMTP `services`; the rest form
    `make test-unit`, which runs on a machine without them."""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def redis_uri(tmp_path_factory) -> Iterator[str]:
    """A private Redis server (its database 0), or TEST_REDIS_URI's: that server needs
    `databases 64` (REDIS_DATABASES) for `private_redis`."""
    if os.environ.get("TEST_REDIS_URI"):
        yield os.environ["TEST_REDIS_URI"]
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"), databases=REDIS_DATABASES).start()
    yield server.uri
    server.stop()


@pytest.fixture(scope="session")
def private_redis(redis_uri) -> Callable[[], str]:
    """Hands out Redis URIs on the session's server, each a database no other test uses:
    queues no other worker reads, rate limits and locks of its own. The session's own
    processes (web, worker) use database 0."""
    numbers = iter(range(1, REDIS_DATABASES))

    def allocate() -> str:
        number = next(numbers, None)
        assert number is not None, f"all {REDIS_DATABASES} Redis databases are handed out"
        return redis_database(redis_uri, number)

    return allocate


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory) -> Iterator[str]:
    """Base URI of a MongoDB-compatible server, without a database name."""
    if os.environ.get("TEST_MONGO_URI"):
        yield os.environ["TEST_MONGO_URI"].rstrip("/") + "/"
        return
    server = FerretDB(tmp_path_factory.mktemp("ferretdb")).start()
    yield server.uri
    server.stop()


@pytest.fixture(scope="session")
def mongo_uri(mongo_server) -> str:
    """A database of its own for this test session."""
    return f"{mongo_server}jp_{uuid.uuid4().hex[:10]}"


@dataclass
class SmtpRecorder:
    """What a real SMTP server on loopback received."""

    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def with_subject(self, subject: str) -> list[tuple[list[str], Message]]:
        with self.lock:
            return [(rcpt, m) for rcpt, m in self.messages if m["Subject"] == subject]


@contextmanager
def smtp_on_loopback(handler: object, **options: Any) -> Iterator[int]:
    """A real SMTP server (aiosmtpd) with `handler` on a free loopback port, for the
    block's length; `options` go to aiosmtpd's Controller (TLS, authentication)."""
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[SmtpRecorder, int]]:
    recorder = SmtpRecorder()
    with smtp_on_loopback(recorder) as port:
        yield recorder, port


@pytest.fixture(scope="session")
def platform_env(redis_uri, mongo_uri, smtp_server, tmp_path_factory) -> dict[str, str]:
    """Environment for web and worker subprocesses pointed at the session's services."""
    _, smtp_port = smtp_server
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "TEST_"))}
    env.update(
        APP_ENV="test",
        MONGO_URI=mongo_uri,
        REDIS_URI=redis_uri,
        JWT_SECRET=JWT_SECRET,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        DATA_DIR=str(tmp_path_factory.mktemp("data")),
        PLUGINS_FILE=str(ROOT / "plugins.toml"),
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_TLS="none",
        WORKER_CONCURRENCY="4",
        PYTHONUNBUFFERED="1",
        **TEST_LIMITS,
    )
    return env


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "jobplatform", *args],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_web(env: dict[str, str], log: Path, command: str = "web") -> tuple[subprocess.Popen, str]:
    """Start a web process (or `jobplatform api`) on a free port; return it and its URL
    once /health answers."""
    port = free_port()
    process = spawn([command], {**env, "PORT": str(port)}, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, timeout=60, process=process)
        wait_until(
            lambda: httpx.get(f"{url}/health").status_code in (200, 503),
            timeout=30,
            message="web /health",
        )
    except Exception:
        stop(process)
        raise AssertionError(f"{command} process did not start:\n{log.read_text()}") from None
    return process, url


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a worker process; return it once it says it is ready."""
    process = spawn(["worker"], env, log)
    wait_until(
        lambda: WORKER_READY in log.read_text() or process.poll() is not None,
        timeout=60,
        message="worker start",
    )
    assert process.poll() is None, f"worker exited:\n{log.read_text()}"
    return process


@pytest.fixture(scope="session")
def web_url(platform_env, tmp_path_factory) -> Iterator[str]:
    process, url = start_web(platform_env, tmp_path_factory.mktemp("web") / "web.log")
    assert httpx.get(f"{url}/health").status_code == 200, httpx.get(f"{url}/health").text
    yield url
    stop(process)


@pytest.fixture(scope="session")
def worker(platform_env, tmp_path_factory) -> Iterator[subprocess.Popen]:
    process = start_worker(platform_env, tmp_path_factory.mktemp("worker") / "worker.log")
    yield process
    stop(process)


@pytest.fixture(scope="session")
def admin_token(web_url) -> str:
    response = httpx.post(
        f"{web_url}/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def api(web_url, admin_token) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=web_url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30
    ) as client:
        yield client
