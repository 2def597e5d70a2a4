"""What the sync and the async client share, written once: each API operation as a
request and the parsing of its answer (`Call`), and the exchange around a call (the
bearer token, logging in and refreshing, retries with backoff, the error envelope).

The exchange is a generator, a *flow*, that does no I/O itself: it yields a `Request` to
send (the transport sends back the `httpx.Response`, or throws in the
`httpx.TransportError` it met) or a `Pause` to sleep, and returns the result. `Client`
drives flows with blocking calls, `AsyncClient` with awaits.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Protocol, TypeVar

import httpx

from jobplatform_client.errors import ApiError
from jobplatform_client.models import Job, JobPage, NewJob, RetriedJobs, Schedule, Stats, Tokens

T = TypeVar("T")
RETRIED_STATUSES = (429, 502, 503, 504)
Params = list[tuple[str, str]]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: Params | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # False for a request that may act twice if sent again after a lost answer: it is
    # retried only when it surely did not arrive (no connection, or a 429)
    repeatable: bool = True


@dataclass(frozen=True)
class Pause:
    seconds: float


Flow = Generator[Request | Pause, httpx.Response, T]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API operation: the request, and how a successful answer's body becomes a result."""

    request: Request
    parse: Callable[[Any], T]


# -- the operations ----------------------------------------------------------------------


