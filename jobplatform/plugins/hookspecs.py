"""The hooks a plugin can implement. Each docstring is the plugin author's reference.

A plugin is a module (or object) with functions marked `@hookimpl`, published under the
`jobplatform.plugins` entry-point group. The host calls each plugin's implementation on
its own, through pluggy's hook caller, so one plugin that raises cannot break another.

Every hook but `settings_schema` may take `context` (a `PluginContext`,
jobplatform/plugins/hook_context.py): `context.plugin` is the plugin's name,
`context.settings` its normalised settings, and `context.jobs` the process's job service
(`context.jobs.submit("type", {...})`), there once plugins have loaded. An implementation
takes only the arguments it names, so `settings` alone keeps working.
"""

from __future__ import annotations

from typing import Any

import pluggy

from jobplatform.plugins.hook_context import PluginContext

PROJECT = "jobplatform"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def settings_schema() -> dict[str, Any] | None:
    """Return a cerberus schema for this plugin's settings (`[plugins.NAME.settings]`).

    Called once at start-up, before `check_settings`. The settings from `plugins.toml`
    are validated and normalised against it (use `coerce`, `default`); a key the schema
    does not name is refused, and the plugin is marked failed with the reason. Return
    None to accept no settings.
    """


@hookspec
def check_settings(settings: dict[str, Any], context: PluginContext) -> list[str] | None:
    """Check this plugin's normalised settings; return a list of problems (empty if none).

    Called at start-up and by `jobplatform plugins list`. Problems mark the plugin
    failed with the messages joined, and its job types are not offered.
    """


@hookspec
def register_job_types(settings: dict[str, Any], context: PluginContext) -> list[Any]:
    """Return the `JobType`s this plugin provides.

    A `JobType` (jobplatform/plugins/jobtype.py) has a `name` (letters, digits, `_.-`),
    `title`, `description`, the `processor` (called with a `JobContext`, returns a
    JSON-serialisable result), a cerberus `schema` for the job's data, a `retry`
    `RetryPolicy`, a `timeout` in seconds, a `queue`, a `priority` and, for the admin app,
    `form_widgets` and a `result_renderer`. `[job_types.NAME]` in plugins.toml may
    override `queue`, `timeout`, `priority` and fields of `retry`.

    `settings` are the plugin's normalised settings. Called once when the host is built,
    in every web and worker process. A name already taken by another plugin (plugins
    load in name order), a schema cerberus refuses, or an exception marks the plugin
    failed with the reason; the other plugins are unaffected.
    """


@hookspec
def on_job_event(event: dict[str, Any], settings: dict[str, Any], context: PluginContext) -> None:
    """Observe a job's transition, for any job type (check `event["job_type"]`).

    `event` has `kind` (one of queued, started, succeeded, failed, retrying, dead,
    cancelled), `job_id`, `job_type`, `attempt`, `at` (a UTC datetime) and, for
    failed, retrying and dead, `error`; retrying also has `delay` (seconds); succeeded
    and failed have `duration_ms` (of that attempt). A failed attempt gives `failed`
    followed by `retrying` or `dead`. `settings` are this plugin's
    normalised settings (take the argument only if you need it).

    Called in the process where the transition happened (queued and cancelled where the
    job was submitted or cancelled, the rest on the worker), after it is stored, so
    the job document already shows it. Exceptions are logged and ignored; keep it
    quick (it runs on the job's thread), or submit a job for slow work
    (`context.jobs.submit(...)`).
    """


@hookspec
def default_schedules(
    settings: dict[str, Any], context: PluginContext
) -> list[dict[str, Any]] | None:
    """Return the schedules (periodic jobs) this plugin offers by default, as dicts.

    Each dict has `name` (unique among all schedules), `job_type`, `data`, and either
    `cron` (5 fields, e.g. `"0 3 * * *"`) with an optional `timezone` (an IANA name,
    default `UTC`) or `interval_seconds` (at least 1); optionally `priority`,
    `max_attempts` and `timeout`, as a submission takes them. Called when a web process
    starts: a default whose name no schedule has yet is created *disabled*, so it fires
    only once an operator enables it; later changes to the dict do not touch a schedule
    that exists. One that is invalid (unknown job type, data its schema refuses, a bad
    cron expression) is logged and skipped; an exception is logged and ignored.
    """
