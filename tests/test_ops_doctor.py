"""`jobplatform doctor` against the real services, and against broken settings: each problem
is named with its fix, and the exit code says whether anything must be fixed."""

from __future__ import annotations

import pytest

from jobplatform.devservices import free_port
from tests.helpers import run_cli


def doctor(env: dict[str, str]) -> tuple[int, str]:
    done = run_cli("doctor", env=env)
    return done.returncode, done.stdout + done.stderr


def test_a_working_setup_passes(platform_env, worker):
    code, output = doctor(platform_env)
    assert code == 0, output
    for part in ("settings", "redis", "mongodb", "workers", "plugins", "smtp"):
        assert f"ok    {part}" in output, output
    assert "sendEmail" in output.split("ok    plugins   job types: ", 1)[1].splitlines()[0]
    assert "All checks passed." in output


@pytest.mark.parametrize(
    ("broken", "problem", "fix"),
    [
        (
            {"PORT": "70000"},
            "FAIL  settings  PORT: Input should be less than or equal to 65535",
            "fix: set PORT in the environment or .env to a valid value",
        ),
        (
            {"REDIS_URI": "redis://127.0.0.1:{closed}/0"},
            "FAIL  redis     cannot reach Redis at 127.0.0.1:{closed}",
            "fix: start Redis there, or correct REDIS_URI",
        ),
        (
            {"MONGO_URI": "mongodb://127.0.0.1:{closed}/jp"},
            "FAIL  mongodb   no MongoDB server answered at 127.0.0.1:{closed}",
            "correct the host and port in MONGO_URI",
        ),
        (
            {"SMTP_PORT": "{closed}"},
            "FAIL  smtp      cannot talk to the SMTP server at 127.0.0.1:{closed}",
            "fix: start the SMTP server, or correct SMTP_HOST and SMTP_PORT",
        ),
        ({"SMTP_TLS": "starttls"}, "does not offer STARTTLS", "set SMTP_TLS=tls"),
        (
            {"SMTP_TLS": "sometimes"},
            "FAIL  plugins   'email' failed: ",
            "tls: unallowed value sometimes",
        ),
        (
            {"APP_ENV": "production", "JWT_SECRET": "short"},
            "FAIL  settings  JWT_SECRET: too weak",
            "fix: generate one with python3 -c 'import secrets; print(secrets.token_urlsafe(48))'",
        ),
    ],
    ids=["port", "redis", "mongodb", "smtp", "starttls", "plugin", "jwt-secret"],
)
def test_a_broken_setting_is_named_with_its_fix(platform_env, broken, problem, fix):
    closed = str(free_port())  # nothing listens there
    env = {**platform_env, **{k: v.format(closed=closed) for k, v in broken.items()}}
    code, output = doctor(env)
    assert code == 1, output
    assert problem.format(closed=closed) in output, output
    assert fix in output, output
    assert "1 problem(s) to fix." in output, output


def test_no_live_worker_is_a_warning_with_the_fix(platform_env, mongo_server):
    env = {**platform_env, "MONGO_URI": f"{mongo_server}jp_no_workers"}
    code, output = doctor(env)
    assert code == 0, output  # workers may well be started after the check
    assert "warn  workers   no worker reported in the last 15s" in output
    assert "fix: start `jobplatform worker`" in output