def _time(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def job_body(job: NewJob) -> dict[str, Any]:
    """A submission as the API takes it. It always carries an idempotency key (one is made
    up when not given), so sending it again after a lost answer never makes two jobs."""
    body = {
        "name": job.name,
        "data": job.data,
        "delay": job.delay,
        "run_at": _time(job.run_at),
        "priority": job.priority,
        "idempotency_key": job.idempotency_key or uuid.uuid4().hex,
        "max_attempts": job.max_attempts,
        "timeout": job.timeout,
    }
    return {key: value for key, value in body.items() if value is not None}


def submit(job: NewJob) -> Call[Job]:
    return Call(Request("POST", "/api/jobs", json=job_body(job)), Job.from_api)


def submit_many(jobs: Sequence[NewJob | Mapping[str, Any]]) -> Call[list[Job]]:
    """All or nothing: one refused job refuses the batch (`jobs.N.field` in its errors)."""
    bodies = [job_body(j if isinstance(j, NewJob) else NewJob(**j)) for j in jobs]
    return Call(
        Request("POST", "/api/jobs/batch", json={"jobs": bodies}),
        lambda body: [Job.from_api(j) for j in body["jobs"]],
    )


def get(job_id: str) -> Call[Job]:
    return Call(Request("GET", f"/api/jobs/{job_id}"), Job.from_api)


def _many(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def list_jobs(
    *,
    state: str | Sequence[str] | None = None,
    name: str | Sequence[str] | None = None,
    q: str | None = None,
    created_after: datetime | str | None = None,
    created_before: datetime | str | None = None,
    order: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[JobPage]:
    params: Params = [("state", s) for s in _many(state)] + [("name", n) for n in _many(name)]
    for key, value in (
        ("q", q),
        ("created_after", _time(created_after)),
        ("created_before", _time(created_before)),
        ("order", order),
        ("limit", limit),
        ("cursor", cursor),
    ):
        if value is not None:
            params.append((key, str(value)))
    return Call(Request("GET", "/api/jobs", params=params), JobPage.from_api)


class Paged(Protocol):
    next_cursor: str | None


P = TypeVar("P", bound=Paged)


def next_page(call: Call[P], page: P) -> Call[P] | None:
    """The call for the page after `page`, or None after the last."""
    if not page.next_cursor:
        return None
    params = [(k, v) for k, v in call.request.params or [] if k != "cursor"]
    return replace(
        call, request=replace(call.request, params=[*params, ("cursor", page.next_cursor)])
    )


def retry(job_id: str) -> Call[Job]:
    return Call(Request("POST", f"/api/jobs/{job_id}/retry"), Job.from_api)


def retry_many(
    *,
    state: str = "dead",
    name: str | None = None,
    created_after: datetime | str | None = None,
    created_before: datetime | str | None = None,
    limit: int | None = None,
) -> Call[RetriedJobs]:
    """Retry the `dead` (or `cancelled`) jobs that match, up to `limit` (1000 unless
    given) a call."""
    body = {
        "state": state,
        "name": name,
        "created_after": _time(created_after),
        "created_before": _time(created_before),
        "limit": limit,
    }
    body = {key: value for key, value in body.items() if value is not None}
    return Call(Request("POST", "/api/jobs/retry", json=body), RetriedJobs.from_api)


def cancel(job_id: str) -> Call[Job]:
    return Call(Request("POST", f"/api/jobs/{job_id}/cancel"), Job.from_api)


def delete(job_id: str) -> Call[None]:
    return Call(Request("DELETE", f"/api/jobs/{job_id}"), lambda _: None)


def stats() -> Call[Stats]:
    return Call(Request("GET", "/api/stats"), Stats.from_api)


def list_schedules() -> Call[list[Schedule]]:
    return Call(
        Request("GET", "/api/schedules"),
        lambda body: [Schedule.from_api(s) for s in body["schedules"]],
    )


def create_schedule(fields: Mapping[str, Any]) -> Call[Schedule]:
    body = {key: value for key, value in fields.items() if value is not None}
    return Call(Request("POST", "/api/schedules", json=body), Schedule.from_api)


def get_schedule(schedule_id: str) -> Call[Schedule]:
    return Call(Request("GET", f"/api/schedules/{schedule_id}"), Schedule.from_api)


def update_schedule(schedule_id: str, changes: Mapping[str, Any]) -> Call[Schedule]:
    """Only the given fields change; giving `cron` clears `interval_seconds` and the
    other way round."""
    request = Request("PATCH", f"/api/schedules/{schedule_id}", json=dict(changes))
    return Call(request, Schedule.from_api)


def delete_schedule(schedule_id: str) -> Call[None]:
    return Call(Request("DELETE", f"/api/schedules/{schedule_id}"), lambda _: None)


# -- the exchange --------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Connection errors and 429/502/503/504 are retried `retries` times, after
    `backoff * 2**attempt` seconds less up to `jitter` of it at random, or `Retry-After`
    (seconds or an HTTP date) when longer, at most `max_backoff`."""

    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 0.5

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        delay = self.backoff * 2**attempt * (1 - self.jitter * random.random())
        return min(max(delay, retry_after_seconds(retry_after)), self.max_backoff)


def retry_after_seconds(value: str | None, now: float | None = None) -> float:
    """A `Retry-After` header's wait in seconds: a number, or an HTTP date; 0 otherwise."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


class TokenStore(Protocol):
    """Where a login session's tokens are kept for other processes too (the command
    line's config file): read again before a refresh, since another process may have
    refreshed the session (spending the refresh token) meanwhile; written with each new
    pair."""

    def load(self) -> Tokens | None: ...

    def save(self, tokens: Tokens) -> None: ...


@dataclass
class Credentials:
    """How the client authenticates: an API token, a login session's tokens (refreshed
    when the access token expires; from `store` if given), or a username and password
    (logged in when needed)."""

    token: str | None = None
    refresh_token: str | None = None
    username: str | None = None
    password: str | None = None
    store: TokenStore | None = None

    def __post_init__(self) -> None:
        if not (self.token or self.refresh_token):
            self.adopt_stored()
        if not (self.token or self.refresh_token or (self.username and self.password)):
            raise ValueError("give an API token, a username and password, or a token store")

    def renewable(self) -> bool:
        return bool(self.refresh_token or self.password)

    def adopt_stored(self) -> bool:
        """Take the store's tokens if they are not the ones in hand."""
        tokens = self.store.load() if self.store else None
        if tokens is None or tokens.refresh_token == self.refresh_token:
            return False
        self.token, self.refresh_token = tokens.access_token, tokens.refresh_token
        return True

    def keep(self, body: Mapping[str, Any]) -> Tokens:
        tokens = Tokens(
            body["access_token"], body["refresh_token"], body.get("expires_in"), body.get("role")
        )
        self.token, self.refresh_token = tokens.access_token, tokens.refresh_token
        if self.store:
            self.store.save(tokens)
        return tokens


def decode(response: httpx.Response) -> Any:
    """A successful answer's body (None for 204); an error envelope raises `ApiError`."""
    if response.status_code == 204:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success:
        return body
    error = (body.get("error") or {}) if isinstance(body, dict) else {}
    raise ApiError(
        response.status_code,
        error.get("code", "error"),
        error.get("message", response.text[:200]),
        error.get("details"),
    )


def send(policy: RetryPolicy, request: Request) -> Flow[httpx.Response]:
    """Send `request`, retrying what fails for a passing reason (for a request that is
    not `repeatable`, only what surely did not reach the platform)."""
    retried = RETRIED_STATUSES if request.repeatable else (429,)
    attempt = 0
    while True:
        try:
            response = yield request
        except httpx.TransportError as exc:
            unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            if attempt >= policy.retries or not (request.repeatable or unsent):
                raise
            yield Pause(policy.delay(attempt))
        else:
            if response.status_code not in retried or attempt >= policy.retries:
                return response
            yield Pause(policy.delay(attempt, response.headers.get("retry-after")))
        attempt += 1


def log_in(credentials: Credentials, policy: RetryPolicy) -> Flow[Tokens]:
    body = {"username": credentials.username, "password": credentials.password}
    response = yield from send(policy, Request("POST", "/api/login", json=body))
    return credentials.keep(decode(response))


def _renew(credentials: Credentials, policy: RetryPolicy) -> Flow[None]:
    """New tokens after a 401: the store's if another process renewed the session, else
    refresh it, or else log in again."""
    if credentials.adopt_stored():
        return
    if credentials.refresh_token:
        body = {"refresh_token": credentials.refresh_token}
        response = yield from send(policy, Request("POST", "/api/token/refresh", json=body))
        try:
            credentials.keep(decode(response))
            return
        except ApiError:
            if not credentials.password:
                raise
    yield from log_in(credentials, policy)


def authorized(credentials: Credentials, policy: RetryPolicy, call: Call[T]) -> Flow[T]:
    """`call` with the bearer token; a 401 of a login session renews it once."""
    if not credentials.token:
        yield from _renew(credentials, policy)
    bearer = {**call.request.headers, "Authorization": f"Bearer {credentials.token}"}
    response = yield from send(policy, replace(call.request, headers=bearer))
    if response.status_code == 401 and credentials.renewable():
        yield from _renew(credentials, policy)
        bearer = {**call.request.headers, "Authorization": f"Bearer {credentials.token}"}
        response = yield from send(policy, replace(call.request, headers=bearer))
    return call.parse(decode(response))


class Finishing(Protocol):
    state: str

    @property
    def finished(self) -> bool: ...


F = TypeVar("F", bound=Finishing)


def wait(
    credentials: Credentials,
    policy: RetryPolicy,
    read: Call[F],
    what: str,
    timeout: float,
    poll: float,
) -> Flow[F]:
    """Make the `read` call of `what` ("job ID", "workflow ID") every `poll` seconds until
    it is finished; raise `TimeoutError` with its last state after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = yield from authorized(credentials, policy, read)
        if found.finished:
            return found
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} is still {found.state} after {timeout:g}s")
        yield Pause(min(poll, max(0.0, deadline - time.monotonic())))
