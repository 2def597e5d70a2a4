"""The web app in-process for API tests, and small helpers to log in and make users."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from jobplatform.config import load_settings
from jobplatform.web import create_app
from tests.conftest import ADMIN_PASSWORD, ROOT

JWT_SECRET = "api-tests-secret-" + uuid.uuid4().hex + uuid.uuid4().hex


def app_client(mongo_uri: str, redis_uri: str | None, data_dir: Path, **overrides) -> TestClient:
    """A TestClient (not yet entered) on a fresh app; `overrides` are settings."""
    settings = load_settings(
        **{
            "mongo_uri": mongo_uri,
            "redis_uri": redis_uri,
            "jwt_secret": JWT_SECRET,
            "admin_password": ADMIN_PASSWORD,
            "data_dir": data_dir,
            "plugins_file": ROOT / "plugins.toml",
            "app_env": "test",
            "list_count_budget_ms": 0,  # totals must not depend on the machine's load
            **overrides,
        }
    )
    return TestClient(create_app(settings))


def login(client: TestClient, username: str, password: str) -> dict:
    response = client.post("/api/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_user(client: TestClient, admin_token: str, role: str) -> tuple[str, str]:
    """Create a user with `role` through the API; return its username and password."""
    username, password = f"{role}-{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex
    response = client.post(
        "/api/users",
        headers=bearer(admin_token),
        json={"username": username, "password": password, "role": role},
    )
    assert response.status_code == 201, response.text
    return username, password
