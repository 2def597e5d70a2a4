"""What job data MongoDB can store and the API can answer with, whatever a job type's
schema allows.

JSON values only: keys are strings without NUL, not starting with `$` and without `.`
(MongoDB would read those as operators or paths); strings are valid Unicode (no lone
surrogates, which neither BSON nor a JSON answer can carry); integers fit in 64 bits;
numbers are finite; nesting is at most `MAX_DEPTH` levels (MongoDB's own limit is 100).

`DataValidator` is the cerberus validator every job type's schema is checked with: JSON's
`true` and `false` are booleans, not the numbers 1 and 0 that Python's `bool` also is.
"""

from __future__ import annotations

import math
from typing import Any

from cerberus import TypeDefinition, Validator

MAX_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class DataValidator(Validator):
    types_mapping = {
        **Validator.types_mapping,
        "integer": TypeDefinition("integer", (int,), (bool,)),
        "float": TypeDefinition("float", (float, int), (bool,)),
    }


# The rules whose value is a rules set (or a schema) of its own, which may also be the
# name of one in cerberus's registries.
NESTED_RULES = ("allow_unknown", "items", "keysrules", "schema", "valuesrules")


def normalizes(schema: Any) -> bool:
    """Whether validating against `schema` can change the data: it holds a normalization
    rule (`default`, `coerce`, `rename`, `purge_unknown`, ...) at any depth, or names a
    registered rules set that might. Cerberus copies the whole schema to normalize each
    document, ten times the cost of validating it; a schema without such rules is
    validated as it is (`validate(..., normalize=False)`), with the same answer."""
    stack = [schema]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key in DataValidator.normalization_rules:
                    return True
                if key in NESTED_RULES and isinstance(item, str):
                    return True
                stack.append(item)
        elif isinstance(value, list | tuple):
            stack.extend(value)
    return False


def data_problems(data: Any) -> dict[str, list[str]]:
    """Every reason `data` cannot be stored, by field path (`data`, `a.b`, `a.list.2`)."""
    problems: dict[str, list[str]] = {}
    # Depth first with an explicit stack: data nested thousands deep must not recurse.
    stack: list[tuple[Any, list[str], int]] = [(data, [], 0)]
    while stack:
        value, path, depth = stack.pop()
        where = ".".join(path) or "data"
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                problems.setdefault(where, []).append(
                    f"nested deeper than {MAX_DEPTH} levels; flatten the data"
                )
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(value, dict):
                    for message in _key_problems(key):
                        problems.setdefault(".".join([*path, _printable(key)]), []).append(message)
                stack.append((item, [*path, _printable(key)], depth + 1))
            continue
        message = _value_problem(value)
        if message:
            problems.setdefault(where, []).append(message)
    return dict(sorted(problems.items()))


def _key_problems(key: Any) -> list[str]:
    if not isinstance(key, str):
        return ["keys must be strings"]
    found = []
    if key.startswith("$") or "." in key:
        found.append("keys may not start with '$' or contain '.'")
    if "\x00" in key:
        found.append("keys may not contain a NUL character")
    if not _valid_unicode(key):
        found.append("keys must be valid Unicode (no lone surrogates)")
    return found


def _value_problem(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            return "integers must fit in 64 bits (-2**63 to 2**63-1); send larger ones as strings"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite (no NaN or Infinity)"
    if isinstance(value, str):
        return None if _valid_unicode(value) else "must be valid Unicode (no lone surrogates)"
    kind = type(value).__name__
    return f"must be a JSON value (object, list, string, number, boolean, null), not {kind}"


def _valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(key: Any) -> str:
    """A key as it can appear in a field path of an answer: lone surrogates and control
    characters escaped (an answer must itself be valid JSON text)."""
    text = str(key)
    if text.isprintable() and _valid_unicode(text):
        return text
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")
