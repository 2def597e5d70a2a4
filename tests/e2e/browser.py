"""What the Chromium tests share: a headless Chromium (Debian's, driven by Selenium through
the system chromedriver, so nothing is downloaded), waiting for what the page shows,
clicking on a page that redraws itself, logging in, and screenshots, which go to
tests/e2e/screenshots/ (git-ignored; docs/screenshots/ holds copies)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import ADMIN_PASSWORD

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


@contextmanager
def chromium(profile: Path) -> Iterator[WebDriver]:
    """A headless Chromium with its profile in `profile`, quit afterwards."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    SCREENSHOTS.mkdir(exist_ok=True)
    try:
        yield driver
    finally:
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


def click(driver: WebDriver, xpath: str, timeout: float = 30) -> str:
    """Click what `xpath` finds once it is visible and nothing (a notification) lies over
    it; return its text. A live page may draw the element again between finding and
    clicking it, so a stale one is looked up anew."""

    def clicked(driver: WebDriver) -> tuple[str] | None:
        element = driver.find_element(By.XPATH, xpath)
        if not element.is_displayed():
            return None
        text = element.text
        element.click()
        return (text,)

    (text,) = WebDriverWait(
        driver,
        timeout,
        ignored_exceptions=(
            NoSuchElementException,
            StaleElementReferenceException,
            ElementClickInterceptedException,
        ),
    ).until(clicked, message=f"could not click {xpath}")
    return text


def screenshot(driver: WebDriver, name: str) -> None:
    """Save the page as SCREENSHOTS/`name` once no notification covers it."""
    WebDriverWait(driver, 30).until(
        ec.invisibility_of_element_located(
            (By.XPATH, "//*[contains(concat(' ', @class, ' '), ' q-notification ')]")
        ),
        message="a notification still shows",
    )
    driver.save_screenshot(str(SCREENSHOTS / name))
