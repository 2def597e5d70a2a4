"""Users stored in MongoDB, their roles, the first admin, and account administration.

Roles are in `auth/roles.py`.

Usernames are normalised (surrounding spaces stripped, lower-cased) wherever one comes in:
creating, logging in, looking up. So `Admin` and `admin` are one account, and creating a
name that differs from an existing one only in case is refused.
"""

from __future__ import annotations

import re
import secrets
from functools import cache

from mongoengine import BooleanField, DateTimeField, Document, StringField
from mongoengine.errors import NotUniqueError

from jobplatform.auth.passwords import generate_password, hash_password, verify_password
from jobplatform.auth.roles import ADMIN, ROLES
from jobplatform.errors import Conflict, InvalidInput, NotFound, PlatformError
from jobplatform.jobs.models import utcnow

MIN_PASSWORD_LENGTH = 10
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
USERNAME_RULE = "1-64 letters, digits or . _ @ -, starting with a letter or digit"


class User(Document):
    meta = {
        "collection": "users",
        "auto_create_index": False,
        "indexes": [{"fields": ["username"], "unique": True}],
    }

    username = StringField(required=True, regex=USERNAME_PATTERN)
    password_hash = StringField(required=True)
    role = StringField(required=True, choices=ROLES)
    disabled = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)

    def describe(self) -> dict:
        return {
            "username": self.username,
            "role": self.role,
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(timespec="milliseconds") + "Z",
        }


class AccountError(PlatformError):
    """A request about users or tokens that cannot be done."""


class UserNotFound(AccountError, NotFound):
    pass


class UserExists(AccountError, Conflict):
    pass


class WeakPassword(AccountError, InvalidInput):
    pass


class InvalidUsername(AccountError, InvalidInput):
    pass


class LoginFailed(Exception):
    """Unknown user, wrong password or disabled account (one message for all three)."""


@cache
def _dummy_hash() -> str:
    """Checked when the username is unknown or disabled, so a wrong username costs what a
    wrong password costs and the answer's timing does not tell which usernames exist."""
    return hash_password(secrets.token_urlsafe(16))


def normalize_username(username: str) -> str:
    """The one spelling a username is stored and looked up under."""
    return username.strip().lower()


def _find_user(username: str) -> User | None:
    """The user `username` names, in any case; one indexed lookup for names stored
    normalised (a case-insensitive match only finds an account made before that)."""
    name = normalize_username(username)
    user = User.objects(username=name).first()
    if user is None and re.fullmatch(USERNAME_PATTERN, name):
        pattern = {"$regex": f"^{re.escape(name)}$", "$options": "i"}
        user = User.objects(__raw__={"username": pattern}).first()
    return user


def authenticate(username: str, password: str) -> User:
    user = _find_user(username)
    if user is None or user.disabled:
        verify_password(password, _dummy_hash())  # the same work as for a real account
        raise LoginFailed("invalid username or password")
    if not verify_password(password, user.password_hash):
        raise LoginFailed("invalid username or password")
    return user


def ensure_admin(password: str | None) -> str | None:
    """Create the `admin` user if there is none.

    Uses `password` when given; otherwise generates a strong one and returns it, so the
    caller can show it once. Only its hash is stored. Returns None if nothing was created
    (also when another process starting at the same time created it first: the unique
    username decides, and that process shows its password).
    """
    if User.objects(username=ADMIN).first() is not None:
        return None
    generated = None if password else generate_password()
    admin = User(username=ADMIN, password_hash=hash_password(password or generated), role=ADMIN)
    try:
        admin.save()
    except NotUniqueError:
        return None
    return generated


def admin_notice(password: str | None) -> str | None:
    """`ensure_admin`, and what to tell the operator when it made a password: the one time
    anyone sees it. None when the admin existed or `password` was given."""
    generated = ensure_admin(password)
    if generated is None:
        return None
    return (
        f"Admin login: admin / {generated}\n"
        "(generated now and shown only this once; only its hash is stored)"
    )


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"password is too short; use at least {MIN_PASSWORD_LENGTH} characters")


def active_user(username: str) -> User | None:
    """The user named `username` if it exists and is not disabled."""
    return User.objects(username=normalize_username(username), disabled=False).first()


def get_user(username: str) -> User:
    user = _find_user(username)
    if user is None:
        raise UserNotFound(f"no user named '{username}'")
    return user


def list_users() -> list[User]:
    return list(User.objects.order_by("username"))


def create_user(username: str, password: str, role: str) -> User:
    """Create a user under the normalised `username`; refused when a user of that name
    exists in any case."""
    name = normalize_username(username)
    if not re.fullmatch(USERNAME_PATTERN, name):
        raise InvalidUsername(f"'{username}' is not a username: use {USERNAME_RULE}")
    if role not in ROLES:
        raise AccountError(f"unknown role '{role}'; use one of {', '.join(ROLES)}")
    check_password_strength(password)
    existing = _find_user(name)
    if existing is not None:
        raise UserExists(f"a user named '{existing.username}' already exists")
    try:
        return User(username=name, password_hash=hash_password(password), role=role).save()
    except NotUniqueError:
        raise UserExists(f"a user named '{name}' already exists") from None
