"""Changing an account, and what a change means for the user's login sessions and the API
tokens they created. The API, the admin app and the `users` command all change accounts
here, so each rule holds in every interface."""

from __future__ import annotations

from jobplatform.auth.api_tokens import set_creator_role, suspend_tokens_of
from jobplatform.auth.passwords import hash_password
from jobplatform.auth.sessions import revoke_user_sessions, set_sessions_role
from jobplatform.auth.users import (
    ADMIN,
    ROLES,
    AccountError,
    User,
    check_password_strength,
    get_user,
    normalize_username,
)


class CannotChangeSelf(AccountError):
    code = "conflict"


def _check_self_change(
    username: str, role: str | None, disabled: bool | None, by: str | None
) -> None:
    if by is not None and normalize_username(by) == normalize_username(username):
        if disabled or role not in (None, ADMIN):
            raise CannotChangeSelf(
                "you cannot disable yourself or drop your own admin role; ask another admin"
            )


def set_password(username: str, password: str) -> User:
    """Change a password; the user's open login sessions end."""
    check_password_strength(password)
    user = get_user(username)
    user.update(set__password_hash=hash_password(password))
    revoke_user_sessions(user.username)
    return user.reload()


def update_user(
    username: str,
    *,
    role: str | None = None,
    disabled: bool | None = None,
    by: str | None = None,
) -> User:
    """Change a role or disable/enable. Disabling ends the user's sessions and suspends the
    API tokens they created, at once; enabling lifts the suspension. A new role applies at
    once to open sessions and caps the API tokens the user created (a token never acts
    above its creator's current role). `by` names the admin making the change (None from
    the command line): an admin cannot disable themselves or drop their own admin role,
    so some admin can always undo a change."""
    _check_self_change(username, role, disabled, by)
    user = get_user(username)
    changes = {}
    if role is not None:
        if role not in ROLES:
            raise AccountError(f"unknown role '{role}'; use one of {', '.join(ROLES)}")
        changes["set__role"] = role
    if disabled is not None:
        changes["set__disabled"] = disabled
    if changes:
        user.update(**changes)
    if role is not None:
        set_sessions_role(user.username, role)
        set_creator_role(user.username, role)
    if disabled is not None:
        suspend_tokens_of(user.username, disabled)
    if disabled:
        revoke_user_sessions(user.username)
    return user.reload()


def change_user(
    username: str,
    *,
    role: str | None = None,
    disabled: bool | None = None,
    password: str | None = None,
    by: str | None = None,
) -> User:
    """`update_user` and `set_password` in one, checked whole before anything changes."""
    _check_self_change(username, role, disabled, by)
    if role is not None and role not in ROLES:
        raise AccountError(f"unknown role '{role}'; use one of {', '.join(ROLES)}")
    if password is not None:
        check_password_strength(password)
        set_password(username, password)
    return update_user(username, role=role, disabled=disabled, by=by)
