"""HTTP hardening for the web process, as one ASGI middleware.

On every response: Content-Security-Policy, X-Content-Type-Options, X-Frame-Options,
Referrer-Policy, and Strict-Transport-Security when APP_ENV=production.

The policy fits the NiceGUI admin app: it renders with Vue's in-browser template compiler
and inline scripts and styles (so 'unsafe-inline' and 'unsafe-eval'), and talks to the
server over a websocket to the same host (so ws:/wss: in connect-src). Everything else is
same-origin; no page may be framed. The interactive API docs (/api/docs) also load
Swagger UI from the CDN FastAPI names, which their policy allows.

For requests to /api/* that carry a body: 413 over MAX_BODY_BYTES (checked on the
Content-Length header and again on the bytes actually received) and 415 unless the body
is JSON.
"""

from __future__ import annotations

import inspect
import json
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobplatform.config import Settings

APP_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self' ws: wss:; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
BODY_METHODS = {"POST", "PUT", "PATCH"}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _docs_policy() -> str:
    defaults = inspect.signature(get_swagger_ui_html).parameters
    cdn = _origin(defaults["swagger_js_url"].default)
    icon = _origin(defaults["swagger_favicon_url"].default)
    return (
        f"default-src 'self'; script-src 'self' 'unsafe-inline' {cdn}; "
        f"style-src 'self' 'unsafe-inline' {cdn}; img-src 'self' data: {icon}; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    )


DOCS_POLICY = _docs_policy()


def _error(status: int, code: str, message: str) -> tuple[dict, bytes]:
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    return start, body


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.max_body = settings.max_body_bytes
        self.common = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
        ]
        if settings.app_env == "production":
            self.common.append(
                (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        policy = DOCS_POLICY if path == "/api/docs" else APP_POLICY
        headers = [*self.common, (b"content-security-policy", policy.encode())]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        if path.startswith("/api/") and scope["method"] in BODY_METHODS:
            refused = await self._check_body(scope, receive)
            if isinstance(refused, tuple):
                start, body = refused
                await send_with_headers(start)
                await send({"type": "http.response.body", "body": body})
                return
            receive = refused
        await self.app(scope, receive, send_with_headers)

    async def _check_body(self, scope: Scope, receive: Receive):
        """Read the whole body (at most MAX_BODY_BYTES); return a refusal, or a `receive`
        that replays the body to the application."""
        request_headers = dict(scope["headers"])
        length = request_headers.get(b"content-length")
        too_large = _error(
            413,
            "payload_too_large",
            f"request body is over the limit of {self.max_body} bytes; "
            "send less (split a batch into smaller ones)",
        )
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return too_large
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return too_large
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = request_headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if body and not (content_type == b"application/json" or content_type.endswith(b"+json")):
            return _error(
                415,
                "unsupported_media_type",
                "request body must be JSON; send 'Content-Type: application/json'",
            )
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add the hardening middleware and, when CORS_ORIGINS names any, CORS outside it."""
    app.add_middleware(SecurityMiddleware, settings=settings)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
