"""The plugin host: finds plugins, loads each in isolation, and holds the job types.

A host is an object built by `build_host`; nothing is loaded at import time, so a test
can build a host with exactly the plugins it names. A plugin that fails (import error,
bad settings, duplicate job-type name, invalid schema, a hook that raises) is recorded
as failed with its reason; the rest keep working.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any

import pluggy
from cerberus import SchemaError, Validator

from jobplatform.plugins import hookspecs
from jobplatform.plugins.hook_context import PluginContext
from jobplatform.plugins.jobtype import NAME_PATTERN, JobType
from jobplatform.plugins.manifest import EMPTY, Manifest, ManifestError

ENTRY_POINT_GROUP = "jobplatform.plugins"
LIMIT_KEYS = {"rate_limit", "concurrency_limit"}  # overrides the host checks itself
log = logging.getLogger(__name__)


class UnknownJobType(KeyError):
    def __init__(self, name: str, known: list[str]):
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"unknown job type '{self.name}'; known types: {', '.join(self.known) or 'none'}"


@dataclass
class PluginRecord:
    """What the host knows about one plugin, as `plugins list` and the API show it."""

    name: str
    version: str = ""
    source: str = ""
    status: str = "loaded"  # loaded | failed | disabled
    error: str | None = None
    job_types: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "status": self.status,
            "error": self.error,
            "job_types": list(self.job_types),
        }


class PluginHost:
    """Holds loaded plugins and their job types; dispatches job events to observers."""

    def __init__(self, manifest: Manifest = EMPTY):
        self.manifest = manifest
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginRecord] = {}
        self.job_types: dict[str, JobType] = {}
        self._owner: dict[str, str] = {}
        self._callers: dict[tuple[str, str], Any] = {}  # (hook, plugin) -> subset caller
        self._observer_names: list[str] | None = None
        self.jobs: Any = None  # the process's JobService, offered to hooks by `context`

    # -- loading -----------------------------------------------------------------------

    def add(
        self, name: str, plugin: object, *, version: str = "", source: str = ""
    ) -> PluginRecord:
        """Load one plugin object (a module with hook implementations)."""
        record = PluginRecord(name=name, version=version, source=source)
        self.plugins[name] = record
        if not self.manifest.is_enabled(name):
            record.status = "disabled"
            return record
        try:
            self.manager.register(plugin, name=name)
            self._forget_callers()
            record.settings = self._settings(name)
            problems = self._call_one(name, "check_settings") or []
            if problems:
                raise PluginFailure("; ".join(str(p) for p in problems))
            types = self._call_one(name, "register_job_types") or []
            checked = [self._check_job_type(name, t) for t in types]
        except Exception as exc:  # noqa: BLE001 - any plugin failure is isolated and reported
            self._fail(record, exc)
            return record
        for job_type in checked:
            self.job_types[job_type.name] = job_type
            self._owner[job_type.name] = name
        record.job_types = [t.name for t in checked]
        return record

    def add_failed(self, name: str, error: str, *, version: str = "", source: str = "") -> None:
        self.plugins[name] = PluginRecord(
            name=name, version=version, source=source, status="failed", error=error
        )

    def _fail(self, record: PluginRecord, exc: Exception) -> None:
        record.status = "failed"
        known = isinstance(exc, (PluginFailure, ManifestError))
        record.error = str(exc) if known else _describe(exc)
        if self.manager.has_plugin(record.name):
            self.manager.unregister(name=record.name)
            self._forget_callers()
        log.error("plugin %s failed to load: %s", record.name, record.error)

    def _settings(self, name: str) -> dict[str, Any]:
        raw = self.manifest.settings_for(name)
        schema = self._call_one(name, "settings_schema")
        section = f"plugins.{name}.settings"
        if schema is None:
            if raw:
                where = self.manifest.location(sorted(raw)[0], section)
                raise PluginFailure(
                    f"{where}: [{section}] is given, but this plugin takes no "
                    "settings; remove that table"
                )
            return {}
        validator = Validator(schema)
        if not validator.validate(raw):
            problems = [
                f"{self.manifest.location(key, section)}: [{section}] {key}: {message}"
                for key, message in _first_errors(validator.errors)
            ]
            raise PluginFailure("; ".join(problems) + " (fix these settings in plugins.toml)")
        return validator.document

    def _call_one(self, plugin_name: str, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of `hook` through pluggy's hook caller (so its
        tracing and wrappers apply), with `settings` and `context` added to `kwargs` when
        the hook takes them; None if the plugin has no implementation. Calling each
        plugin on its own is what keeps one that raises from stopping the others."""
        key = (hook, plugin_name)
        if key not in self._callers:
            others = [p for n, p in self.manager.list_name_plugin() if n != plugin_name]
            self._callers[key] = self.manager.subset_hook_caller(hook, remove_plugins=others)
        caller = self._callers[key]
        if not caller.get_hookimpls():
            return None
        names = set(caller.spec.argnames) if caller.spec else set()
        record = self.plugins[plugin_name]
        if "settings" in names:
            kwargs["settings"] = record.settings
        if "context" in names:
            kwargs["context"] = PluginContext(plugin_name, record.settings, self)
        results = caller(**kwargs)
        return results[0] if results else None

    def _forget_callers(self) -> None:
        """Each subset caller leaves out the plugins known when it was made: make them anew
        after a plugin comes or goes."""
        self._callers.clear()
        self._observer_names = None

    def _loaded_with(self, hook: str) -> list[str]:
        """The loaded plugins implementing `hook`, in name order."""
        impls = getattr(self.manager.hook, hook).get_hookimpls()
        return sorted({impl.plugin_name for impl in impls})

    def _check_job_type(self, plugin: str, job_type: Any) -> JobType:
        if not isinstance(job_type, JobType):
            raise PluginFailure(
                f"register_job_types returned {type(job_type).__name__}, not JobType"
            )
        if not NAME_PATTERN.match(job_type.name):
            raise PluginFailure(f"job type name {job_type.name!r} is not a valid name")
        if job_type.name in self.job_types:
            raise PluginFailure(
                f"job type '{job_type.name}' is already registered by plugin "
                f"'{self._owner[job_type.name]}'"
            )
        try:
            Validator(job_type.schema)
        except SchemaError as exc:
            raise PluginFailure(
                f"job type '{job_type.name}' has an invalid schema: {exc}"
            ) from None
        return self._apply_overrides(job_type)

    def _apply_overrides(self, job_type: JobType) -> JobType:
        overrides = dict(self.manifest.job_types.get(job_type.name, {}))
        retry = overrides.pop("retry", None)
        try:
            policy = job_type.retry.with_overrides(retry) if retry else job_type.retry
        except ValueError as exc:
            raise ManifestError(f"[job_types.{job_type.name}] retry: {exc}") from None
        for key in sorted(LIMIT_KEYS & overrides.keys()):
            value = overrides[key]
            overrides[key] = None if value is False else value  # false lifts the limit
            try:
                replace(job_type, **{key: overrides[key]})
            except ValueError as exc:
                section = f"job_types.{job_type.name}"
                raise ManifestError(
                    f"{self.manifest.location(key, section)}: [{section}] {exc}; "
                    "fix it in plugins.toml (or write false for no limit)"
                ) from None
        return replace(job_type, retry=policy, **overrides)

    # -- use ---------------------------------------------------------------------------

    def job_type(self, name: str) -> JobType:
        try:
            return self.job_types[name]
        except KeyError:
            raise UnknownJobType(name, sorted(self.job_types)) from None

    def owner_of(self, job_type: str) -> str:
        """The name of the plugin that registered `job_type`."""
        return self._owner[job_type]

    def settings_of(self, job_type: str) -> dict[str, Any]:
        return self.plugins[self.owner_of(job_type)].settings

    def default_schedules(self) -> list[tuple[str, dict[str, Any]]]:
        """Each loaded plugin's `default_schedules`, as (plugin name, schedule dict) pairs
        in plugin-name order; a hook that raises, or returns something else than dicts,
        is logged and left out."""
        found = []
        for plugin in self._loaded_with("default_schedules"):
            try:
                specs = self._call_one(plugin, "default_schedules")
            except Exception:  # noqa: BLE001 - a plugin's defaults must not stop a process
                log.exception("plugin %s: default_schedules raised", plugin)
                continue
            for spec in specs or []:
                if isinstance(spec, dict):
                    found.append((plugin, dict(spec)))
                else:
                    log.error(
                        "plugin %s: default_schedules returned %s, not a dict",
                        plugin,
                        type(spec).__name__,
                    )
        return found

    def emit(self, event: dict[str, Any]) -> None:
        """Give a job event to every plugin's `on_job_event`; one that raises is logged."""
        for plugin in self._observers():
            try:
                self._call_one(plugin, "on_job_event", event=event)
            except Exception:  # noqa: BLE001 - an observer must never break a job
                log.exception("plugin %s: on_job_event raised", plugin)

    def _observers(self) -> list[str]:
        """`_loaded_with("on_job_event")`, kept: emit runs on every transition, and the
        plugins change only while they load."""
        if self._observer_names is None:
            self._observer_names = self._loaded_with("on_job_event")
        return self._observer_names


