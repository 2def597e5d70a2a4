"""Structured logging: JSON lines in production, readable colour in development.

`configure_logging` sets up the root logger once per process from the settings.
`bind(**fields)` adds fields (a request id, a job id) to every log line written inside it,
in this task or thread. Extra fields passed to a logger (`extra=` or a `LoggerAdapter`,
as the executor's job logger does) appear on the line too. As a built-in plugin, this
module also writes one line for every job transition, with the job's id, type and attempt.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from jobplatform.config import Settings
from jobplatform.plugins.hookspecs import hookimpl

_bound: ContextVar[dict[str, Any]] = ContextVar("jobplatform_log_fields", default={})  # noqa: B039 - never mutated
STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}  # color_message: uvicorn's ANSI copy
COLOURS = {
    "DEBUG": "\033[2m",
    "INFO": "\033[32m",
    "WARNING": "\033[33m",
    "ERROR": "\033[31m",
    "CRITICAL": "\033[1;31m",
}
RESET = "\033[0m"
log = logging.getLogger("jobplatform.jobs")


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add `fields` to every log line written inside this block (task- and thread-local)."""
    token = _bound.set({**_bound.get(), **fields})
    try:
        yield
    finally:
        _bound.reset(token)


def bound_fields() -> dict[str, Any]:
    return dict(_bound.get())


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The bound fields and the logger's `extra` fields of one record."""
    extra = {k: v for k, v in vars(record).items() if k not in STANDARD_ATTRIBUTES}
    return {**_bound.get(), **extra}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, pid, then any bound or extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
            **record_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """`13:02:11.123 INFO  jobplatform.web  message  key=value ...`, coloured on a terminal."""

    def __init__(self, colour: bool):
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        level = f"{record.levelname:<7}"
        if self.colour:
            level = f"{COLOURS.get(record.levelname, '')}{level}{RESET}"
        fields = " ".join(f"{k}={v}" for k, v in record_fields(record).items())
        line = f"{when} {level} {record.name}  {record.getMessage()}"
        if fields:
            line += f"  {fields}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def wants_json(settings: Settings) -> bool:
    if settings.log_format == "auto":
        return settings.app_env == "production"
    return settings.log_format == "json"


def configure_logging(settings: Settings | None, stream: TextIO | None = None) -> None:
    """Send every logger's lines to stderr (and LOG_FILE, rotated) in the configured format.

    With `settings` None (they did not load; the command reports why) plain defaults apply.
    """
    settings = settings or Settings.model_construct()
    stream = stream or sys.stderr
    console = logging.StreamHandler(stream)
    colour = stream.isatty() and "NO_COLOR" not in os.environ
    console.setFormatter(JsonFormatter() if wants_json(settings) else ConsoleFormatter(colour))
    handlers: list[logging.Handler] = [console]
    if settings.log_file:
        settings.log_file.parent.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(
            settings.log_file,
            maxBytes=settings.log_file_max_mb * 2**20,
            backupCount=settings.log_file_backups,
            encoding="utf-8",
        )
        rotating.setFormatter(JsonFormatter())  # the file is for machines: always JSON lines
        handlers.append(rotating)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(settings.log_level)
    for noisy in ("huey", "pymongo", "httpx", "watchfiles", "multipart"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


@hookimpl
def on_job_event(event: dict[str, Any]) -> None:
    """Write one line a transition, carrying the job's id, type and attempt as fields."""
    fields = {
        "job_id": event["job_id"],
        "job_type": event["job_type"],
        "attempt": event["attempt"],
        "event": event["kind"],
    }
    if "duration_ms" in event:
        fields["duration_ms"] = event["duration_ms"]
    if event.get("error"):
        fields["error"] = event["error"]
    level = logging.WARNING if event["kind"] in ("failed", "dead") else logging.INFO
    log.log(level, "job %s %s", event["job_id"], event["kind"], extra=fields)
