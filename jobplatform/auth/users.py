"""Users stored in MongoDB, their roles, and the first admin."""

from __future__ import annotations

from mongoengine import BooleanField, DateTimeField, Document, StringField

from jobplatform.auth.passwords import generate_password, hash_password, verify_password
from jobplatform.jobs.models import utcnow

ROLES = ("admin", "operator", "viewer")
ADMIN = "admin"


class User(Document):
    meta = {"collection": "users", "auto_create_index": False,
            "indexes": [{"fields": ["username"], "unique": True}]}

    username = StringField(required=True)
    password_hash = StringField(required=True)
    role = StringField(required=True, choices=ROLES)
    disabled = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)


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
