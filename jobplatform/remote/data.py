"""A job's data as the command line gives it, and the jobs of a JSONL file.

`--data` takes a JSON object, `@file` (a JSON file; `@-` for standard input), or
`key=value` pairs (`key=value` is a string, `key:=value` is JSON: `count:=3`,
`tags:='["a"]'`), applied left to right over each other."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


class UsageError(Exception):
    """The command line cannot be carried out as given; str() says what is wrong."""


def _object(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{where} is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a JSON object, not {type(value).__name__}")
    return value


def _file_text(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from None


def _pair(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or not key or key == ":":
        raise UsageError(f"'{item}' is not JSON, @file or key=value")
    if key.endswith(":"):
        try:
            return key[:-1], json.loads(value)
        except ValueError as exc:
            raise UsageError(f"the value of '{key[:-1]}' is not JSON ({exc})") from None
    return key, value


def parse_data(items: Sequence[str]) -> dict[str, Any]:
    """The data `--data` items make, each applied over the ones before it."""
    data: dict[str, Any] = {}
    for item in items:
        if item.lstrip().startswith("{"):
            data.update(_object(item, "--data"))
        elif item.startswith("@"):
            data.update(_object(_file_text(item[1:]), item[1:] or "@"))
        else:
            key, value = _pair(item)
            data[key] = value
    return data


def jsonl_jobs(name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, data) for each non-blank line of a JSONL file (`-`: standard input)."""
    for number, line in enumerate(_file_text(name).splitlines(), start=1):
        if line.strip():
            yield number, _object(line, f"{name} line {number}")


def json_file(name: str) -> dict[str, Any]:
    """The JSON object of a file (`-`: standard input)."""
    return _object(_file_text(name), "standard input" if name == "-" else name)
