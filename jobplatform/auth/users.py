"""Users stored in MongoDB, their roles, the first admin, and account administration.

Roles: `admin` (everything, including users and API tokens), `operator` (submit, retry,
cancel and delete jobs) and `viewer` (read only).
"""

from __future__ import annotations

from mongoengine import BooleanField, DateTimeField, Document, StringField
from mongoengine.errors import NotUniqueError

from jobplatform.auth.passwords import generate_password, hash_password, verify_password
from jobplatform.jobs.models import utcnow
from jobplatform.jobs.service import JobError

ROLES = ("admin", "operator", "viewer")
ADMIN = "admin"
MIN_PASSWORD_LENGTH = 10
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"


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


class AccountError(JobError):
    """A request about users or tokens that cannot be done; `code` picks the API status."""


class UserNotFound(AccountError):
    code = "not_found"


class UserExists(AccountError):
    code = "conflict"


class WeakPassword(AccountError):
    code = "validation_failed"


class LoginFailed(Exception):
    """Unknown user, wrong password or disabled account (one message for all three)."""


def authenticate(username: str, password: str) -> User:
    user = User.objects(username=username).first()
    if user is None or user.disabled or not verify_password(password, user.password_hash):
        raise LoginFailed("invalid username or password")
    return user


def ensure_admin(password: str | None) -> str | None:
    """Create the `admin` user if there is none.

    Uses `password` when given; otherwise generates a strong one and returns it, so the
    caller can show it once. Only its hash is stored. Returns None if nothing was created.
    """
    if User.objects(username=ADMIN).first() is not None:
        return None
    generated = None if password else generate_password()
    User(username=ADMIN, password_hash=hash_password(password or generated), role=ADMIN).save()
    return generated


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"password is too short; use at least {MIN_PASSWORD_LENGTH} characters")


def get_user(username: str) -> User:
    user = User.objects(username=username).first()
    if user is None:
        raise UserNotFound(f"no user named '{username}'")
    return user


def list_users() -> list[User]:
    return list(User.objects.order_by("username"))


def create_user(username: str, password: str, role: str) -> User:
    if role not in ROLES:
        raise AccountError(f"unknown role '{role}'; use one of {', '.join(ROLES)}")
    check_password_strength(password)
    try:
        return User(username=username, password_hash=hash_password(password), role=role).save()
    except NotUniqueError:
        raise UserExists(f"a user named '{username}' already exists") from None


def set_password(username: str, password: str) -> User:
    """Change a password; the user's open login sessions end."""
    from jobplatform.auth.sessions import revoke_user_sessions

    check_password_strength(password)
    user = get_user(username)
    user.update(set__password_hash=hash_password(password))
    revoke_user_sessions(username)
    return user.reload()


def update_user(username: str, *, role: str | None = None, disabled: bool | None = None) -> User:
    """Change a role or disable/enable. Disabling ends the user's sessions and suspends the
    API tokens they created, at once; enabling lifts the suspension. A new role applies to
    open sessions at once."""
    from jobplatform.auth.api_tokens import suspend_tokens_of
    from jobplatform.auth.sessions import revoke_user_sessions, set_sessions_role

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
        set_sessions_role(username, role)
    if disabled is not None:
        suspend_tokens_of(username, disabled)
    if disabled:
        revoke_user_sessions(username)
    return user.reload()
