"""What a processor reports while its attempt runs: its progress and its log lines.

`ctx.progress(...)` and `ctx.log.info(...)` (see `JobContext`) only change an
`AttemptReport` in memory, so a call costs no database write however often it is made.
The executor takes what changed since its last write (`pending`) when it writes the job
anyway (the claim of a long attempt, a lease renewal) or, while the attempt is claimed, at
most once every REPORT_SECONDS; what is left goes with the attempt's outcome. An attempt
that ends before it is claimed (most do) writes its lines and progress only with its
outcome, in the same command.

An attempt keeps its latest LOG_LINES lines and at most LOG_CHARS characters of them,
each line cut at LOG_LINE_CHARS; when older lines had to go, a note line first says how
many (so the lines of even a hundred attempts stay far below MongoDB's 16 MB document).
"""

from __future__ import annotations

import logging
import math
import numbers
import sys
import threading
import traceback
from collections import deque
from typing import Any

from jobplatform.jobs.models import utcnow

REPORT_SECONDS = 1.0  # at most one write of a claimed attempt's report this often
LOG_LINES = 200
LOG_LINE_CHARS = 2_000
LOG_CHARS = 50_000
PROGRESS_MESSAGE_CHARS = 500
LARGEST = 2**63 - 1  # what MongoDB stores as an integer


def _text(value: Any, limit: int) -> str:
    """`value` as text MongoDB can store (lone surrogates replaced), at most `limit`
    characters with the cut said at its end."""
    text = str(value).encode("utf-8", "replace").decode("utf-8")
    if len(text) <= limit:
        return text
    keep = limit - len(f" … ({len(text):,} more characters cut)")  # the longest it can be
    return text[:keep] + f" … ({len(text) - keep:,} more characters cut)"


def _amount(name: str, value: Any) -> int | float:
    """A count of progress: a finite number, 0 or more."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"progress: {name} must be a number, not {type(value).__name__}")
    number = int(value) if isinstance(value, numbers.Integral) else float(value)
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError(f"progress: {name} must be a finite number, not {number}")
    if number < 0:
        raise ValueError(f"progress: {name} must be 0 or more, not {number}")
    if number > LARGEST:
        raise ValueError(f"progress: {name} must be below 2**63, not {number}")
    return number


def _formatted(msg: Any, args: tuple) -> str | None:
    """A log call's message as logging would print it; None if `args` do not fit `msg`."""
    try:
        return logging.LogRecord("", 0, "", 0, msg, args, None).getMessage()
    except (TypeError, ValueError, KeyError):
        return None


def _with_traceback(text: str, exc_info: Any) -> str:
    """A log line's text and, when `exc_info` asks for one, its traceback."""
    if exc_info:
        if isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        elif not isinstance(exc_info, tuple):
            exc_info = sys.exc_info()
        if exc_info[0] is not None:
            text += "\n" + "".join(traceback.format_exception(*exc_info)).rstrip()
    return text


class AttemptReport:
    """The progress and log lines of one attempt; safe to use from several threads."""

    def __init__(self, attempt: int = 1):
        self.attempt = attempt
        self._lock = threading.Lock()
        self._progress: dict[str, Any] | None = None
        self._lines: deque[dict[str, Any]] = deque()
        self._chars = 0  # of the messages in _lines
        self._dropped = 0
        self._version = self._written = 0  # changes made, and the last one stored
        self._progress_version = self._lines_version = 0

    def set_progress(self, done: Any, total: Any = None, message: Any = None) -> None:
        done = _amount("done", done)
        if total is not None:
            total = _amount("total", total)
            if done > total:
                raise ValueError(f"progress: done ({done}) must not be more than total ({total})")
        if message is not None:
            message = _text(message, PROGRESS_MESSAGE_CHARS)
        progress = {
            "done": done,
            "total": total,
            "message": message,
            "at": utcnow(),
            "attempt": self.attempt,
        }
        with self._lock:
            self._progress = progress
            self._version += 1
            self._progress_version = self._version

    def add_line(self, level: int, message: str) -> None:
        line = {
            "level": logging.getLevelName(level).lower(),
            "at": utcnow(),
            "message": _text(message, LOG_LINE_CHARS),
        }
        with self._lock:
            self._lines.append(line)
            self._chars += len(line["message"])
            while len(self._lines) > LOG_LINES or self._chars > LOG_CHARS:
                self._chars -= len(self._lines.popleft()["message"])
                self._dropped += 1
            self._version += 1
            self._lines_version = self._version

    @property
    def progress(self) -> dict[str, Any] | None:
        with self._lock:
            return self._progress

    def lines(self) -> list[dict[str, Any]]:
        """The lines kept, after a note saying how many older ones were dropped, if any."""
        with self._lock:
            kept = list(self._lines)
            dropped = self._dropped
        if not dropped:
            return kept
        note = {
            "level": "warning",
            "at": kept[0]["at"],
            "message": f"{dropped:,} earlier lines dropped (an attempt keeps its last "
            f"{LOG_LINES} lines, {LOG_CHARS:,} characters in all)",
        }
        return [note, *kept]

    def pending(self) -> tuple[int, dict[str, Any]]:
        """What changed since the last stored write, as the job's fields to set (`progress`,
        `live_log`), and the version to pass to `written` once they are stored."""
        with self._lock:
            version, written = self._version, self._written
            progress_changed = self._progress_version > written
            lines_changed = self._lines_version > written
        fields: dict[str, Any] = {}
        if progress_changed:
            fields["progress"] = self.progress
        if lines_changed:
            fields["live_log"] = self.lines()
        return version, fields

    def written(self, version: int) -> None:
        """The fields `pending` gave at `version` are stored."""
        with self._lock:
            self._written = max(self._written, version)


class AttemptLog(logging.LoggerAdapter):
    """`ctx.log`: a logger whose every line (any level) is kept on the attempt, and also
    goes to the worker's log like `ctx.logger`'s (there, subject to LOG_LEVEL)."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter, report: AttemptReport):
        super().__init__(logger, {})
        self.report = report

    def log(self, level, msg, *args, exc_info=None, **kwargs):
        text = _formatted(msg, args)
        if text is None:  # arguments that do not fit the message: kept as they came
            text = msg = f"{msg} {args!r}"
            args = ()
        self.report.add_line(level, _with_traceback(text, exc_info))
        super().log(level, msg, *args, exc_info=exc_info, **kwargs)
