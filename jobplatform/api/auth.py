"""POST /api/login: username and password for an access token."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from jobplatform.api.deps import services
from jobplatform.api.errors import ApiError
from jobplatform.auth.tokens import issue_access_token
from jobplatform.auth.users import LoginFailed, authenticate
from jobplatform.services import Services

router = APIRouter(prefix="/api", tags=["auth"])


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


@router.post("/login", response_model=TokenResponse)
async def login(body: LoginRequest, svc: Services = Depends(services)) -> TokenResponse:
    try:
        user = await run_in_threadpool(authenticate, body.username, body.password)
    except LoginFailed as exc:
        raise ApiError(401, str(exc), code="login_failed") from None
    ttl = svc.settings.jwt_ttl_seconds
    token = issue_access_token(svc.jwt_secret, user.username, user.role, ttl)
    return TokenResponse(access_token=token, expires_in=ttl, role=user.role)
