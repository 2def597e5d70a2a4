"""The Plugins page shows each job type's rate and concurrency limits, through NiceGUI's
simulated `User` against the real app, with the limited job types of
tests/plugins/limits.py loaded beside the installed plugins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nicegui import ui
from nicegui.testing import User

from tests.ui.test_ui_pages import account, log_in


@pytest.fixture
def limited_plugins(monkeypatch) -> Iterator[None]:
    """The app the `user` fixture loads after this one also loads the limited types."""
    monkeypatch.setenv("EXTRA_PLUGINS", "tests.plugins.limits")
    yield


async def test_the_plugins_page_shows_each_types_limits(limited_plugins, user: User) -> None:
    await log_in(user, account("lim", "viewer"))
    await user.open("/plugins")
    await user.should_see(marker="plugin-tests.plugins.limits")

    rows = {row["name"]: row for table in user.find(ui.table).elements for row in table.rows}

    assert (rows["limits_rate"]["rate_limit"], rows["limits_rate"]["concurrency_limit"]) == (
        "5/s",
        "none",
    )
    assert rows["limits_both"]["rate_limit"] == "4/s"
    assert rows["limits_both"]["concurrency_limit"] == "2 at once"
    assert (rows["sendEmail"]["rate_limit"], rows["sendEmail"]["concurrency_limit"]) == (
        "none",
        "none",
    )
