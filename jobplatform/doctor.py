"""`jobplatform doctor`: checks the settings, Redis, MongoDB (and the live workers it
records), SMTP and the plugins, and for each problem says what is wrong and how to fix it.
Exits 1 when something must be fixed; warnings alone exit 0.
"""

from __future__ import annotations

import argparse
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any, Literal

from jobplatform.auth.production import check_secrets
from jobplatform.config import Settings, SettingsError, load_settings

TIMEOUT = 3.0  # seconds each server gets to answer
SETTINGS_HELP = "see the settings table in the README"


@dataclass
class Finding:
    part: str
    level: Literal["ok", "warn", "FAIL"]
    message: str
    fix: str = ""


def check_settings() -> tuple[Settings | None, list[Finding]]:
    try:
        settings = load_settings()
    except SettingsError as exc:
        name = str(exc).split(":", 1)[0]
        return None, [
            Finding(
                "settings",
                "FAIL",
                str(exc),
                f"set {name} in the environment or .env to a valid value; {SETTINGS_HELP}",
            )
        ]
    findings = [
        Finding(
            "settings",
            "ok",
            f"APP_ENV={settings.app_env}, listening on {settings.host}:{settings.port}",
        )
    ]
    production = settings.app_env == "production"
    try:
        check_secrets(settings)  # what the web process refuses to start with in production
    except SettingsError as exc:
        problem, _, fix = str(exc).partition("; ")
        findings.append(Finding("settings", "FAIL", problem, fix))
    if production and not settings.metrics_token:
        findings.append(
            Finding(
                "settings",
                "warn",
                "METRICS_TOKEN is not set, so the web "
                "process does not serve /metrics in production",
                "set METRICS_TOKEN and scrape with that bearer token",
            )
        )
    if not settings.mongo_uri:
        findings.append(
            Finding(
                "settings",
                "FAIL" if production else "warn",
                "MONGO_URI is not set: `jobplatform run` starts a local FerretDB, "
                "but `web` and `worker` need it",
                "set MONGO_URI, e.g. mongodb://host:27017/jobplatform",
            )
        )
    if production and not settings.redis_uri:
        findings.append(
            Finding(
                "settings",
                "warn",
                "REDIS_URI is not set: the queue is a SQLite "
                "file that only workers on this machine can share",
                "set REDIS_URI, e.g. redis://host:6379/0",
            )
        )
    findings.append(_check_data_dir(settings))
    return settings, findings


def _check_data_dir(settings: Settings) -> Finding:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=settings.data_dir):
            pass
    except OSError as exc:
        return Finding(
            "settings",
            "FAIL",
            f"DATA_DIR {settings.data_dir} is not writable ({exc.strerror})",
            "point DATA_DIR at a directory this user can write",
        )
    return Finding("settings", "ok", f"DATA_DIR {settings.data_dir} is writable")


def check_redis(settings: Settings) -> list[Finding]:
    import redis

    if not settings.redis_uri:
        return [
            Finding(
                "redis",
                "ok",
                f"not used: the queue is the SQLite file {settings.data_dir / 'queue.sqlite3'}",
            )
        ]
    fix = (
        "start Redis there, or correct REDIS_URI (redis://[:password@]host:6379/0; "
        "rediss:// for TLS)"
    )
    client = redis.Redis.from_url(
        settings.redis_uri, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT
    )
    try:
        client.ping()
        persistence = _persistence(client)
    except redis.AuthenticationError as exc:
        return [
            Finding(
                "redis",
                "FAIL",
                f"Redis refused the credentials: {exc}",
                "put the right password in REDIS_URI: redis://:PASSWORD@host:6379/0 "
                "(or redis://USER:PASSWORD@... with ACLs)",
            )
        ]
    except redis.RedisError as exc:
        return [
            Finding(
                "redis", "FAIL", f"cannot reach Redis at {_where(settings.redis_uri)}: {exc}", fix
            )
        ]
    finally:
        client.close()
    findings = [Finding("redis", "ok", f"answered at {_where(settings.redis_uri)}")]
    if persistence is False:
        findings.append(
            Finding(
                "redis",
                "warn",
                "persistence is off: queue messages are lost when "
                "Redis restarts (the jobs themselves stay in MongoDB)",
                "run redis-server with --appendonly yes",
            )
        )
    return findings


def _persistence(client: Any) -> bool | None:
    """Whether Redis keeps its data on disk (AOF or RDB snapshots); None if it won't say."""
    import redis

    try:
        config = client.config_get("appendonly") | client.config_get("save")
    except redis.ResponseError:
        return None  # CONFIG is disabled on many managed services
    return config.get("appendonly") == "yes" or bool(config.get("save"))


def check_mongodb(settings: Settings) -> list[Finding]:
    """MongoDB answers; then the live workers, from their heartbeats there."""
    import mongoengine
    from mongoengine.connection import get_db
    from pymongo.errors import OperationFailure, PyMongoError

    from jobplatform.jobs.heartbeat import live_workers

    if not settings.mongo_uri:
        return []  # reported with the settings
    try:
        mongoengine.connect(
            host=settings.mongo_uri,
            db=settings.database_name,
            serverSelectionTimeoutMS=TIMEOUT * 1000,
            connectTimeoutMS=TIMEOUT * 1000,
        )
        get_db().command("ping")
        workers = live_workers(settings.heartbeat_seconds)
    except OperationFailure as exc:
        return [
            Finding(
                "mongodb",
                "FAIL",
                f"MongoDB refused the request: {exc.details or exc}",
                "check the user, password and authSource in MONGO_URI, and that the user "
                f"may read and write the database '{settings.database_name}'",
            )
        ]
    except PyMongoError as exc:
        return [
            Finding(
                "mongodb",
                "FAIL",
                f"no MongoDB server answered at "
                f"{_where(settings.mongo_uri)} within {TIMEOUT:g}s "
                f"({str(exc).split(' (configured')[0]})",
                "start MongoDB, or correct the host and port in MONGO_URI; on Atlas, "
                "allow this machine's address in the project's network access list",
            )
        ]
    finally:
        mongoengine.disconnect()
    return [
        Finding(
            "mongodb",
            "ok",
            f"answered at {_where(settings.mongo_uri)}, database '{settings.database_name}'",
        ),
        _workers_finding(settings, workers),
    ]


