"""`plugins.toml`: which plugins are enabled, their settings, per-job-type overrides.

    [plugins.email]
    enabled = true
    path = "plugins/email"            # a local package `make run` installs (optional)

    [plugins.email.settings]
    host = "${SMTP_HOST:-127.0.0.1}"  # ${NAME} and ${NAME:-default} read the environment
    password = "${SMTP_PASSWORD:-}"

    [job_types.sendEmail]
    queue = "email"
    timeout = 60
    retry = { max_attempts = 5, initial_delay = 2 }
    rate_limit = "10/s"               # at most 10 starts in any second, all workers
    concurrency_limit = 4             # at most 4 running at once; false lifts a limit

A file that is not valid TOML, or that names an unknown key, stops start-up with a
`ManifestError` giving the file, the line and the fix.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cerberus import Validator
from dotenv import dotenv_values

RETRY_KEYS = {
    "max_attempts": {"type": "integer", "min": 1, "max": 100},
    "initial_delay": {"type": "number", "min": 0},
    "backoff_factor": {"type": "number", "min": 1},
    "max_delay": {"type": "number", "min": 0},
    "jitter": {"type": "number", "min": 0, "max": 1},
}
JOB_TYPE_OVERRIDE = {
    "queue": {"type": "string", "regex": r"[A-Za-z0-9_.-]{1,64}\Z"},
    "timeout": {"type": "number", "min": 0.001},
    "priority": {"type": "integer"},
    "retry": {"type": "dict", "schema": RETRY_KEYS},
    # checked by the plugin host, which fails only that plugin on a bad value
    "rate_limit": {},
    "concurrency_limit": {},
}
MANIFEST_SCHEMA = {
    "plugins": {
        "type": "dict",
        "valuesrules": {
            "type": "dict",
            "schema": {
                "enabled": {"type": "boolean"},
                "path": {"type": "string"},
                "package": {"type": "string"},
                "settings": {"type": "dict"},
            },
        },
    },
    "job_types": {"type": "dict", "valuesrules": {"type": "dict", "schema": JOB_TYPE_OVERRIDE}},
}
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ManifestError(Exception):
    """plugins.toml cannot be used; str() names the file, the line and the fix."""


@dataclass(frozen=True)
class PluginEntry:
    name: str
    enabled: bool = True
    path: str | None = None
    package: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    path: Path | None
    plugins: dict[str, PluginEntry]
    job_types: dict[str, dict[str, Any]]

    def is_enabled(self, plugin: str) -> bool:
        """A plugin not named in the file is enabled: installing it is the opt-in."""
        entry = self.plugins.get(plugin)
        return entry is None or entry.enabled

    def settings_for(self, plugin: str) -> dict[str, Any]:
        """The plugin's settings with `${NAME}` read from the environment, then `.env`."""
        entry = self.plugins.get(plugin)
        if not entry:
            return {}
        environ = {k: v for k, v in dotenv_values(".env").items() if v is not None}
        return expand_env(entry.settings, {**environ, **os.environ})

    def location(self, key: str, section: str) -> str:
        """`file:line` of `key` inside `[section]` (or `file` alone), for error messages."""
        if self.path is None or not self.path.exists():
            return "plugins.toml"
        text = self.path.read_text(encoding="utf-8")
        header = re.search(rf"^[ \t]*\[\s*{re.escape(section)}\s*\]", text, re.MULTILINE)
        start = header.start() if header else 0
        line = _line_of(text[start:], key)
        if line is None:
            return str(self.path)
        return f"{self.path}:{text.count(chr(10), 0, start) + line}"


EMPTY = Manifest(path=None, plugins={}, job_types={})


def expand_env(value: Any, environ: dict[str, str] | None = None) -> Any:
    """Replace `${NAME}` and `${NAME:-default}` in strings, recursively."""
    env = os.environ if environ is None else environ
    if isinstance(value, dict):
        return {k: expand_env(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env) for v in value]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ManifestError(
                f"${{{name}}} is used in plugins.toml but {name} is not set; "
                f"set it in the environment or .env, or give a default: "
                f"${{{name}:-value}}"
            )

        return ENV_REFERENCE.sub(substitute, value)
    return value


def _line_of(text: str, key: str) -> int | None:
    pattern = re.compile(rf"(?:^|[\s.\[{{,])({re.escape(key)})\s*[=.\]]", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start(1)) + 1 if match else None


def _flatten_errors(errors: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for key, messages in errors.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        for message in messages:
            if isinstance(message, dict):
                found.extend(_flatten_errors(message, path))
            else:
                found.append((path, message))
    return found


def load_manifest(path: Path) -> Manifest:
    """Read and check plugins.toml. A missing file means: no overrides, all plugins enabled."""
    if not path.exists():
        return Manifest(path=path, plugins={}, job_types={})
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        position = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = position.group(1) if position else "?"
        raise ManifestError(
            f"{path}:{line}: not valid TOML: {exc}; fix the syntax on that "
            "line (strings need quotes, each table header is [name])."
        ) from None
    unknown = set(raw) - set(MANIFEST_SCHEMA)
    if unknown:
        key = sorted(unknown)[0]
        raise ManifestError(
            f"{path}:{_line_of(text, key) or '?'}: unknown section '{key}'; "
            f"the file may contain only [plugins.NAME] and [job_types.NAME]."
        )
    validator = Validator(MANIFEST_SCHEMA)
    if not validator.validate(raw):
        where, message = _flatten_errors(validator.errors)[0]
        key = where.split(".")[-1]
        hint = (
            "remove it or check its spelling" if message == "unknown field" else "correct the value"
        )
        raise ManifestError(f"{path}:{_line_of(text, key) or '?'}: {where}: {message}; {hint}.")
    plugins = {
        name: PluginEntry(
            name=name,
            enabled=entry.get("enabled", True),
            path=entry.get("path"),
            package=entry.get("package"),
            settings=entry.get("settings", {}),
        )
        for name, entry in raw.get("plugins", {}).items()
    }
    return Manifest(path=path, plugins=plugins, job_types=raw.get("job_types", {}))
