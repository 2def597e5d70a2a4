"""The admin app in headless Chromium (Debian's, driven by Selenium through the system
chromedriver): log in, submit an email job from the generated form and watch it succeed,
make one die on a 5xx SMTP reply, retry it with one click and watch it succeed.

The module runs its own web and worker processes on the session's Redis and MongoDB, with
sendEmail on a private queue and pointed at an SMTP server of the module that rejects
subjects while the test tells it to. Screenshots go to tests/e2e/screenshots/.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from jobplatform.devservices import free_port
from tests.conftest import ADMIN_PASSWORD, SmtpRecorder, start_web, start_worker, stop

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1440,900",
]


class Rejecting(SmtpRecorder):
    """Answers 554 to messages whose subject contains one of `rejected`."""

    def __init__(self) -> None:
        super().__init__()
        self.rejected: set[str] = set()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        text = envelope.content.decode(errors="replace")
        if any(marker in text for marker in self.rejected):
            return "554 5.7.1 rejected by the test"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Rejecting, int]]:
    recorder, port = Rejecting(), free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


@pytest.fixture(scope="module")
def app_url(smtp, platform_env, private_redis, tmp_path_factory) -> Iterator[str]:
    """A web and a worker process sharing a plugins.toml with a private sendEmail queue, on a
    Redis database of their own (logins of other tests do not count against this one's)."""
    folder = tmp_path_factory.mktemp("e2e")
    manifest = folder / "plugins.toml"
    manifest.write_text(
        f'[plugins.email.settings]\nhost = "127.0.0.1"\nport = {smtp[1]}\ntls = "none"\n\n'
        f'[job_types.sendEmail]\nqueue = "email-e2e-{uuid.uuid4().hex[:8]}"\n'
    )
    env = {
        **platform_env,
        "PLUGINS_FILE": str(manifest),
        "DATA_DIR": str(folder),
        "REDIS_URI": private_redis(),
    }
    worker = start_worker(env, folder / "worker.log")
    web, url = start_web(env, folder / "web.log")
    yield url
    stop(web)
    stop(worker)


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    SCREENSHOTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def wait_for(driver: WebDriver, xpath: str, timeout: float = 30):
    return WebDriverWait(driver, timeout).until(
        ec.visibility_of_element_located((By.XPATH, xpath)),
        message=f"nothing visible matches {xpath}",
    )


def field(driver: WebDriver, label: str):
    return wait_for(
        driver,
        f"//label[.//*[normalize-space()='{label}']]//input"
        f" | //label[.//*[normalize-space()='{label}']]//textarea",
    )


def panel_state(state: str) -> str:
    return (
        f"//*[contains(@class,'detail-panel')]//*[contains(@class,'q-badge')]"
        f"[normalize-space()='{state}']"
    )


def log_in(driver: WebDriver, url: str) -> None:
    driver.get(f"{url}/login")
    field(driver, "Username").send_keys("admin")
    field(driver, "Password").send_keys(ADMIN_PASSWORD)
    wait_for(driver, "//button[contains(normalize-space(), 'Log in')]").click()
    wait_for(driver, "//*[normalize-space()='Attempts per minute, last hour']")


def submit_email(driver: WebDriver, url: str, subject: str, screenshot: str | None = None) -> str:
    """Fill the generated sendEmail form and submit it; return the new job's id."""
    driver.get(f"{url}/jobs/new")
    field(driver, "To *").send_keys("reader@example.com")
    field(driver, "Subject *").send_keys(subject)
    field(driver, "Plain-text body").send_keys("Sent from the admin app.")
    if screenshot:
        driver.save_screenshot(str(SCREENSHOTS / screenshot))
    wait_for(driver, "//button[contains(normalize-space(), 'Submit job')]").click()
    WebDriverWait(driver, 30).until(ec.url_contains("/jobs?job="))
    return driver.current_url.rsplit("=", 1)[1]


def test_submit_watch_fail_retry_in_the_browser(browser, app_url, smtp):
    recorder, _ = smtp
    log_in(browser, app_url)
    wait_for(browser, "//*[contains(@class,'q-badge')][normalize-space()='Redis up']")
    wait_for(browser, "//*[contains(@class,'q-badge')][normalize-space()='1 worker']")

    subject = f"Welcome {uuid.uuid4().hex[:6]}"
    job_id = submit_email(browser, app_url, subject, screenshot="new-job-form.png")
    wait_for(browser, panel_state("succeeded"), timeout=60)  # live: the page is never reloaded
    assert len(recorder.with_subject(subject)) == 1
    wait_for(browser, f"//*[contains(@class,'job-table')]//td[normalize-space()='{job_id}']")
    browser.save_screenshot(str(SCREENSHOTS / "jobs-with-detail.png"))

    bounce = f"[bounce-{uuid.uuid4().hex[:6]}]"
    recorder.rejected.add(bounce)
    dead_id = submit_email(browser, app_url, f"{bounce} will fail")
    wait_for(browser, panel_state("dead"), timeout=60)
    wait_for(
        browser,
        "//*[contains(@class,'detail-panel')]"
        "//*[contains(normalize-space(),'554 5.7.1 rejected by the test')]",
    )
    recorder.rejected.discard(bounce)
    retry = wait_for(
        browser,
        f"//tr[td[normalize-space()='{dead_id}']]//button[contains(normalize-space(), 'Retry')]",
    )
    retry.click()  # the one click
    wait_for(browser, panel_state("succeeded"), timeout=60)
    assert len(recorder.with_subject(f"{bounce} will fail")) == 1
    browser.save_screenshot(str(SCREENSHOTS / "jobs-after-retry.png"))

    browser.get(app_url)
    wait_for(
        browser,
        "//*[contains(normalize-space(),'failure rate') and "
        "not(contains(normalize-space(),'0.0%'))]",
    )
    browser.save_screenshot(str(SCREENSHOTS / "dashboard.png"))
