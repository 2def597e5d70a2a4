"""What APP_ENV=production refuses to start with: a missing or weak JWT_SECRET, or an
admin password that is a well-known default (set in ADMIN_PASSWORD or already stored)."""

from __future__ import annotations

from jobplatform.auth.passwords import verify_password
from jobplatform.auth.users import ADMIN, User
from jobplatform.config import Settings, SettingsError

MIN_SECRET_LENGTH = 32
DEFAULT_PASSWORDS = (
    "admin",
    "password",
    "changeme",
    "admin123",
    "secret",
    "jobplatform",
    "123456",
    "12345678",
    "password123",
    "admin1234",
)
HOW_TO_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def check_secrets(settings: Settings) -> None:
    """Raise `SettingsError` naming what to fix; does nothing outside production."""
    if settings.app_env != "production":
        return
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else ""
    if not secret:
        raise SettingsError(
            f"JWT_SECRET: required when APP_ENV=production; set it to the output of {HOW_TO_SECRET}"
        )
    if len(secret) < MIN_SECRET_LENGTH or len(set(secret)) < 10:
        raise SettingsError(
            f"JWT_SECRET: too weak for APP_ENV=production (use at least "
            f"{MIN_SECRET_LENGTH} random characters); generate one with "
            f"{HOW_TO_SECRET}"
        )
    password = settings.admin_password_value()
    if password is not None and (password.lower() in DEFAULT_PASSWORDS or len(password) < 12):
        raise SettingsError(
            "ADMIN_PASSWORD: a default or short password is refused when "
            "APP_ENV=production; use at least 12 characters, or unset it to "
            "have a strong one generated and printed once"
        )


def check_stored_admin(settings: Settings) -> None:
    """In production, refuse an `admin` user whose stored password is a known default."""
    if settings.app_env != "production":
        return
    admin = User.objects(username=ADMIN, disabled=False).first()
    if admin and any(verify_password(p, admin.password_hash) for p in DEFAULT_PASSWORDS):
        raise SettingsError(
            "ADMIN_PASSWORD: the stored 'admin' user has a default password; "
            "change it with `jobplatform users set-password admin` before "
            "starting with APP_ENV=production"
        )
