"""Hook implementations: the plugin's settings, and the `sendEmail` job type."""

from __future__ import annotations

from typing import Any

from jobplatform.plugins import JobContext, JobType, RetryPolicy, hookimpl
from jobplatform_email.delivery import deliver
from jobplatform_email.headers import EMAIL_PATTERN, check_subject

ADDRESS = {"type": "string", "regex": EMAIL_PATTERN, "maxlength": 254}
ADDRESS_LIST = {"type": "list", "maxlength": 100, "schema": ADDRESS}

SETTINGS_SCHEMA = {
    "host": {"type": "string", "default": "127.0.0.1"},
    "port": {"type": "integer", "coerce": int, "min": 1, "max": 65535, "default": 25},
    "tls": {"type": "string", "allowed": ["none", "starttls", "tls"], "default": "starttls"},
    "username": {"type": "string", "default": ""},
    "password": {"type": "string", "default": ""},
    "sender": {"type": "string", "regex": EMAIL_PATTERN, "default": "jobplatform@localhost"},
    "timeout": {"type": "number", "coerce": float, "min": 1, "default": 30.0},
    "ca_file": {"type": "string", "default": ""},
}

DATA_SCHEMA = {
    "recipient": {
        "required": True,
        "anyof": [ADDRESS, {**ADDRESS_LIST, "minlength": 1}],
        "meta": {"label": "To", "help": "one address, or a list of addresses"},
    },
    "subject": {
        "type": "string",
        "required": True,
        "empty": False,
        "maxlength": 998,
        "check_with": check_subject,
    },
    "body": {"type": "string", "maxlength": 1_000_000, "meta": {"label": "Plain-text body"}},
    "html": {"type": "string", "maxlength": 1_000_000, "meta": {"label": "HTML body"}},
    "cc": ADDRESS_LIST,
    "bcc": ADDRESS_LIST,
    "reply_to": ADDRESS,
    "variables": {
        "type": "dict",
        "keysrules": {"type": "string", "regex": r"^[A-Za-z_][A-Za-z0-9_]*\Z"},
        "meta": {"help": "values for $name placeholders in the subject and bodies"},
    },
}


@hookimpl
def settings_schema() -> dict[str, Any]:
    return SETTINGS_SCHEMA


@hookimpl
def check_settings(settings: dict[str, Any]) -> list[str]:
    problems = []
    if settings["username"] and not settings["password"]:
        problems.append("username is set but password is empty")
    if settings["username"] and settings["tls"] == "none":
        problems.append("refusing to send SMTP credentials without TLS; set tls to starttls or tls")
    return problems


def send_email(ctx: JobContext) -> dict[str, Any]:
    return deliver(ctx.data, ctx.settings, ctx.idempotency_key)


@hookimpl
def register_job_types(settings: dict[str, Any]) -> list[JobType]:
    return [
        JobType(
            name="sendEmail",
            title="Send email",
            description="Deliver one email over SMTP (plain text and/or HTML, cc, bcc, templates).",
            processor=send_email,
            schema=DATA_SCHEMA,
            retry=RetryPolicy(
                max_attempts=3, initial_delay=2.0, backoff_factor=2.0, max_delay=300.0, jitter=0.1
            ),
            timeout=settings["timeout"] * 3,
            queue="email",
        )
    ]
