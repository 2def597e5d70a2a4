"""`WebhookService`: every rule about webhook endpoints; the API and the admin app call it.

An endpoint has a URL (http or https, with a host), the events it wants (of `EVENTS`), an
optional job-type filter (known job types only; empty means every type), an enabled flag
and a description. Its secret is made here, answered once by `create` and
`rotate_secret`, and stored only encrypted. Bad input raises `InvalidWebhook` naming each
field (422) and stores nothing. Its deliveries are jobs (delivery.py), read through
history.py and submitted through the process's job service.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from jobplatform.errors import Conflict, InvalidInput, NotFound
from jobplatform.ids import parse_object_id
from jobplatform.jobs.errors import InvalidTransition, JobNotFound
from jobplatform.jobs.models import WAITING, Job, utcnow
from jobplatform.jobs.service import JobService
from jobplatform.plugins.host import PluginHost
from jobplatform.webhooks import history
from jobplatform.webhooks.crypto import HINT_LENGTH, SecretBox, new_secret
from jobplatform.webhooks.delivery import DELIVER, delivery_request, made_by
from jobplatform.webhooks.models import EVENTS, PING, WebhookEndpoint
from jobplatform.webhooks.routing import ROUTES

FIELDS = ("url", "events", "job_types", "enabled", "description")
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION = 500
MAX_DELIVERIES_PAGE = history.MAX_PAGE


class InvalidWebhook(InvalidInput):
    """An endpoint's fields are wrong; `details` names each field (422)."""


class WebhookNotFound(NotFound):
    pass


class WebhooksOff(Conflict):
    """The webhooks plugin is not loaded, so nothing can be delivered."""


