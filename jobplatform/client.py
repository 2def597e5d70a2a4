"""A small Python client for integrators of the jobplatform API.

    from jobplatform.client import Client

    with Client("https://jobs.example.com", token="jpt_...") as jobs:     # an API token
        job = jobs.submit("sendEmail", {"recipient": "a@example.com", "subject": "Hi"})
        done = jobs.wait(job["id"], timeout=120)                          # succeeded, dead...
        if done["state"] == "dead":
            jobs.retry(done["id"])

    Client(url, username="alice", password="...")  # or log in; tokens refresh themselves

Requests that fail for a passing reason (connection refused or reset, 429, 502, 503, 504)
are retried with exponential backoff, honouring Retry-After. A submission always carries
an idempotency key (one is made up when not given), so retrying it never makes two jobs.
Other errors raise `ApiError` with the API's code, message and details.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx

FINAL_STATES = ("succeeded", "dead", "cancelled")
RETRIED_STATUSES = (429, 502, 503, 504)


class ApiError(Exception):
    """The API refused a request; `status`, `code`, `message` and `details` say why."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


class Client:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
    ):
        if not token and not (username and password):
            raise ValueError("give an API token, or a username and password")
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._token, self._username, self._password = token, username, password
        self._refresh_token: str | None = None
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- jobs ------------------------------------------------------------------------

    def submit(self, name: str, data: dict[str, Any], **options: Any) -> dict:
        """Submit a job; `options`: delay, run_at, priority, idempotency_key."""
        options.setdefault("idempotency_key", uuid.uuid4().hex)
        return self._call("POST", "/api/jobs", json={"name": name, "data": data, **options})

    def submit_batch(self, jobs: list[dict[str, Any]]) -> list[dict]:
        """Submit many jobs ({"name", "data", ...} each); all are refused if one is bad."""
        jobs = [{"idempotency_key": uuid.uuid4().hex, **job} for job in jobs]
        return self._call("POST", "/api/jobs/batch", json={"jobs": jobs})["jobs"]

    def get(self, job_id: str) -> dict:
        return self._call("GET", f"/api/jobs/{job_id}")

    def list(self, **filters: Any) -> dict:
        """One page: filters are the query parameters of GET /api/jobs."""
        return self._call("GET", "/api/jobs", params=filters)

    def iter_jobs(self, **filters: Any) -> Iterator[dict]:
        """Every matching job, page after page."""
        while True:
            page = self.list(**filters)
            yield from page["jobs"]
            if not page["next_cursor"]:
                return
            filters["cursor"] = page["next_cursor"]

    def wait(self, job_id: str, *, timeout: float = 60.0, poll: float = 0.5) -> dict:
        """Poll until the job is succeeded, dead or cancelled; return it, or raise
        `TimeoutError` with its last state."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job["state"] in FINAL_STATES:
                return job
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {job['state']} after {timeout:g}s")
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))

    def retry(self, job_id: str) -> dict:
        return self._call("POST", f"/api/jobs/{job_id}/retry")

    def cancel(self, job_id: str) -> dict:
        return self._call("POST", f"/api/jobs/{job_id}/cancel")

    # -- transport -------------------------------------------------------------------

    def _authorization(self) -> dict[str, str]:
        if not self._token:
            self._log_in()
        return {"Authorization": f"Bearer {self._token}"}

    def _log_in(self) -> None:
        body = self._send(
            "POST", "/api/login", json={"username": self._username, "password": self._password}
        )
        self._token, self._refresh_token = body["access_token"], body["refresh_token"]

    def _renew(self) -> bool:
        """After a 401 on a login session: refresh, or log in again. False for API tokens."""
        if not self._username:
            return False
        try:
            body = self._send(
                "POST", "/api/token/refresh", json={"refresh_token": self._refresh_token or ""}
            )
            self._token, self._refresh_token = body["access_token"], body["refresh_token"]
        except ApiError:
            self._log_in()
        return True

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return self._send(method, path, headers=self._authorization(), **kwargs)
        except ApiError as exc:
            if exc.status != 401 or not self._renew():
                raise
        return self._send(method, path, headers=self._authorization(), **kwargs)

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError:
                if attempt >= self.retries:
                    raise
                self._pause(attempt, None)
            else:
                if response.status_code not in RETRIED_STATUSES or attempt >= self.retries:
                    return self._decode(response)
                self._pause(attempt, response.headers.get("retry-after"))
            attempt += 1

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff * 2**attempt
        if retry_after and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(min(delay, self.max_backoff))

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success:
            return body
        error = body.get("error") or {} if isinstance(body, dict) else {}
        raise ApiError(
            response.status_code,
            error.get("code", "error"),
            error.get("message", response.text[:200]),
            error.get("details"),
        )
