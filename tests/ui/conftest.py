"""Fixtures of the admin app's tests: the settings of the app each test loads, and NiceGUI's
simulated `User` on that app (tests/ui/app.py builds it with `create_app`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nicegui.testing import User
from nicegui.testing.user_simulation import user_simulation

from tests.conftest import ADMIN_PASSWORD, JWT_SECRET, ROOT, TEST_LIMITS


@pytest.fixture(scope="package", autouse=True)
def ui_env(private_redis, mongo_server, tmp_path_factory):
    """Settings for the app each test loads: a MongoDB database and a Redis database of the
    UI tests' own (so their logins do not count against other tests' rate limits)."""
    values = {
        "APP_ENV": "test",
        "MONGO_URI": f"{mongo_server}jp_ui_{uuid.uuid4().hex[:8]}",
        "REDIS_URI": private_redis(),
        "JWT_SECRET": JWT_SECRET,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "DATA_DIR": str(tmp_path_factory.mktemp("ui-data")),
        "PLUGINS_FILE": str(ROOT / "plugins.toml"),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": "2525",
        "SMTP_TLS": "none",
        **TEST_LIMITS,
    }
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    yield values
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
async def user(caplog: pytest.LogCaptureFixture) -> AsyncIterator[User]:
    """NiceGUI's simulated user on the app tests/ui_main.py builds with `create_app`. Like
    NiceGUI's own fixture it fails a test that logged an ERROR, except the plugin host's
    reports of plugins that failed to load (other tests install and remove plugins)."""
    async with user_simulation(main_file=Path(__file__).parent / "app.py") as simulated:
        yield simulated
    errors = [
        r.getMessage()
        for r in caplog.get_records("call")
        if r.levelname == "ERROR" and not r.name.startswith("jobplatform.plugins")
    ]
    if errors:
        pytest.fail(f"the admin app logged errors: {errors}", pytrace=False)
