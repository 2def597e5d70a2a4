"""FastAPI dependencies: the process's services and the authenticated caller.

A caller shows either an access token (JWT from `POST /api/login`) or a long-lived API
token (`jpt_...`). Every request looks up, in MongoDB, the login session or the API token:
logout, a new password and disabling a user revoke sessions, and disabling suspends the
user's API tokens, so each takes effect at once; one lookup a request keeps this cheap
(the session and the API token carry their user's current role, so nothing else is read).
Each token is then counted against the API rate limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request

from jobplatform.api.errors import ApiError
from jobplatform.auth.api_tokens import effective_role, find_unrevoked_token
from jobplatform.auth.ratelimit import Limited
from jobplatform.auth.roles import ADMINISTER, OPERATE
from jobplatform.auth.sessions import active_session
from jobplatform.auth.tokens import API_TOKEN_PREFIX, InvalidToken, read_access_token
from jobplatform.services import Services

BEARER = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Principal:
    username: str  # the user; for an API token, the admin who created it
    role: str
    key: str  # what the rate limit counts: "session:<id>" or "token:<id>"
    session_id: str | None = None
    token_name: str | None = None

    @property
    def actor(self) -> str:
        """Who did it, as job records show it: the username, or `token:<name>`."""
        return f"token:{self.token_name}" if self.token_name else self.username


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in
# its thread pool, and the hop cost more than the work.


async def services(request: Request) -> Services:
    return request.app.state.services


def _from_api_token(token: str) -> Principal:
    record = find_unrevoked_token(token)
    if record is None:
        raise ApiError(
            401, "API token is unknown or revoked; ask an admin for a new one", headers=BEARER
        )
    if record.creator_disabled:
        raise ApiError(
            401, f"API token's creator '{record.created_by}' is disabled", headers=BEARER
        )
    return Principal(
        username=record.created_by,
        role=effective_role(record),
        key=f"token:{record.id}",
        token_name=record.name,
    )


def _from_access_token(svc: Services, token: str) -> Principal:
    try:
        claims = read_access_token(svc.jwt_secret, token)
    except InvalidToken as exc:
        raise ApiError(401, str(exc), headers=BEARER) from None
    session = active_session(claims["sid"])
    if session is None:
        raise ApiError(401, "logged out, disabled or session expired; log in again", headers=BEARER)
    return Principal(
        username=claims["sub"],
        role=session.role,
        key=f"session:{claims['sid']}",
        session_id=claims["sid"],
    )


def current_user(request: Request, svc: Services = Depends(services)) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401, "missing bearer token; send 'Authorization: Bearer <token>'", headers=BEARER
        )
    if token.startswith(API_TOKEN_PREFIX):
        principal = _from_api_token(token)
    else:
        principal = _from_access_token(svc, token)
    try:
        svc.limiter.check_api(principal.key)
    except Limited as exc:
        raise ApiError(429, exc.message, headers={"Retry-After": str(exc.retry_after)}) from None
    return principal


def require_role(*roles: str):
    async def check(user: Principal = Depends(current_user)) -> Principal:
        if user.role not in roles:
            raise ApiError(403, f"role '{user.role}' may not do this; needs {' or '.join(roles)}")
        return user

    return check


operator = require_role(*OPERATE)
admin = require_role(*ADMINISTER)
