"""Signed access tokens (JWT, HS256) and the random secrets behind refresh and API tokens.

An access token names its user, role and login session (`sid`), so logging out (which
revokes the session) stops it at once. Refresh and API tokens are opaque random strings;
only their SHA-256 digest is stored (they carry 256 bits of randomness, so a fast hash is
enough and keeps the per-request check cheap).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
API_TOKEN_PREFIX = "jpt_"
REFRESH_TOKEN_PREFIX = "jpr_"


class InvalidToken(Exception):
    pass


def issue_access_token(
    secret: str, username: str, role: str, ttl_seconds: int, session_id: str
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": username,
        "role": role,
        "type": "access",
        "sid": session_id,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + timedelta(seconds=ttl_seconds),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_access_token(secret: str, token: str) -> dict:
    """Return the claims of a valid, unexpired access token, or raise `InvalidToken`.

    Only HS256 is accepted, so `alg: none` and tokens signed with another algorithm fail.
    """
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "iat", "sid"]}
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired; log in again or use your refresh token") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"invalid token ({exc}); log in again") from None
    if claims.get("type") != "access":
        raise InvalidToken("not an access token")
    return claims


def new_opaque_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
