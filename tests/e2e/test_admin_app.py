"""The admin app in headless Chromium (Debian's, driven by Selenium through the system
chromedriver): log in, submit an email job from the generated form and watch it succeed,
make one die on a 5xx SMTP reply, retry it with one click and watch it succeed.

The module runs its own web and worker processes on the session's Redis and MongoDB, with
sendEmail on a private queue and pointed at an SMTP server of the module that rejects
subjects while the test tells it to. Screenshots go to tests/e2e/screenshots/.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import SmtpRecorder, smtp_on_loopback, start_web, start_worker, stop
from tests.e2e.browser import SCREENSHOTS, chromium, field, log_in, panel_state, wait_for


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
    recorder = Rejecting()
    with smtp_on_loopback(recorder) as port:
        yield recorder, port


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
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


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
