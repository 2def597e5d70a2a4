"""The webhooks' built-in plugin: its settings, and job events turned into deliveries.

Registered like any plugin (the `jobplatform.plugins` entry point `webhooks`), so it is
loaded in every web and worker process; `[plugins.webhooks] enabled = false` in
plugins.toml turns webhooks off. Its settings (`[plugins.webhooks.settings]`):

- `max_attempts` (5), `initial_delay` (10 s), `backoff_factor` (4), `max_delay` (3600 s):
  the tries of a delivery whose endpoint does not answer 2xx: 10 s, 40 s, 160 s, 640 s;
- `timeout` (10 s): how long one try may take to connect, send and read each part;
- `concurrency` (4): sends at once per worker process; one endpoint gets at most half;
- `retention_days` (7) and `keep_per_endpoint` (1000): finished deliveries are removed
  once older, or once an endpoint has more.
"""

from __future__ import annotations

from typing import Any

from cerberus import Validator

from jobplatform.plugins.hookspecs import hookimpl
from jobplatform.plugins.host import PluginHost
from jobplatform.plugins.jobtype import RetryPolicy
from jobplatform.webhooks import routing

NAME = "webhooks"
SETTINGS_SCHEMA: dict[str, Any] = {
    "max_attempts": {"type": "integer", "min": 1, "max": 20, "default": 5},
    "initial_delay": {"type": "number", "min": 0, "default": 10.0},
    "backoff_factor": {"type": "number", "min": 1, "default": 4.0},
    "max_delay": {"type": "number", "min": 0, "default": 3600.0},
    "timeout": {"type": "number", "min": 0.1, "max": 120, "default": 10.0},
    "concurrency": {"type": "integer", "min": 1, "max": 64, "default": 4},
    "retention_days": {"type": "number", "min": 0.01, "default": 7.0},
    "keep_per_endpoint": {"type": "integer", "min": 1, "default": 1000},
}


@hookimpl
def settings_schema() -> dict[str, Any]:
    return SETTINGS_SCHEMA


@hookimpl
def on_job_event(event: dict[str, Any], settings: dict[str, Any]) -> None:
    """Store a pending delivery for each enabled endpoint this event is for; nothing is
    sent here (a dispatcher in a worker sends it), and no event reads MongoDB more than
    once per `routing.CACHE_SECONDS` unless some endpoint wants it."""
    routing.record_job_event(event, settings["max_attempts"])


def webhook_settings(host: PluginHost) -> dict[str, Any] | None:
    """This plugin's normalised settings in `host`, or None when it is not loaded."""
    record = host.plugins.get(NAME)
    return record.settings if record is not None and record.status == "loaded" else None


def default_settings() -> dict[str, Any]:
    return Validator(SETTINGS_SCHEMA).normalized({})


def retry_policy(settings: dict[str, Any]) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings["max_attempts"],
        initial_delay=settings["initial_delay"],
        backoff_factor=settings["backoff_factor"],
        max_delay=settings["max_delay"],
        jitter=0.1,
    )
