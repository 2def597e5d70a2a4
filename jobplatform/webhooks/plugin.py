"""The webhooks' built-in plugin: its settings, the delivery job type, and job events
turned into delivery jobs.

Registered like any plugin (the `jobplatform.plugins` entry point `webhooks`), so it is
loaded in every web and worker process; `[plugins.webhooks] enabled = false` in
plugins.toml turns webhooks off. Its settings (`[plugins.webhooks.settings]`):

- `max_attempts` (5), `initial_delay` (10 s), `backoff_factor` (4), `max_delay` (3600 s):
  the retry policy of `webhook.deliver` jobs, for an endpoint that does not answer 2xx:
  attempts after 10 s, 40 s, 160 s, 640 s (`[job_types."webhook.deliver"]` overrides it,
  as any job type's);
- `timeout` (10 s): how long one attempt may take to connect, send and read each part
  (the job's own timeout, past which the engine gives the attempt up, is `4 * timeout + 5`);
- `per_endpoint` (2): sends to one endpoint at once in a worker process; keep it below
  the worker's threads (WORKER_CONCURRENCY), so an endpoint that never answers leaves
  threads of the `webhooks` queue to the others.
"""

from __future__ import annotations

from typing import Any

from jobplatform.plugins.hook_context import PluginContext
from jobplatform.plugins.hookspecs import hookimpl
from jobplatform.plugins.jobtype import JobType, RetryPolicy
from jobplatform.webhooks import delivery, routing
from jobplatform.webhooks.sender import Sender

SETTINGS_SCHEMA: dict[str, Any] = {
    "max_attempts": {"type": "integer", "min": 1, "max": 20, "default": 5},
    "initial_delay": {"type": "number", "min": 0, "default": 10.0},
    "backoff_factor": {"type": "number", "min": 1, "default": 4.0},
    "max_delay": {"type": "number", "min": 0, "default": 3600.0},
    "timeout": {"type": "number", "min": 0.1, "max": 120, "default": 10.0},
    "per_endpoint": {"type": "integer", "min": 1, "max": 64, "default": 2},
}


@hookimpl
def settings_schema() -> dict[str, Any]:
    return SETTINGS_SCHEMA


@hookimpl
def register_job_types(settings: dict[str, Any], context: PluginContext) -> list[JobType]:
    return [
        JobType(
            name=delivery.DELIVER,
            processor=Sender(context),
            schema=delivery.SCHEMA,
            title="Webhook delivery",
            description=(
                "One event POSTed, signed, to one webhook endpoint; made by the webhooks "
                "plugin (submitted by hand it fails unsent)."
            ),
            retry=retry_policy(settings),
            timeout=settings["timeout"] * 4 + 5,
            queue=delivery.QUEUE,
        )
    ]


@hookimpl
def on_job_event(event: dict[str, Any], context: PluginContext) -> None:
    """Submit a delivery job for each enabled endpoint this event is for; nothing is sent
    here, and no event reads MongoDB more than once per `routing.CACHE_SECONDS` unless
    some endpoint wants it."""
    requests = routing.event_deliveries(event)
    if requests:
        context.jobs.submit_many(requests)


def retry_policy(settings: dict[str, Any]) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings["max_attempts"],
        initial_delay=settings["initial_delay"],
        backoff_factor=settings["backoff_factor"],
        max_delay=settings["max_delay"],
        jitter=0.1,
    )
