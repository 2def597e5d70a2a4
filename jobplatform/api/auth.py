"""Logging in and out: /api/login, /api/token/refresh, /api/logout."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from jobplatform.api.deps import Principal, current_user, services
from jobplatform.api.errors import ApiError
from jobplatform.auth.login import log_in
from jobplatform.auth.ratelimit import Limited, LimitStoreDown
from jobplatform.auth.sessions import open_session, revoke_session, rotate
from jobplatform.auth.tokens import issue_access_token
from jobplatform.auth.users import LoginFailed, active_user
from jobplatform.services import Services

router = APIRouter(prefix="/api", tags=["auth"])


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_expires_in: int
    role: str


def _tokens(
    svc: Services, username: str, role: str, session_id: str, refresh_token: str
) -> TokenResponse:
    ttl = svc.settings.jwt_ttl_seconds
    return TokenResponse(
        access_token=issue_access_token(svc.jwt_secret, username, role, ttl, session_id),
        refresh_token=refresh_token,
        expires_in=ttl,
        refresh_expires_in=svc.settings.refresh_ttl_seconds,
        role=role,
    )


@router.post(
    "/login",
    response_model=TokenResponse,
    responses={
        401: {"description": "wrong username or password"},
        429: {"description": "too many attempts, or the username is locked"},
    },
)
async def login(
    body: LoginRequest, request: Request, svc: Services = Depends(services)
) -> TokenResponse:
    client_ip = request.client.host if request.client else "unknown"
    try:
        user = await run_in_threadpool(log_in, svc.limiter, client_ip, body.username, body.password)
    except LoginFailed as exc:
        raise ApiError(401, str(exc), code="login_failed") from None
    except Limited as exc:
        raise ApiError(429, exc.message, headers={"Retry-After": str(exc.retry_after)}) from None
    except LimitStoreDown:
        raise ApiError(
            503,
            "login is unavailable: the rate-limit store (Redis) cannot be "
            "reached; try again shortly",
        ) from None
    session, refresh_token = await run_in_threadpool(
        open_session, user.username, user.role, svc.settings.refresh_ttl_seconds
    )
    return _tokens(svc, user.username, user.role, str(session.id), refresh_token)


@router.post("/token/refresh", response_model=TokenResponse)
async def refresh(body: RefreshRequest, svc: Services = Depends(services)) -> TokenResponse:
    """Swap a refresh token for a new access token and a new refresh token (the old one
    stops working)."""
    rotated = await run_in_threadpool(rotate, body.refresh_token)
    if rotated is None:
        raise ApiError(
            401, "refresh token is unknown, already used, revoked or expired; log in again"
        )
    session, refresh_token = rotated
    user = await run_in_threadpool(active_user, session.username)
    if user is None:
        raise ApiError(401, "user is disabled or no longer exists")
    return _tokens(svc, user.username, user.role, str(session.id), refresh_token)


@router.post("/logout", status_code=204)
async def logout(user: Principal = Depends(current_user)) -> Response:
    """End the login session: its access and refresh tokens stop working at once."""
    if user.session_id is None:
        raise ApiError(
            400, "API tokens do not log out; an admin revokes them with DELETE /api/tokens/{id}"
        )
    await run_in_threadpool(revoke_session, user.session_id)
    return Response(status_code=204)
