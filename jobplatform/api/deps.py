"""FastAPI dependencies: the process's services and the authenticated user."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request

from jobplatform.api.errors import ApiError
from jobplatform.auth.tokens import InvalidToken, read_access_token
from jobplatform.auth.users import User
from jobplatform.services import Services


@dataclass(frozen=True)
class Principal:
    username: str
    role: str


def services(request: Request) -> Services:
    return request.app.state.services


def current_user(request: Request, svc: Services = Depends(services)) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "missing bearer token; send 'Authorization: Bearer <token>'",
                       headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = read_access_token(svc.jwt_secret, token)
    except InvalidToken as exc:
        raise ApiError(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    user = User.objects(username=claims["sub"]).only("role", "disabled").first()
    if user is None or user.disabled:
        raise ApiError(401, "user is disabled or no longer exists")
    return Principal(username=claims["sub"], role=user.role)


def require_role(*roles: str):
    def check(user: Principal = Depends(current_user)) -> Principal:
        if user.role not in roles:
            raise ApiError(403, f"role '{user.role}' may not do this; needs {' or '.join(roles)}")
        return user

    return check
