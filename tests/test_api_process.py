"""`jobplatform api`: the JSON API alone, in a process of its own, next to the web process
on the same store. More of them serve more requests; the admin app stays in `web`."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, start_web, stop

EMAIL = {"name": "sendEmail", "data": {"recipient": "api@example.com", "subject": "Hi"}}


@pytest.fixture(scope="module")
def api_url(platform_env, tmp_path_factory):
    process, url = start_web(platform_env, tmp_path_factory.mktemp("api") / "api.log", "api")
    yield url
    stop(process)


def admin_headers(url: str) -> dict[str, str]:
    login = httpx.post(f"{url}/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_a_job_submitted_to_an_api_process_is_the_web_process_job_too(api_url, web_url):
    headers = admin_headers(api_url)
    submitted = httpx.post(f"{api_url}/api/jobs", json=EMAIL, headers=headers)
    assert submitted.status_code == 201, submitted.text
    job_id = submitted.json()["id"]
    from_web = httpx.get(f"{web_url}/api/jobs/{job_id}", headers=admin_headers(web_url))
    assert from_web.status_code == 200 and from_web.json()["data"] == EMAIL["data"]
    listed = httpx.get(f"{api_url}/api/jobs", params={"q": job_id}, headers=headers).json()
    assert [job["id"] for job in listed["jobs"]] == [job_id]


def test_an_api_process_refuses_what_the_web_process_refuses(api_url):
    """The rules live in the core: the same bad input, the same answer, nothing stored."""
    headers = admin_headers(api_url)
    bad = {"name": "sendEmail", "data": {"recipient": "not an address", "subject": "Hi"}}
    refused = httpx.post(f"{api_url}/api/jobs", json=bad, headers=headers)
    assert refused.status_code == 422
    assert "recipient" in refused.json()["error"]["details"]
    assert httpx.post(f"{api_url}/api/jobs", json=EMAIL).status_code == 401
    stored = httpx.get(f"{api_url}/api/jobs", params={"q": "not an address"}, headers=headers)
    assert stored.json()["jobs"] == []


def test_an_api_process_serves_health_and_its_metrics_but_no_admin_app(api_url):
    assert httpx.get(f"{api_url}/health").status_code == 200
    metrics = httpx.get(f"{api_url}/metrics")
    assert metrics.status_code == 200 and "jobplatform_http_requests" in metrics.text
    assert httpx.get(f"{api_url}/login").status_code == 404
    assert httpx.get(f"{api_url}/").status_code == 404
