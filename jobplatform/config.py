"""Platform settings, read from the environment and `.env`.

The seed system's names are kept (`PORT`, `MONGO_URI`, `REDIS_URI`, `JWT_SECRET`,
`ADMIN_PASSWORD`). A bad value stops start-up with one line naming the variable.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo.errors import ConfigurationError, InvalidURI
from pymongo.uri_parser import parse_uri


class SettingsError(Exception):
    """A setting has a value the platform cannot use; str() is one line for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    app_env: Literal["development", "production", "test"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    mongo_uri: str | None = None
    redis_uri: str | None = None
    jwt_secret: SecretStr | None = None
    jwt_ttl_seconds: int = Field(900, ge=30)
    admin_password: SecretStr | None = None
    data_dir: Path = Path("var")
    plugins_file: Path = Path("plugins.toml")
    worker_concurrency: int = Field(4, ge=1, le=256)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The job engine (jobplatform/jobs): leases, the reconciler, heartbeats, retention.
    lease_seconds: float = Field(30.0, gt=0, description="a running job's lease; renewed at 1/3")
    reconcile_seconds: float = Field(10.0, gt=0, description="how often the reconciler runs")
    requeue_after_seconds: float = Field(
        30.0, gt=0, description="a due job missing from its queue this long is put back on it"
    )
    heartbeat_seconds: float = Field(5.0, gt=0, description="how often workers report in")
    retention_days: float = Field(30.0, gt=0, description="finished jobs older are removed")
    extra_plugins: str = Field("", description="comma-separated modules loaded as plugins")
    # The API's security (jobplatform/auth, jobplatform/api); 0 turns a rate limit off.
    refresh_ttl_seconds: int = Field(14 * 86400, ge=60)
    api_rate_limit: int = Field(1200, ge=0, description="requests a minute per token")
    login_rate_limit_ip: int = Field(30, ge=0, description="login attempts a minute per IP")
    login_rate_limit_user: int = Field(10, ge=0, description="login attempts a minute per user")
    login_lockout_after: int = Field(5, ge=1, description="failed logins that lock a username")
    login_lockout_seconds: int = Field(60, ge=1, description="first lockout; doubles each time")
    login_lockout_max_seconds: int = Field(3600, ge=1)
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    list_count_budget_ms: int = Field(
        250, ge=0, description="a job list's total is given up after this long; 0: no limit"
    )
    cors_origins: str = Field("", description="comma-separated origins allowed to call the API")
    forwarded_allow_ips: str = Field(
        "", description="proxies whose X-Forwarded-For/-Proto is trusted (comma-separated, or *)"
    )
    # Operations (jobplatform/logs.py, jobplatform/metrics.py); see the README's production guide.
    log_format: Literal["auto", "json", "text"] = "auto"  # auto: json when APP_ENV=production
    log_file: Path | None = None
    log_file_max_mb: int = Field(20, ge=1)
    log_file_backups: int = Field(5, ge=0)
    metrics_token: SecretStr | None = None
    worker_metrics_port: int | None = Field(None, ge=1, le=65535)

    @field_validator("log_file", "worker_metrics_port", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # `NAME=` in .env leaves the setting off

    @field_validator("mongo_uri")
    @classmethod
    def _check_mongo_uri(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value.startswith("mongodb+srv://"):
            if not urlsplit(value).hostname:
                raise ValueError("has no host; expected mongodb+srv://user:pass@cluster/db")
            return value  # resolving the SRV record needs DNS; the driver does it on connect
        if not value.startswith("mongodb://"):
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        try:
            parse_uri(value)
        except (InvalidURI, ConfigurationError, ValueError) as exc:
            raise ValueError(f"not a MongoDB URI ({exc})") from exc
        return value

    @field_validator("redis_uri")
    @classmethod
    def _check_redis_uri(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must start with redis://, rediss:// or unix://")
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError as exc:
            raise ValueError(f"bad port ({exc})") from exc
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("has no host; expected redis://host:6379/0")
        return value

    @property
    def database_name(self) -> str:
        """Database named in MONGO_URI's path, or `jobplatform`."""
        if not self.mongo_uri:
            return "jobplatform"
        path = urlsplit(self.mongo_uri).path.lstrip("/")
        return path or "jobplatform"

    def admin_password_value(self) -> str | None:
        """ADMIN_PASSWORD as text, or None: the first admin then gets a generated one."""
        return self.admin_password.get_secret_value() if self.admin_password else None

    def resolved_jwt_secret(self) -> str:
        """JWT_SECRET, or in development a random secret kept under the data dir."""
        if self.jwt_secret:
            return self.jwt_secret.get_secret_value()
        if self.app_env == "production":
            raise SettingsError("JWT_SECRET: required when APP_ENV=production")
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48))
        return path.read_text().strip()


def load_settings(**overrides) -> Settings:
    """Read settings; turn the first invalid one into a `SettingsError` naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        message = error["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message} (got {error.get('input')!r})") from None
