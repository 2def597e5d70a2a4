"""Login sessions: one per successful login, holding the refresh token's digest.

Access tokens name their session; logging out, changing the password or disabling the
user revokes it, so its access tokens stop working at once. The session keeps the user's
role (updated when the role changes), so checking a request takes one lookup. Refreshing
rotates the refresh token: the old one cannot be used again, even by refreshes racing each
other (see `rotate`).
"""

from __future__ import annotations

from datetime import timedelta

from mongoengine import DateTimeField, Document, ObjectIdField, StringField
from mongoengine.errors import NotUniqueError

from jobplatform.auth.tokens import REFRESH_TOKEN_PREFIX, digest, new_opaque_token
from jobplatform.ids import parse_object_id
from jobplatform.jobs.models import utcnow


class LoginSession(Document):
    meta = {
        "collection": "login_sessions",
        "auto_create_index": False,
        "indexes": [{"fields": ["refresh_digest"], "unique": True}, {"fields": ["username"]}],
    }

    username = StringField(required=True)
    role = StringField(required=True)
    refresh_digest = StringField(required=True)
    spent_digest = StringField()  # the refresh token swapped last (see `rotate`)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField(required=True)
    revoked_at = DateTimeField()


class SpentRefreshToken(Document):
    """A refresh token that was swapped: its digest is the key (`_id`), so only one swap
    can insert it. A session keeps only its latest (`LoginSession.spent_digest`)."""

    meta = {"collection": "spent_refresh_tokens", "auto_create_index": False}

    id = StringField(primary_key=True)
    session_id = ObjectIdField(required=True)
    spent_at = DateTimeField(default=utcnow)


def open_session(username: str, role: str, ttl_seconds: int) -> tuple[LoginSession, str]:
    """Start a session; return it and its refresh token (shown to the client only)."""
    refresh_token = new_opaque_token(REFRESH_TOKEN_PREFIX)
    session = LoginSession(
        username=username,
        role=role,
        refresh_digest=digest(refresh_token),
        expires_at=utcnow() + timedelta(seconds=ttl_seconds),
    ).save()
    return session, refresh_token


def rotate(refresh_token: str) -> tuple[LoginSession, str] | None:
    """Swap a valid refresh token for a new one; None when it is unknown, used or expired.

    Of refreshes racing with one token exactly one wins: the swap is decided by inserting
    the token's digest as a unique key, which the store does atomically (FerretDB applies
    an update by reading the document and writing it back, so a conditional update alone
    lets two racers both succeed there).
    """
    old = digest(refresh_token)
    session = (
        LoginSession.objects(refresh_digest=old, revoked_at=None, expires_at__gt=utcnow())
        .only("id", "spent_digest")
        .first()
    )
    if session is None:
        return None
    try:
        SpentRefreshToken(id=old, session_id=session.id).save(force_insert=True)
    except NotUniqueError:
        return None  # another refresh with this token won
    new_token = new_opaque_token(REFRESH_TOKEN_PREFIX)
    rotated = LoginSession.objects(id=session.id, refresh_digest=old, revoked_at=None).modify(
        new=True, set__refresh_digest=digest(new_token), set__spent_digest=old
    )
    if session.spent_digest:  # the one before can no longer race: the session moved on twice
        SpentRefreshToken.objects(id=session.spent_digest).delete()
    return (rotated, new_token) if rotated else None


def active_session(session_id: str) -> LoginSession | None:
    oid = parse_object_id(session_id)
    if oid is None:
        return None
    found = LoginSession._get_collection().find_one(
        {"_id": oid, "revoked_at": None, "expires_at": {"$gt": utcnow()}}, ["username", "role"]
    )  # without a query set: building one cost more than the lookup, every request
    return LoginSession._from_son(found) if found else None


def revoke_session(session_id: str) -> None:
    oid = parse_object_id(session_id)
    if oid is not None:
        LoginSession.objects(id=oid, revoked_at=None).update(set__revoked_at=utcnow())


def revoke_user_sessions(username: str) -> None:
    LoginSession.objects(username=username, revoked_at=None).update(set__revoked_at=utcnow())


def set_sessions_role(username: str, role: str) -> None:
    LoginSession.objects(username=username, revoked_at=None).update(set__role=role)