class WebhookService:
    def __init__(self, host: PluginHost, box: SecretBox, jobs: JobService):
        self.host = host
        self.box = box
        self.jobs = jobs

    # reading

    def list(self) -> list[WebhookEndpoint]:
        return list(WebhookEndpoint.objects.order_by("created_at"))

    def get(self, endpoint_id: str) -> WebhookEndpoint:
        oid = parse_object_id(endpoint_id)
        endpoint = WebhookEndpoint.objects(id=oid).first() if oid else None
        if endpoint is None:
            raise WebhookNotFound(f"no webhook with id '{endpoint_id}'")
        return endpoint

    def deliveries(
        self, endpoint_id: str, limit: int = 50, before: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The endpoint's delivery jobs, newest first, each with its attempts; and the
        cursor of the next page (`before`: the last id of a page), None on the last page."""
        endpoint = self.get(endpoint_id)
        if not 1 <= limit <= MAX_DELIVERIES_PAGE:
            raise InvalidWebhook(
                "bad page size", {"limit": [f"must be from 1 to {MAX_DELIVERIES_PAGE}"]}
            )
        cursor = None
        if before is not None:
            cursor = parse_object_id(before)
            if cursor is None:
                raise InvalidWebhook("bad cursor", {"before": ["not a delivery id"]})
        return history.endpoint_deliveries(endpoint.id, limit, cursor)

    # changing

    def create(
        self, fields: dict[str, Any], *, created_by: str | None = None
    ) -> tuple[WebhookEndpoint, str]:
        """Store a new endpoint; answer it and its secret (the only time it is given)."""
        values = {"job_types": [], "enabled": True, "description": "", **fields}
        clean = self._checked(values)
        secret, now = new_secret(), utcnow()
        endpoint = WebhookEndpoint(
            **clean,
            sealed_secret=self.box.seal(secret),
            secret_hint=secret[:HINT_LENGTH],
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )
        endpoint.save(force_insert=True)
        ROUTES.forget()
        return endpoint, secret

    def update(self, endpoint_id: str, changes: dict[str, Any]) -> WebhookEndpoint:
        """Change some fields; the whole endpoint is checked again as `create` checks it."""
        endpoint = self.get(endpoint_id)
        values = {name: getattr(endpoint, name) for name in FIELDS} | dict(changes)
        # a filter is checked when given: a type whose plugin left since must not stop
        # an admin from disabling or changing the endpoint otherwise
        clean = self._checked(values, job_types_given="job_types" in changes)
        WebhookEndpoint.objects(id=endpoint.id).update_one(
            **{f"set__{name}": value for name, value in clean.items()}, set__updated_at=utcnow()
        )
        ROUTES.forget()
        return self.get(endpoint_id)

    def rotate_secret(self, endpoint_id: str) -> tuple[WebhookEndpoint, str]:
        """Give the endpoint a new secret at once (attempts from now on are signed with it)."""
        endpoint = self.get(endpoint_id)
        secret, now = new_secret(), utcnow()
        WebhookEndpoint.objects(id=endpoint.id).update_one(
            set__sealed_secret=self.box.seal(secret),
            set__secret_hint=secret[:HINT_LENGTH],
            set__secret_rotated_at=now,
            set__updated_at=now,
        )
        return self.get(endpoint_id), secret

    def delete(self, endpoint_id: str) -> None:
        """Remove the endpoint; its waiting deliveries are cancelled, and its delivery jobs
        stay in the history until the job retention removes them."""
        endpoint = self.get(endpoint_id)
        endpoint.delete()
        ROUTES.forget()
        waiting = Job.objects(
            __raw__={"created_by": made_by(endpoint.id), "state": {"$in": list(WAITING)}}
        ).scalar("id")
        for job_id in list(waiting):
            try:
                self.jobs.cancel(str(job_id))
            except (InvalidTransition, JobNotFound):
                continue  # it ran or ended meanwhile; without its endpoint it sends nothing

    def ping(self, endpoint_id: str) -> dict[str, Any]:
        """Submit a `ping` delivery to the endpoint (one attempt) and answer it as queued;
        a worker of the `webhooks` queue sends it (a disabled endpoint's fails unsent)."""
        endpoint = self.get(endpoint_id)
        if DELIVER not in self.host.job_types:
            raise WebhooksOff(
                "webhooks are turned off ([plugins.webhooks] in plugins.toml); nothing is sent"
            )
        payload = {"webhook_id": str(endpoint.id), "message": "a test delivery from jobplatform"}
        job = self.jobs.submit(**delivery_request(endpoint.id, PING, payload, max_attempts=1))
        return history.describe(job)

    # the rules

    def _checked(self, values: dict[str, Any], job_types_given: bool = True) -> dict[str, Any]:
        unknown = sorted(set(values) - set(FIELDS))
        problems: dict[str, list[str]] = {name: ["unknown field"] for name in unknown}
        clean: dict[str, Any] = {}
        for name, check in (
            ("url", _check_url),
            ("events", _check_events),
            ("job_types", self._check_job_types if job_types_given else _kept),
            ("enabled", _check_enabled),
            ("description", _check_description),
        ):
            value, problem = check(values.get(name))
            if problem:
                problems[name] = [problem]
            else:
                clean[name] = value
        if problems:
            raise InvalidWebhook("the webhook is invalid; nothing was stored", problems)
        return clean

    def _check_job_types(self, value: Any) -> tuple[Any, str | None]:
        if value is None:
            return [], None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None, "must be a list of job type names (empty: every job type)"
        unknown = [v for v in value if v not in self.host.job_types]
        if unknown:
            known = ", ".join(sorted(self.host.job_types)) or "none"
            return None, f"unknown job type {unknown[0]!r}; known types: {known}"
        return list(dict.fromkeys(value)), None


def _kept(value: Any) -> tuple[Any, str | None]:
    return list(value or []), None


def _check_url(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str) or not value.strip():
        return None, "required: the http:// or https:// URL to POST to"
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        return None, f"must be at most {MAX_URL_LENGTH} characters"
    if not url.isascii() or any(ch <= " " or ch == "\x7f" for ch in url):
        return None, "must be ASCII without spaces or control characters (percent-encode)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        return None, f"is not a valid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return None, f"must start with http:// or https://, not {parts.scheme or 'nothing'}:"
    if not parts.hostname:
        return None, "has no host; expected http(s)://host[:port]/path"
    if parts.fragment:
        return None, "must not have a #fragment (it is never sent)"
    return url, None


def _check_events(value: Any) -> tuple[Any, str | None]:
    choices = ", ".join(EVENTS)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        return None, f"required: a list of one or more of {choices}"
    unknown = [v for v in value if v not in EVENTS]
    if unknown:
        return None, f"unknown event {unknown[0]!r}; the events are {choices}"
    return list(dict.fromkeys(value)), None


def _check_enabled(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, bool):
        return None, "must be true or false"
    return value, None


def _check_description(value: Any) -> tuple[Any, str | None]:
    if value is None:
        return "", None
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        return None, f"must be text of at most {MAX_DESCRIPTION} characters"
    if any(ord(ch) < 32 and ch not in "\t\n" or 0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        return None, "must not hold control characters or lone surrogates"
    return value.strip(), None
