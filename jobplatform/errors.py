"""The platform's errors: one base class, and one subclass for each kind of answer.

A core module raises these (or its own subclasses of them) when a request cannot be done;
each interface maps them to its form in one place: the API to an HTTP status through
`code` (api/errors.py), the admin app to a notification, the command line to exit code 1.
"""

from __future__ import annotations

from typing import Any


class PlatformError(Exception):
    """A request that cannot be done; `message` says why, `details` may name the fields."""

    code = "bad_request"

    def __init__(self, message: str, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(PlatformError):
    code = "validation_failed"


class NotFound(PlatformError):
    code = "not_found"


class Conflict(PlatformError):
    code = "conflict"


class Unavailable(PlatformError):
    code = "unavailable"
