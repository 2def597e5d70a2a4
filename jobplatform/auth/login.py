"""Logging in with a username and password, under the rate limits and the lockout.

The API's `POST /api/login` and the admin app's login page both use `log_in`, so the
lockout after repeated failures holds whichever door is tried. The lockout is per username
and client address (see `ratelimit`); `jobplatform users unlock NAME` lifts it.
"""

from __future__ import annotations

from jobplatform.auth.ratelimit import Limited, RateLimiter
from jobplatform.auth.users import LoginFailed, User, authenticate, normalize_username


def log_in(limiter: RateLimiter, client_ip: str, username: str, password: str) -> User:
    """Return the user, or raise `LoginFailed`, `Limited` (locked or too many attempts) or
    `LimitStoreDown` (the limits cannot be checked)."""
    username = normalize_username(username)
    limiter.check_login(client_ip, username)
    try:
        user = authenticate(username, password)
    except LoginFailed as exc:
        locked_for = limiter.login_failed(client_ip, username)
        if locked_for:
            raise Limited(
                f"{exc}; too many failed logins, '{username}' is locked for {locked_for} "
                "seconds from this address",
                retry_after=locked_for,
            ) from None
        raise
    limiter.login_succeeded(client_ip, username)
    return user