def _workers_finding(settings: Settings, workers: list[dict[str, Any]]) -> Finding:
    """No live worker is a warning only: workers may be started after the doctor runs."""
    if not workers:
        return Finding(
            "workers",
            "warn",
            f"no worker reported in the last "
            f"{3 * settings.heartbeat_seconds:g}s: queued jobs wait until one runs",
            "start `jobplatform worker` (same REDIS_URI and MONGO_URI) on any machine",
        )
    hosts = sorted({w["host"] for w in workers})
    return Finding("workers", "ok", f"{len(workers)} live, on {', '.join(hosts)}")


def check_plugins(settings: Settings) -> tuple[Any, list[Finding]]:
    from jobplatform.plugins.manifest import ManifestError
    from jobplatform.services import load_host

    try:
        host = load_host(settings)
    except ManifestError as exc:
        return None, [
            Finding("plugins", "FAIL", str(exc), f"correct {settings.plugins_file} (PLUGINS_FILE)")
        ]
    findings = []
    for record in host.plugins.values():
        if record.status == "failed":
            findings.append(
                Finding(
                    "plugins",
                    "FAIL",
                    f"'{record.name}' failed: {record.error}",
                    f"fix [plugins.{record.name}] in {settings.plugins_file} or "
                    "the plugin; `jobplatform plugins list` shows the details",
                )
            )
    if not host.job_types and not findings:  # a failed plugin is already named as the cause
        findings.append(
            Finding(
                "plugins",
                "FAIL",
                "no job type is loaded",
                "enable and install a plugin: `jobplatform plugins sync`",
            )
        )
    else:
        findings.append(Finding("plugins", "ok", f"job types: {', '.join(sorted(host.job_types))}"))
    return host, findings


def check_smtp(host: Any) -> list[Finding]:
    """Connect to the email plugin's SMTP server as a delivery would, without sending."""
    record = host.plugins.get("email") if host is not None else None
    if record is None or record.status != "loaded":
        return []
    s = record.settings
    where = f"{s['host']}:{s['port']} (tls={s['tls']})"
    try:
        _smtp_session(s)
    except (OSError, smtplib.SMTPException) as exc:
        return [_smtp_failure(where, exc)]
    accepted = " and the login" if s["username"] else ""
    return [Finding("smtp", "ok", f"{where} accepted a connection{accepted}")]


def _smtp_session(s: dict[str, Any]) -> None:
    """Greet the server, start TLS and log in as the settings say, then quit."""
    context = ssl.create_default_context(cafile=s.get("ca_file") or None)
    if s["tls"] == "tls":
        server = smtplib.SMTP_SSL(s["host"], s["port"], timeout=TIMEOUT, context=context)
    else:
        server = smtplib.SMTP(s["host"], s["port"], timeout=TIMEOUT)
    with server:
        server.ehlo()
        if s["tls"] == "starttls":
            server.starttls(context=context)  # SMTPNotSupportedError when not offered
            server.ehlo()
        if s["username"]:
            server.login(s["username"], s["password"])


def _smtp_failure(where: str, exc: Exception) -> Finding:
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return Finding(
            "smtp",
            "FAIL",
            f"{where} does not offer STARTTLS",
            "set SMTP_TLS=tls for a TLS port (465), or SMTP_TLS=none only on a trusted network",
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return Finding(
            "smtp",
            "FAIL",
            f"{where} refused the login: {exc.smtp_code} {exc.smtp_error.decode(errors='replace')}",
            "check SMTP_USERNAME and SMTP_PASSWORD",
        )
    if isinstance(exc, ssl.SSLError):
        return Finding(
            "smtp",
            "FAIL",
            f"TLS with {where} failed: {exc}",
            "use SMTP_TLS=tls on port 465 and SMTP_TLS=starttls on 587; for a private "
            "CA set ca_file in [plugins.email.settings]",
        )
    return Finding(
        "smtp",
        "FAIL",
        f"cannot talk to the SMTP server at {where}: {exc}",
        "start the SMTP server, or correct SMTP_HOST and SMTP_PORT "
        "([plugins.email.settings] in plugins.toml)",
    )


def _where(uri: str) -> str:
    """host:port of a URI, without its credentials."""
    return uri.split("@")[-1].split("://")[-1].split("/")[0].split("?")[0]


def run_checks() -> list[Finding]:
    settings, findings = check_settings()
    if settings is None:
        return findings
    findings += check_redis(settings) + check_mongodb(settings)
    host, plugin_findings = check_plugins(settings)
    return findings + plugin_findings + check_smtp(host)


def main() -> int:
    findings = run_checks()
    for finding in findings:
        print(f"{finding.level:<5} {finding.part:<9} {finding.message}")
        if finding.fix and finding.level != "ok":
            print(f"{'':16}fix: {finding.fix}")
    failures = sum(f.level == "FAIL" for f in findings)
    print(f"\n{failures} problem(s) to fix." if failures else "\nAll checks passed.")
    return 1 if failures else 0


def add_command(commands: argparse._SubParsersAction) -> None:
    commands.add_parser(
        "doctor",
        help="check settings, Redis, MongoDB, SMTP and plugins, and say how to fix what is wrong",
    ).set_defaults(handler=lambda _: main())
