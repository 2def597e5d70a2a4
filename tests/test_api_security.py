"""Security headers, CORS, the admin app under the Content-Security-Policy in a real
browser, and production refusing to start with weak secrets."""

from __future__ import annotations

import subprocess
import sys
import uuid

import httpx
import pytest
from selenium.webdriver.common.by import By

from jobplatform.config import SettingsError, load_settings
from jobplatform.web import create_app
from tests.api_app import app_client
from tests.conftest import ROOT
from tests.e2e.test_admin_app import browser, field, wait_for  # noqa: F401 - the fixture

STRONG_SECRET = "prod-secret-" + uuid.uuid4().hex + uuid.uuid4().hex


def test_every_response_carries_the_security_headers(web_url, admin_token):
    pages = [
        httpx.get(f"{web_url}/login"),
        httpx.get(f"{web_url}/api/jobs"),
        httpx.get(f"{web_url}/api/jobs", headers={"Authorization": f"Bearer {admin_token}"}),
    ]
    for response in pages:
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "strict-transport-security" not in headers  # only when APP_ENV=production


def test_admin_login_page_works_in_chromium_under_the_policy(browser, web_url):  # noqa: F811
    """NiceGUI needs inline scripts, eval (Vue templates) and its websocket: the login
    form renders, a click makes the round trip, and the browser reports no CSP refusal."""
    browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": (
                "window.__cspRefusals = []; document.addEventListener('securitypolicyviolation', "
                "e => window.__cspRefusals.push(e.violatedDirective + ' ' + e.blockedURI));"
            )
        },
    )
    browser.get(f"{web_url}/login")
    field(browser, "Username").send_keys("admin")
    field(browser, "Password").send_keys("wrong password")
    wait_for(browser, "//button[normalize-space()='Log in']").click()
    error = wait_for(browser, "//*[contains(normalize-space(), 'invalid username or password')]")
    assert error.is_displayed()  # the click travelled over the websocket and back
    policy = browser.execute_script(
        "return fetch('/login').then(r => r.headers.get('content-security-policy'))"
    )
    assert "'unsafe-eval'" in policy
    refused = browser.execute_script("return window.__cspRefusals || []")
    assert refused == []
    assert browser.find_elements(By.XPATH, "//input")  # Vue rendered the form


def test_hsts_only_in_production(mongo_uri, redis_uri, tmp_path):
    with app_client(
        mongo_uri,
        redis_uri,
        tmp_path,
        app_env="production",
        jwt_secret=STRONG_SECRET,
        admin_password=None,
    ) as client:
        response = client.get("/api/jobs")
        assert response.status_code == 401
        assert "max-age=31536000" in response.headers["strict-transport-security"]


def test_cors_answers_only_the_allowlisted_origin(mongo_uri, redis_uri, tmp_path):
    with app_client(
        mongo_uri,
        redis_uri,
        tmp_path,
        cors_origins="https://ops.example.com, https://b.example.com",
    ) as client:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        allowed = client.options(
            "/api/jobs", headers={**preflight, "Origin": "https://ops.example.com"}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://ops.example.com"
        other = client.options("/api/jobs", headers={**preflight, "Origin": "https://evil.test"})
        assert "access-control-allow-origin" not in other.headers
        simple = client.get("/api/jobs", headers={"Origin": "https://evil.test"})
        assert "access-control-allow-origin" not in simple.headers


def test_no_cors_headers_without_an_allowlist(web_url):
    response = httpx.get(f"{web_url}/api/jobs", headers={"Origin": "https://ops.example.com"})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "JWT_SECRET: required when APP_ENV=production"),
        ({"JWT_SECRET": "short-secret"}, "JWT_SECRET: too weak"),
        ({"JWT_SECRET": "a" * 64}, "JWT_SECRET: too weak"),
        ({"JWT_SECRET": STRONG_SECRET, "ADMIN_PASSWORD": "changeme"}, "ADMIN_PASSWORD: a default"),
    ],
)
def test_production_refuses_to_start_with_weak_secrets(platform_env, env, says):
    base = {k: v for k, v in platform_env.items() if k not in ("JWT_SECRET", "ADMIN_PASSWORD")}
    result = subprocess.run(
        [sys.executable, "-m", "jobplatform", "web"],
        cwd=ROOT,
        env={**base, "APP_ENV": "production", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert says in result.stderr
    assert "secrets.token_urlsafe" in result.stderr or "12 characters" in result.stderr


def test_production_refuses_a_stored_admin_with_a_default_password(
    mongo_server, redis_uri, tmp_path
):
    settings = {
        "mongo_uri": f"{mongo_server}prod_{uuid.uuid4().hex[:8]}",
        "redis_uri": redis_uri,
        "data_dir": tmp_path,
        "plugins_file": ROOT / "plugins.toml",
        "jwt_secret": STRONG_SECRET,
    }
    create_app(load_settings(**settings, app_env="development", admin_password="admin"))
    with pytest.raises(SettingsError, match="jobplatform users set-password admin"):
        create_app(load_settings(**settings, app_env="production"))
