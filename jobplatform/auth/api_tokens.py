"""Long-lived API tokens for integrations: created by an admin with a name and a role.

The token itself is shown once, at creation; only its SHA-256 digest is stored. Tokens are
listed (by name, role and a short prefix) and revoked; a revoked token stops at once, and
a token is suspended while the admin who created it is disabled.
"""

from __future__ import annotations

from mongoengine import BooleanField, DateTimeField, Document, StringField

from jobplatform.auth.tokens import API_TOKEN_PREFIX, digest, new_opaque_token
from jobplatform.auth.users import ROLES, AccountError, UserExists, UserNotFound
from jobplatform.db import parse_object_id
from jobplatform.jobs.models import utcnow

SHOWN_PREFIX = len(API_TOKEN_PREFIX) + 6


class ApiToken(Document):
    meta = {
        "collection": "api_tokens",
        "auto_create_index": False,
        "indexes": [{"fields": ["token_digest"], "unique": True}, {"fields": ["name"]}],
    }

    name = StringField(required=True)
    role = StringField(required=True, choices=ROLES)
    token_digest = StringField(required=True)
    prefix = StringField(required=True)
    created_by = StringField(required=True)
    created_at = DateTimeField(default=utcnow)
    revoked_at = DateTimeField()
    creator_disabled = BooleanField(default=False)

    def describe(self) -> dict:
        return {
            "id": str(self.id),
            "name": self.name,
            "role": self.role,
            "prefix": self.prefix,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(timespec="milliseconds") + "Z",
            "revoked": self.revoked_at is not None,
        }


def create_api_token(name: str, role: str, created_by: str) -> tuple[ApiToken, str]:
    """Create a token; return the record and the token (the only time it is visible)."""
    if role not in ROLES:
        raise AccountError(f"unknown role '{role}'; use one of {', '.join(ROLES)}")
    if ApiToken.objects(name=name, revoked_at=None).first() is not None:
        raise UserExists(f"an active API token named '{name}' exists; revoke it or pick a name")
    token = new_opaque_token(API_TOKEN_PREFIX)
    record = ApiToken(
        name=name,
        role=role,
        token_digest=digest(token),
        prefix=token[:SHOWN_PREFIX],
        created_by=created_by,
    ).save()
    return record, token


def list_api_tokens() -> list[ApiToken]:
    return list(ApiToken.objects.order_by("-created_at"))


def revoke_api_token(token_id: str) -> ApiToken:
    oid = parse_object_id(token_id)
    record = ApiToken.objects(id=oid).first() if oid else None
    if record is None:
        raise UserNotFound(f"no API token with id '{token_id}'")
    ApiToken.objects(id=oid, revoked_at=None).update(set__revoked_at=utcnow())
    return record.reload()


def find_unrevoked_token(token: str) -> ApiToken | None:
    """The token's record unless it is unknown or revoked (check `creator_disabled`)."""
    return (
        ApiToken.objects(token_digest=digest(token), revoked_at=None)
        .only("name", "role", "created_by", "creator_disabled")
        .first()
    )


def suspend_tokens_of(username: str, disabled: bool) -> None:
    ApiToken.objects(created_by=username).update(set__creator_disabled=disabled)