class PluginFailure(Exception):
    """A plugin broke one of the host's rules; str() is the reason shown to operators."""


def _first_errors(errors: dict[str, Any]) -> list[tuple[str, str]]:
    """Cerberus's nested error dict as (top-level key, first message) pairs."""
    return [(str(key), str(messages[0])) for key, messages in errors.items()]


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def build_host(
    manifest: Manifest = EMPTY,
    *,
    entry_points: bool = True,
    plugins: dict[str, object] | None = None,
) -> PluginHost:
    """Build a host from the installed entry points (if `entry_points`) and `plugins`.

    `plugins` maps names to plugin objects given directly, as tests do.
    """
    host = PluginHost(manifest)
    if entry_points:
        # Sorted, so which of two plugins claiming one job-type name wins does not depend
        # on the order of sys.path.
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist
            version = dist.version if dist else ""
            source = f"{dist.name if dist else '?'} ({ep.value})"
            if ep.name in host.plugins:
                host.add_failed(
                    f"{ep.name} [{source}]",
                    f"plugin name '{ep.name}' is already "
                    f"taken by {host.plugins[ep.name].source}; uninstall one of them",
                    version=version,
                    source=source,
                )
                continue
            if not manifest.is_enabled(ep.name):
                host.plugins[ep.name] = PluginRecord(ep.name, version, source, status="disabled")
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - an import failure is reported, not raised
                host.add_failed(
                    ep.name, f"import failed: {_describe(exc)}", version=version, source=source
                )
                log.error("plugin %s failed to import: %s", ep.name, exc)
                continue
            host.add(ep.name, plugin, version=version, source=source)
        for entry in manifest.plugins.values():
            if entry.enabled and entry.name not in host.plugins:
                host.add_failed(
                    entry.name,
                    "enabled in plugins.toml but not installed; run "
                    "`jobplatform plugins sync` (or `jobplatform plugins install "
                    "PATH_OR_PACKAGE`), or set enabled = false",
                    source=entry.path or entry.package or "plugins.toml",
                )
    for name, plugin in (plugins or {}).items():
        host.add(name, plugin, source="given")
    return host
