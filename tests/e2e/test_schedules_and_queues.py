"""The Schedules and Queues pages in headless Chromium: create a schedule every 2 s of
`test.noop`, watch its row show its last job succeeded without a reload, open that job and
see it succeeded, disable the schedule; pause the queue `tests`, see a job submitted
through the API wait there (and, through the API, stay `queued` with no attempt while the
worker takes jobs from another queue), resume it and watch the job run.

The module runs its own web and worker processes with the test job types
(EXTRA_PLUGINS=tests.plugins.testjobs) on a MongoDB database and a Redis database of
their own, so that only they fire its schedules (the reconciler's leader lock is in
MongoDB), the pause (kept in MongoDB) holds no other test's jobs and the queue counts are
its jobs alone. `test.touch` runs on a queue of its own: the witness that the worker keeps
taking jobs while `tests` is paused. Screenshots go to tests/e2e/screenshots/.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from jobplatform.jobs.schedules import KEY_PREFIX
from tests.e2e.browser import chromium, click, field, log_in, panel_state, screenshot, wait_for
from tests.e2e.platform import Platform, private_platform
from tests.helpers import wait_until

QUEUE = "tests"  # the queue of tests/plugins/testjobs.py's job types
WITNESS_QUEUE = "e2e-witness"


@pytest.fixture(scope="module")
def platform(platform_env, mongo_server, private_redis, tmp_path_factory) -> Iterator[Platform]:
    """A web and a worker process with the test job types, `test.touch` on a queue of its
    own, and the short reconcile interval (0.3 s) that fires a 2 s schedule on time."""
    folder = tmp_path_factory.mktemp("e2e-schedules")
    manifest = folder / "plugins.toml"
    manifest.write_text(f'[job_types."test.touch"]\nqueue = "{WITNESS_QUEUE}"\n')
    with private_platform(
        platform_env, mongo_server, private_redis(), folder, PLUGINS_FILE=str(manifest)
    ) as platform:
        yield platform


@pytest.fixture(scope="module")
def browser(platform, tmp_path_factory) -> Iterator[WebDriver]:
    """Chromium, logged in as the admin."""
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        log_in(driver, platform.url)
        yield driver


def open_page(driver: WebDriver, label: str, path: str) -> None:
    """Go to a page through the navigation rail, as a user would."""
    click(driver, f"//aside//button[.//span[normalize-space()='{label}']]")
    WebDriverWait(driver, 30).until(ec.url_contains(path))


def card(title: str) -> str:
    """The XPath of a list row (a card) whose title is `title`."""
    return f"//div[contains(@class,'q-card')][.//div[normalize-space()='{title}']]"


def with_badge(row: str, text: str) -> str:
    """The XPath of `row` while it shows a badge saying `text`."""
    return f"{row}[.//*[contains(@class,'q-badge')][normalize-space()='{text}']]"


def job(api: httpx.Client, job_id: str) -> dict:
    response = api.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def queue_row(api: httpx.Client, name: str) -> dict:
    response = api.get("/api/queues")
    assert response.status_code == 200, response.text
    return {row["name"]: row for row in response.json()["queues"]}[name]


def create_schedule(driver: WebDriver, name: str, job_type: str, seconds: int) -> None:
    """Fill the New schedule form (an interval) and create it."""
    field(driver, "Name *").send_keys(name)
    click(driver, "//label[.//*[normalize-space()='Job type']]")
    click(driver, f"//div[contains(@class,'q-item')][contains(normalize-space(),'({job_type})')]")
    wait_for(driver, f"//label[.//*[normalize-space()='Job type']][contains(., '({job_type})')]")
    interval = field(driver, "Interval (seconds)")
    interval.send_keys(Keys.CONTROL, "a")
    interval.send_keys(str(seconds))
    click(driver, "//button[contains(normalize-space(), 'Create schedule')]")
    wait_for(driver, f"//*[normalize-space()=\"Schedule '{name}' created\"]")


def test_create_a_schedule_and_watch_the_jobs_it_fires_succeed(browser, platform):
    name = f"every-2s-{uuid.uuid4().hex[:6]}"
    open_page(browser, "Schedules", "/schedules")
    create_schedule(browser, name, "test.noop", 2)
    row = card(name)
    wait_for(browser, f"{row}//*[normalize-space()='every 2 s']")
    wait_for(browser, f"{row}//*[starts-with(normalize-space(), 'Next: ')]")

    # live: the page is never reloaded; the row shows its last job once it has succeeded
    seen = wait_for(browser, f"{with_badge(row, 'succeeded')}//a", timeout=60).text
    (schedule,) = platform.api.get("/api/schedules").json()["schedules"]
    assert job(platform.api, seen)["state"] == "succeeded"
    first = platform.api.get("/api/jobs", params={"order": "oldest", "limit": 1}).json()
    (fired,) = first["jobs"]  # the schedule's first job: the first job of the platform
    assert fired["state"] == "succeeded", fired
    assert fired["name"] == "test.noop" and fired["created_by"] == f"{KEY_PREFIX}{name}"
    assert fired["idempotency_key"].startswith(f"{KEY_PREFIX}{schedule['id']}:"), fired
    wait_for(browser, with_badge(row, "succeeded"))  # again, should one have fired meanwhile
    screenshot(browser, "schedules.png")

    opened = click(browser, f"{row}//a")  # the last job: this one, or one fired since
    WebDriverWait(browser, 30).until(ec.url_contains(f"/jobs?job={opened}"))
    wait_for(browser, f"//*[contains(@class,'detail-panel')]//*[normalize-space()='{opened}']")
    wait_for(browser, panel_state("succeeded"), timeout=60)
    assert job(platform.api, opened)["state"] == "succeeded"

    open_page(browser, "Schedules", "/schedules")
    click(browser, f"{row}//div[contains(@class,'q-toggle')]")
    wait_for(browser, f"//*[normalize-space()=\"Schedule '{name}' disabled\"]")
    wait_for(browser, f"{row}//*[normalize-space()='Disabled: no next run']")
    disabled = platform.api.get(f"/api/schedules/{schedule['id']}").json()
    assert disabled["enabled"] is False and disabled["next_run_at"] is None, disabled


def idle(api: httpx.Client, name: str) -> bool:
    """Nothing waits or runs on the queue (what an earlier test's schedule fired has run)."""
    row = queue_row(api, name)
    return row["waiting"] + row["scheduled"] + row["retrying"] + row["running"] == 0


def submit(api: httpx.Client, job_type: str, data: dict) -> str:
    response = api.post("/api/jobs", json={"name": job_type, "data": data})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def counts(waiting: int) -> str:
    """The counts line of a queue's row on the Queues page, nothing else in the queue."""
    return f"waiting {waiting} · scheduled 0 · retrying 0 · running 0"


def test_pause_a_queue_hold_a_job_and_resume_it(browser, platform):
    wait_until(lambda: idle(platform.api, QUEUE), message=f"queue {QUEUE} idle")
    open_page(browser, "Queues", "/queues")
    row = card(QUEUE)
    wait_for(browser, with_badge(row, "active"))
    click(browser, f"{row}//button[contains(normalize-space(), 'Pause')]")
    wait_for(browser, f"//*[normalize-space()=\"Queue '{QUEUE}' paused\"]")
    wait_for(browser, with_badge(row, "paused"))
    wait_until(
        lambda: f"queue {QUEUE} paused" in platform.worker_log.read_text(),
        message="the worker to see the pause",
    )

    held = submit(platform.api, "test.noop", {})
    witness = submit(platform.api, "test.touch", {"path": str(platform.folder / "witness")})
    wait_until(  # the worker takes jobs, from the other queue
        lambda: job(platform.api, witness)["state"] == "succeeded", message="the witness job"
    )
    waiting = job(platform.api, held)
    assert waiting["state"] == "queued" and waiting["attempt_count"] == 0, waiting
    assert not waiting["attempts"], waiting
    listed = queue_row(platform.api, QUEUE)
    assert listed["paused"] and listed["paused_by"] == "admin", listed
    wait_for(browser, f"{with_badge(row, 'paused')}//*[normalize-space()='{counts(1)}']")
    screenshot(browser, "queues.png")

    click(browser, f"{row}//button[contains(normalize-space(), 'Resume')]")
    wait_for(browser, f"//*[normalize-space()=\"Queue '{QUEUE}' resumed\"]")
    # live: the counts change in the page as the job is taken and done
    wait_for(browser, f"{with_badge(row, 'active')}//*[normalize-space()='{counts(0)}']", 60)
    wait_until(
        lambda: job(platform.api, held)["state"] == "succeeded", message="the held job to succeed"
    )
    ran = job(platform.api, held)
    assert ran["attempt_count"] == 1 and len(ran["attempts"]) == 1, ran
    wait_until(
        lambda: f"queue {QUEUE} resumed" in platform.worker_log.read_text(),
        message="the worker to log the resume",
    )
