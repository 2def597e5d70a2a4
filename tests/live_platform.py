"""A running platform for the client package's and the command line's tests: a real web
process and a real worker (`python -m jobplatform web|worker`) with the test job types of
tests/plugins/testjobs.py, on a Redis server and a MongoDB database of their own, so its
jobs, counters and queues are the tests' alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from jobplatform.devservices import RedisServer
from tests.conftest import ADMIN_PASSWORD, start_web, start_worker, stop
from tests.engine_harness import QUICK


@dataclass(frozen=True)
class LivePlatform:
    url: str
    env: dict[str, str]

    def login(self) -> str:
        """A fresh admin access token."""
        response = httpx.post(
            f"{self.url}/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def api_token(self, role: str = "operator") -> str:
        """A new API token with `role`, made by the admin."""
        response = httpx.post(
            f"{self.url}/api/tokens",
            headers={"Authorization": f"Bearer {self.login()}"},
            json={"name": f"{role}-{uuid.uuid4().hex[:6]}", "role": role},
        )
        assert response.status_code == 201, response.text
        return response.json()["token"]


@contextmanager
def live_platform(
    tmp: Path, platform_env: dict[str, str], mongo_server: str
) -> Iterator[LivePlatform]:
    redis = RedisServer(tmp / "redis").start()
    env = {
        **platform_env,
        **QUICK,
        "MONGO_URI": f"{mongo_server}jp_live_{uuid.uuid4().hex[:10]}",
        "REDIS_URI": redis.uri,
        "DATA_DIR": str(tmp / "data"),
        "EXTRA_PLUGINS": "tests.plugins.testjobs",
    }
    processes = []
    try:
        web, url = start_web(env, tmp / "web.log")
        processes.append(web)
        processes.append(start_worker(env, tmp / "worker.log"))
        yield LivePlatform(url, env)
    finally:
        for process in processes:
            stop(process)
        redis.stop()
