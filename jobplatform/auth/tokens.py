"""Signed access tokens (JWT, HS256)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"


class InvalidToken(Exception):
    pass


def issue_access_token(secret: str, username: str, role: str, ttl_seconds: int) -> str:
    now = datetime.now(UTC)
    claims = {"sub": username, "role": role, "type": "access", "iat": now,
              "exp": now + timedelta(seconds=ttl_seconds)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_access_token(secret: str, token: str) -> dict:
    """Return the claims of a valid, unexpired access token, or raise `InvalidToken`."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["sub", "exp", "iat"]})
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired; log in again") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"invalid token ({exc})") from None
    if claims.get("type") != "access":
        raise InvalidToken("not an access token")
    return claims
