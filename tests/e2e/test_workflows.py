"""A workflow's graph in headless Chromium: submit a chain of 3 steps through the API (a
`test.hold` step the test releases, then two `test.step` steps), open it from the
Workflows page, see the first node running and the others blocked, release the hold and
watch every node turn the colour of `succeeded` without a reload.

The nodes' states and colours are read from the ECharts instance the page draws (its
options, through NiceGUI's `getElement`), the workflow's state from its badge. The module
runs its own web and worker processes with the test job types
(EXTRA_PLUGINS=tests.plugins.testjobs) on a MongoDB database and a Redis database of their
own. The screenshot goes to tests/e2e/screenshots/workflow.png.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from jobplatform.ui.pages.workflows import STEP_COLOURS
from tests.e2e.browser import chromium, click, log_in, screenshot, wait_for
from tests.e2e.platform import Platform, private_platform
from tests.helpers import wait_until

# The graph's nodes as [name, state, colour], read from the chart's current options.
NODES = """
const chart = document.querySelector('[_echarts_instance_]');
const options = chart && getElement(chart).chart.getOption();
if (!options || !options.series || !options.series.length) return null;
return options.series[0].data.map(node => [node.name, node.value, node.itemStyle.color]);
"""


@pytest.fixture(scope="module")
def platform(platform_env, mongo_server, private_redis, tmp_path_factory) -> Iterator[Platform]:
    """A web and a worker process with the test job types, on databases of their own."""
    folder = tmp_path_factory.mktemp("e2e-workflows")
    with private_platform(platform_env, mongo_server, private_redis(), folder) as platform:
        yield platform


@pytest.fixture(scope="module")
def browser(platform, tmp_path_factory) -> Iterator[WebDriver]:
    """Chromium, logged in as the admin."""
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        log_in(driver, platform.url)
        yield driver


def nodes(driver: WebDriver) -> dict[str, tuple[str, str]]:
    """{step key: (state, colour)} of the graph as the page draws it now."""
    return {name: (state, colour) for name, state, colour in driver.execute_script(NODES) or []}


def graph_shows(driver: WebDriver, expected: dict[str, str]) -> dict | None:
    """The graph's nodes once each step `expected` names has that state and its colour."""
    shown = nodes(driver)
    wanted = {key: (state, STEP_COLOURS[state]) for key, state in expected.items()}
    return shown if shown == wanted else None


def submit_chain(api: httpx.Client, folder: Path, name: str) -> dict:
    hold = {"started": str(folder / "started"), "release": str(folder / "release")}
    response = api.post(
        "/api/workflows",
        json={
            "name": name,
            "jobs": [
                {"key": "fetch", "name": "test.hold", "data": hold},
                {"key": "build", "name": "test.step", "data": {"tag": "b"}, "after": ["fetch"]},
                {"key": "mail", "name": "test.step", "data": {"tag": "c"}, "after": ["build"]},
            ],
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_a_workflow_graph_turns_green_live(browser, platform):
    name = f"chain-{uuid.uuid4().hex[:6]}"
    workflow = submit_chain(platform.api, platform.folder, name)
    wait_until(lambda: (platform.folder / "started").exists(), message="the first step to run")

    click(browser, "//aside//button[.//span[normalize-space()='Workflows']]")
    WebDriverWait(browser, 30).until(ec.url_contains("/workflows"))
    click(browser, f"//a[normalize-space()='{name}']")
    WebDriverWait(browser, 30).until(ec.url_contains(f"/workflows/{workflow['id']}"))
    running = {"fetch": "running", "build": "blocked", "mail": "blocked"}
    WebDriverWait(browser, 30).until(
        lambda d: graph_shows(d, running), message=f"the graph to show {running}"
    )
    wait_for(browser, "//*[contains(@class,'q-badge')][normalize-space()='running']")
    browser.execute_script("window.stillTheSamePage = true;")

    (platform.folder / "release").touch()
    done = dict.fromkeys(running, "succeeded")
    WebDriverWait(browser, 60).until(
        lambda d: graph_shows(d, done), message="every node of the graph to turn green"
    )
    wait_for(browser, "//*[contains(@class,'q-badge')][normalize-space()='succeeded']")
    assert browser.execute_script("return window.stillTheSamePage === true;"), "page reloaded"
    stored = platform.api.get(f"/api/workflows/{workflow['id']}").json()
    assert stored["state"] == "succeeded", stored
    assert [s["state"] for s in stored["steps"]] == ["succeeded"] * 3, stored
    screenshot(browser, "workflow.png")
