"""A private platform for a browser test module: a web and a worker process with the test
job types (EXTRA_PLUGINS=tests.plugins.testjobs) on a MongoDB database and a Redis database
of their own, with an API client logged in as the admin."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import ADMIN_PASSWORD, start_web, start_worker, stop
from tests.engine_harness import QUICK


@dataclass(frozen=True)
class Platform:
    url: str
    api: httpx.Client  # logged in as the admin
    folder: Path  # its DATA_DIR, which holds its logs

    @property
    def worker_log(self) -> Path:
        return self.folder / "worker.log"


@contextmanager
def private_platform(
    platform_env: dict[str, str], mongo_server: str, redis_uri: str, folder: Path, **env: str
) -> Iterator[Platform]:
    """Start the platform with `env` added to its environment; stop it on leaving."""
    env = {
        **platform_env,
        **QUICK,
        "EXTRA_PLUGINS": "tests.plugins.testjobs",
        "DATA_DIR": str(folder),
        "MONGO_URI": f"{mongo_server}jp_e2e_{uuid.uuid4().hex[:10]}",
        "REDIS_URI": redis_uri,
        **env,
    }
    worker = start_worker(env, folder / "worker.log")
    try:
        web, url = start_web(env, folder / "web.log")
        try:
            token = httpx.post(
                f"{url}/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}
            )
            assert token.status_code == 200, token.text
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
                yield Platform(url, api, folder)
        finally:
            stop(web)
    finally:
        stop(worker)
