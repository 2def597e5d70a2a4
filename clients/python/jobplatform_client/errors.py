"""The one exception the clients raise for an answer of the API's error envelope,
`{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """The API refused a request: `status` (HTTP), `code` (`validation_failed`, `not_found`,
    `conflict`, ...), `message`, and `details` as the API gave them. `field_errors` has
    a refused submission's messages by field (`recipient`, `jobs.3.data.subject`)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details

    @property
    def field_errors(self) -> dict[str, list[str]]:
        """{dotted field: [message, ...]} of a 422; nested schema errors are flattened."""
        if self.status != 422 or not isinstance(self.details, dict):
            return {}
        found: dict[str, list[str]] = {}
        _flatten(self.details, "", found)
        return found


def _flatten(value: Any, field: str, found: dict[str, list[str]]) -> None:
    """Cerberus nests a sub-document's errors as [{"inner": ["message"]}]."""
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(inner, f"{field}.{key}" if field else str(key), found)
    elif isinstance(value, list):
        for inner in value:
            _flatten(inner, field, found)
    else:
        found.setdefault(field or "body", []).append(str(value))
