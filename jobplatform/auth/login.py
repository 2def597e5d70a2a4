"""Logging in with a username and password, under the rate limits and the lockout.

The API's `POST /api/login` and the admin app's login page both use `log_in`, so the
lockout after repeated failures holds whichever door is tried.
"""

from __future__ import annotations

from jobplatform.auth.ratelimit import Limited, RateLimiter
from jobplatform.auth.users import LoginFailed, User, authenticate


def log_in(limiter: RateLimiter, client_ip: str, username: str, password: str) -> User:
    """Return the user, or raise `LoginFailed`, `Limited` (locked or too many attempts) or
    `LimitStoreDown` (the limits cannot be checked)."""
    limiter.check_login(client_ip, username)
    try:
        user = authenticate(username, password)
    except LoginFailed as exc:
        locked_for = limiter.login_failed(username)
        if locked_for:
            raise Limited(
                f"{exc}; too many failed logins, '{username}' is locked for {locked_for} seconds",
                retry_after=locked_for,
            ) from None
        raise
    limiter.login_succeeded(username)
    return user
