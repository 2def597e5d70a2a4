"""A request id on every HTTP request: taken from `X-Request-ID` or made, bound to every log
line written while the request is served, sent back in the response, and one access-log
line a request with method, path, status and duration.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobplatform.logs import bind

HEADER = "x-request-id"
ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")
QUIET_PREFIXES = ("/health", "/_nicegui", "/metrics")  # probes and assets: DEBUG, not INFO
log = logging.getLogger("jobplatform.http")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        with bind(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                duration_ms = round((time.perf_counter() - started) * 1000, 2)
                path = scope["path"]
                level = logging.DEBUG if path.startswith(QUIET_PREFIXES) else logging.INFO
                log.log(
                    level,
                    "%s %s %d %.1fms",
                    scope["method"],
                    path,
                    status,
                    duration_ms,
                    extra={
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "duration_ms": duration_ms,
                    },
                )


def _incoming_id(scope: Scope) -> str | None:
    """The caller's X-Request-ID when it is a sane token (so ids can be traced end to end)."""
    for name, value in scope["headers"]:
        if name == HEADER.encode():
            candidate = value.decode("latin-1")
            return candidate if ACCEPTED_ID.match(candidate) else None
    return None
