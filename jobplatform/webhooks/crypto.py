"""Webhook secrets: made by the platform, shown once, kept encrypted at rest.

A delivery is signed with its endpoint's secret, so the secret must be recoverable (a hash
would not do). It is encrypted with Fernet (AES-128-CBC with HMAC-SHA256) under a key
derived from JWT_SECRET with HKDF-SHA256, so every web and worker process that shares
JWT_SECRET can read it and nothing else needs to be configured. Changing JWT_SECRET makes
the stored secrets unreadable: deliveries then fail saying so, and rotating each
endpoint's secret gives it a new one under the new key.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_PREFIX = "whsec_"
HINT_LENGTH = len(SECRET_PREFIX) + 4
KEY_INFO = b"jobplatform webhook secrets v1"


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with this process's key."""


def new_secret() -> str:
    """A fresh endpoint secret: `whsec_` and 43 URL-safe characters (256 random bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class SecretBox:
    """Encrypts and decrypts endpoint secrets with the key derived from `jwt_secret`."""

    def __init__(self, jwt_secret: str):
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO).derive(
            jwt_secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise SecretUnreadable(
                "the endpoint's secret cannot be decrypted (JWT_SECRET changed since it was "
                "made); rotate the endpoint's secret"
            ) from None
