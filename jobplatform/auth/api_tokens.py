"""Long-lived API tokens for integrations: created by an admin with a name and a role.

The token itself is shown once, at creation; only its SHA-256 digest is stored. Tokens are
listed (by name, role and a short prefix) and revoked; a revoked token stops at once, and
a token is suspended while the admin who created it is disabled.

A token never acts above its creator's current role: its effective role is the lower of
its own and the creator's. The creator's role and disabled flag are kept on each of their
tokens (written when either changes), so checking a request is one lookup by digest.
"""

from __future__ import annotations

from mongoengine import BooleanField, DateTimeField, Document, StringField

from jobplatform.auth.tokens import API_TOKEN_PREFIX, digest, new_opaque_token
from jobplatform.auth.users import ROLES, AccountError, User, UserExists, UserNotFound
from jobplatform.errors import InvalidInput
from jobplatform.ids import parse_object_id
from jobplatform.jobs.models import utcnow

SHOWN_PREFIX = len(API_TOKEN_PREFIX) + 6
RANK = {role: rank for rank, role in enumerate(reversed(ROLES))}  # viewer 0 .. admin 2


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
    creator_role = StringField(choices=ROLES)  # the creator's current role (unset: older token)

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


MAX_NAME_LENGTH = 100


class InvalidTokenName(AccountError, InvalidInput):
    pass


def create_api_token(name: str, role: str, created_by: str) -> tuple[ApiToken, str]:
    """Create a token; return the record and the token (the only time it is visible).
    The name, stripped, is 1 to `MAX_NAME_LENGTH` characters."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidTokenName(
            f"give the token a name of 1 to {MAX_NAME_LENGTH} characters that says who uses it",
            details={"name": [f"1 to {MAX_NAME_LENGTH} characters, not only spaces"]},
        )
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
    # read after the token exists: any later change of the creator is written into it too
    _record_creator(record, created_by)
    return record.reload(), token


def list_api_tokens() -> list[ApiToken]:
    return list(ApiToken.objects.order_by("-created_at"))


def revoke_api_token(token_id: str) -> ApiToken:
    oid = parse_object_id(token_id)
    record = ApiToken.objects(id=oid).first() if oid else None
    if record is None:
        raise UserNotFound(f"no API token with id '{token_id}'")
    ApiToken.objects(id=oid, revoked_at=None).update(set__revoked_at=utcnow())
    return record.reload()


TOKEN_FIELDS = ["name", "role", "created_by", "creator_disabled", "creator_role"]


def find_unrevoked_token(token: str) -> ApiToken | None:
    """The token's record unless it is unknown or revoked (check `creator_disabled`, and
    act as `effective_role`). One lookup by the unique digest index."""
    found = ApiToken._get_collection().find_one(
        {"token_digest": digest(token), "revoked_at": None}, TOKEN_FIELDS
    )  # without a query set: building one cost more than the lookup, every request
    record = ApiToken._from_son(found) if found else None
    if record is not None and record.creator_role is None:
        _record_creator(record, record.created_by)  # a token made before the field existed
        record.reload()
    return record


def effective_role(record: ApiToken) -> str:
    """What the token may do: its own role, capped by its creator's current role."""
    creator = record.creator_role or "viewer"
    return min(record.role, creator, key=RANK.__getitem__)


def _record_creator(record: ApiToken, username: str) -> None:
    user = User.objects(username=username).only("role", "disabled").first()
    if user is None:  # the creator no longer exists: the token acts for no one
        ApiToken.objects(id=record.id).update(
            set__creator_role="viewer", set__creator_disabled=True
        )
        return
    ApiToken.objects(id=record.id).update(
        set__creator_role=user.role, set__creator_disabled=user.disabled
    )


def suspend_tokens_of(username: str, disabled: bool) -> None:
    ApiToken.objects(created_by=username).update(set__creator_disabled=disabled)


def set_creator_role(username: str, role: str) -> None:
    """Written when a user's role changes: their tokens act at most with `role` at once."""
    ApiToken.objects(created_by=username).update(set__creator_role=role)
