"""Password hashing with passlib's argon2 scheme."""

from __future__ import annotations

import secrets

from passlib.context import CryptContext

_context = CryptContext(schemes=["argon2"], deprecated="auto")


def hash_password(password: str) -> str:
    return _context.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    return _context.verify(password, hashed)


def generate_password() -> str:
    """A strong random password for a first admin (about 128 bits)."""
    return secrets.token_urlsafe(16)
