"""One error envelope for every API error: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException

from jobplatform.errors import PlatformError
from jobplatform.plugins.host import UnknownJobType

PLATFORM_ERROR_STATUS = {
    "validation_failed": 422,
    "not_found": 404,
    "conflict": 409,
    "unavailable": 503,
    "bad_request": 400,
}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code or HTTP_CODES.get(status, "error")
        self.message = message
        self.details = details
        self.headers = headers


class EnvelopeResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: an error message may quote the caller's
    input, and a lone surrogate in it must not turn the error into a failure to render."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return EnvelopeResponse(body, status_code=status, headers=headers)


def _field_errors(exc: RequestValidationError) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in exc.errors():
        loc = [str(part) for part in error["loc"] if part != "body"]
        message = error["msg"].removeprefix("Value error, ")
        fields.setdefault(".".join(loc) or "body", []).append(message)
    return fields


def install_error_handlers(app: FastAPI) -> None:
    document_errors(app)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(PlatformError)
    async def platform_error(_: Request, exc: PlatformError):
        return error_response(PLATFORM_ERROR_STATUS[exc.code], exc.code, exc.message, exc.details)

    @app.exception_handler(ConnectionFailure)
    async def mongodb_down(_: Request, exc: ConnectionFailure):
        return error_response(
            503,
            "unavailable",
            "MongoDB cannot be reached; nothing was changed, try again shortly",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def redis_down(_: Request, exc: Exception):
        return error_response(
            503,
            "unavailable",
            "Redis (the job queue) cannot be reached; try again shortly",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(UnknownJobType)
    async def unknown_type(_: Request, exc: UnknownJobType):
        return error_response(404, "unknown_job_type", str(exc), {"known": exc.known})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError):
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return error_response(400, "malformed_json", "request body is not valid JSON")
        return error_response(
            422, "validation_failed", "request does not match the API schema", _field_errors(exc)
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException):
        code = HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception):
        # Starlette logs the traceback and re-raises after sending this answer.
        return error_response(
            500, "internal_error", "the server failed to answer this request; it was logged"
        )


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Methods the OpenAPI document lists for `path` (templates like /api/jobs/{job_id})."""
    allowed = set()
    for template, operations in app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)), path):
            allowed |= {method.upper() for method in operations}
    return sorted(allowed)


# every method a client may send, TRACE and OPTIONS included (a CORS preflight is answered
# before routing, by the CORS middleware, when CORS_ORIGINS is set)
UNKNOWN_ENDPOINT_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "OPTIONS")


def unknown_endpoint_router() -> APIRouter:
    """Answers /api/* paths no other route takes, in the envelope (404, or 405 naming the
    allowed methods), instead of the admin app's HTML page. Include it after every API
    router."""
    router = APIRouter(include_in_schema=False)

    @router.api_route("/api/{path:path}", methods=[*UNKNOWN_ENDPOINT_METHODS])
    async def unknown_endpoint(request: Request, path: str):
        allowed = _allowed_methods(request.app, request.url.path)
        if allowed:
            return error_response(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; use {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        return error_response(
            404, "not_found", f"no API endpoint {request.url.path}; see /api/docs"
        )

    return router


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


ERROR_STATUSES = {
    400: "malformed JSON, or a request that cannot apply here",
    401: "missing, invalid, expired or revoked token",
    403: "the caller's role may not do this",
    404: "unknown job, user, token or job type",
    409: "conflicts with the current state (a job's state, a name in use, an idempotency key)",
    413: "request body over MAX_BODY_BYTES",
    415: "request body is not JSON",
    422: "request does not match the schema; one message per field",
    429: "rate limited; see the Retry-After header",
    500: "an unexpected failure, logged; the answer is still this envelope",
    503: "MongoDB or Redis is down; nothing was changed",
}


def document_errors(app: FastAPI) -> None:
    """List the error statuses, with the envelope's schema, on every /api operation of the
    OpenAPI document (they come from shared dependencies and middleware, not the routes)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorEnvelope"] = ErrorEnvelope.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        schemas["ErrorBody"] = schemas["ErrorEnvelope"].pop("$defs")["ErrorBody"]
        envelope = {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}
            }
        }
        for path, operations in document["paths"].items():
            if not path.startswith("/api/"):
                continue
            for operation in operations.values():
                for status, description in ERROR_STATUSES.items():
                    operation.setdefault("responses", {})[str(status)] = {
                        "description": description,
                        **envelope,
                    }
        app.openapi_schema = document
        return document

    app.openapi = openapi
