"""What a value put into an email header may hold.

A header ends at a line break, so no header value may hold one: CR, LF and every other
vertical whitespace (\\v, \\f, NEL U+0085, U+2028, U+2029), nor any other control
character. Nor an RFC 2047 encoded word (`=?charset?q?...?=`): Python's email package
decodes those while it parses a header, so `=?utf-8?q?=0D=0ABcc:_x?=` would become a line
break after every check of the raw text had passed.

Each pattern matches a whole value (`\\Z`, not `$`, which also matches before a final
newline); cerberus's `regex` rule anchors only the start, so the patterns say `\\Z` too.
"""

from __future__ import annotations

import re
from string import Template
from typing import Any

_NO_ENCODED_WORD = r"(?!.*=\?.*\?=)"
# Printable text and tabs: no C0 control but tab, no DEL, no C1 control (NEL is one), no
# Unicode line or paragraph separator.
_HEADER_CHAR = r"[^\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]"
HEADER_TEXT_PATTERN = rf"^{_NO_ENCODED_WORD}{_HEADER_CHAR}*\Z"
EMAIL_PATTERN = (
    rf"^{_NO_ENCODED_WORD}"
    r"[^@\s\x00-\x1f\x7f-\x9f<>()\[\]\\,;:\"]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\Z"
)
_HEADER_TEXT = re.compile(HEADER_TEXT_PATTERN, re.DOTALL)

HEADER_TEXT_RULE = "may not hold line breaks, other control characters or encoded words (=?...?=)"


def header_problem(text: str) -> str | None:
    """Why `text` cannot be a header value, or None when it can."""
    return None if _HEADER_TEXT.match(text) else HEADER_TEXT_RULE


def check_subject(field: str, subject: Any, error: Any) -> None:
    """cerberus `check_with` for the subject: as it will be sent, with its `$name`
    placeholders filled from `variables`, it must be a header value (a variable may hold a
    line break, or finish an encoded word the subject began).

    cerberus passes its own `_error` method as `error`; the validator that method is bound
    to holds the whole document, and so the variables.
    """
    if not isinstance(subject, str):
        return
    validator = getattr(error, "__self__", None)
    values = (getattr(validator, "root_document", None) or {}).get("variables")
    if isinstance(values, dict):
        subject = Template(subject).safe_substitute({k: str(v) for k, v in values.items()})
    problem = header_problem(subject)
    if problem:
        error(field, f"with its variables filled in, {problem}" if values else problem)
