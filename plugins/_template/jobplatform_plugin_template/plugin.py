"""Hook implementations of the plugin_template plugin: its settings and its job type.

The platform calls these hooks (documented in `jobplatform/plugins/hookspecs.py`):
`settings_schema` and `check_settings` at start-up, then `register_job_types`.
The processor runs on a worker, once per attempt.
"""

from __future__ import annotations

from typing import Any

from jobplatform.plugins import JobContext, JobType, PermanentError, RetryPolicy, hookimpl

# [plugins.plugin_template.settings] in plugins.toml, checked and normalised with this
# cerberus schema. A secret is written there as "${SOME_ENV_VAR}", never in clear.
SETTINGS_SCHEMA = {
    "greeting": {"type": "string", "empty": False, "default": "Hello"},
}

# What a job's data must look like. The API refuses other data with one message per
# field, and the admin app builds its form from it (`meta` gives labels and help).
DATA_SCHEMA = {
    "name": {
        "type": "string",
        "required": True,
        "empty": False,
        "maxlength": 100,
        "meta": {"label": "Name", "help": "who to greet"},
    },
    "shout": {"type": "boolean", "default": False},
}


@hookimpl
def settings_schema() -> dict[str, Any]:
    return SETTINGS_SCHEMA


@hookimpl
def check_settings(settings: dict[str, Any]) -> list[str]:
    """Problems that the schema cannot express; each one is shown to the operator."""
    if "{" in settings["greeting"]:
        return ["greeting must be plain text, without braces"]
    return []


def greet(ctx: JobContext) -> dict[str, Any]:
    """The processor: do the work of one attempt and return a JSON-serialisable result.

    Raise any exception to fail this attempt (the retry policy decides what happens
    next); raise `PermanentError` when trying again cannot help.

    `ctx.log` is a logger whose lines are kept on this attempt (the admin app and
    `GET /api/jobs/{id}` show them, live while it runs); `ctx.progress(done, total,
    message)` says how far it got (a progress bar in the admin app). Both cost nothing
    per call: the worker stores what changed about once a second, and the rest with the
    outcome. `ctx.logger` writes to the worker's log only.
    """
    name = ctx.data["name"]
    if name.lower() == "nobody":
        raise PermanentError("there is nobody to greet")
    ctx.log.info("greeting %s (attempt %d of %d)", name, ctx.attempt, ctx.max_attempts)
    ctx.progress(0, 1, f"greeting {name}")  # long work reports after each step
    message = f"{ctx.settings['greeting']}, {name}!"
    ctx.progress(1, 1, "greeted")
    return {"message": message.upper() if ctx.data["shout"] else message}


@hookimpl
def register_job_types(settings: dict[str, Any]) -> list[JobType]:
    return [
        JobType(
            name="pluginTemplate",
            title="Plugin template",
            description="Greets someone by name (an example job type: replace it with yours).",
            processor=greet,
            schema=DATA_SCHEMA,
            retry=RetryPolicy(
                max_attempts=3, initial_delay=1.0, backoff_factor=2.0, max_delay=60.0, jitter=0.1
            ),
            timeout=30.0,
            queue="default",
        )
    ]
