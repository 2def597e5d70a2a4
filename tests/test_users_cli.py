"""`jobplatform users add|list|set-password|disable|enable`, run as a real command."""

from __future__ import annotations

import json
import subprocess
import uuid

import httpx

from tests.conftest import start_web, stop
from tests.helpers import run_cli


def users(platform_env, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    return run_cli("users", *args, env=platform_env, stdin=f"{password}\n" if password else "")


def can_log_in(web_url: str, username: str, password: str) -> bool:
    response = httpx.post(f"{web_url}/api/login", json={"username": username, "password": password})
    return response.status_code == 200


def test_add_list_set_password_disable_enable(platform_env, web_url):
    name, first, second = f"cli-{uuid.uuid4().hex[:6]}", "first-password-1", "second-password-2"

    added = users(platform_env, "add", name, "--role", "operator", password=first)
    assert added.returncode == 0, added.stderr
    assert f"created operator '{name}'" in added.stdout
    assert can_log_in(web_url, name, first)

    listed = json.loads(users(platform_env, "list", "--json").stdout)
    assert {"username": name, "role": "operator", "disabled": False} in [
        {k: u[k] for k in ("username", "role", "disabled")} for u in listed
    ]

    assert users(platform_env, "set-password", name, password=second).returncode == 0
    assert not can_log_in(web_url, name, first) and can_log_in(web_url, name, second)

    assert users(platform_env, "disable", name).returncode == 0
    assert not can_log_in(web_url, name, second)
    assert f"{name}" in users(platform_env, "list").stdout
    assert users(platform_env, "enable", name).returncode == 0
    assert can_log_in(web_url, name, second)


def test_refusals_say_what_is_wrong_and_change_nothing(platform_env):
    name = f"cli-{uuid.uuid4().hex[:6]}"
    short = users(platform_env, "add", name, "--role", "viewer", password="short")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    assert name not in users(platform_env, "list").stdout

    users(platform_env, "add", name, "--role", "viewer", password="long-enough-pw")
    again = users(platform_env, "add", name, "--role", "admin", password="long-enough-pw")
    assert again.returncode == 1 and "already exists" in again.stderr

    missing = users(platform_env, "disable", "nobody-" + name)
    assert missing.returncode == 1 and "no user named" in missing.stderr

    bad_role = users(platform_env, "add", name + "x", "--role", "root", password="x" * 12)
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr


def test_unlock_lifts_a_lockout(platform_env, web_url):
    name, password = f"cli-{uuid.uuid4().hex[:6]}", "locked-out-password"
    assert users(platform_env, "add", name, "--role", "admin", password=password).returncode == 0
    for _ in range(5):  # LOGIN_LOCKOUT_AFTER's default
        httpx.post(f"{web_url}/api/login", json={"username": name, "password": "guess"})
    assert not can_log_in(web_url, name, password)  # locked: even the right password waits

    unlocked = users(platform_env, "unlock", name.upper())
    assert unlocked.returncode == 0, unlocked.stderr
    assert f"'{name}' unlocked (1 lockout lifted)" in unlocked.stdout
    assert can_log_in(web_url, name, password)

    missing = users(platform_env, "unlock", "nobody-" + name)
    assert missing.returncode == 1 and "no user named" in missing.stderr


def test_unlock_without_redis_reaches_the_web_process_lockouts(platform_env, tmp_path):
    """Without REDIS_URI (`make run`'s default) the lockouts are in DATA_DIR, where the
    command finds them too."""
    env = {**platform_env, "REDIS_URI": "", "DATA_DIR": str(tmp_path / "var")}
    name, password = f"cli-{uuid.uuid4().hex[:6]}", "locked-out-password"
    assert users(env, "add", name, "--role", "viewer", password=password).returncode == 0
    process, url = start_web(env, tmp_path / "web.log")
    try:
        for _ in range(5):
            httpx.post(f"{url}/api/login", json={"username": name, "password": "guess"})
        assert not can_log_in(url, name, password)
        unlocked = users(env, "unlock", name)
        assert unlocked.returncode == 0, unlocked.stderr
        assert "(1 lockout lifted)" in unlocked.stdout
        assert can_log_in(url, name, password)
    finally:
        stop(process)


def test_usernames_are_stored_in_lower_case_and_a_case_twin_is_refused(platform_env, web_url):
    name = f"CLI-{uuid.uuid4().hex[:6]}"
    added = users(platform_env, "add", name, "--role", "viewer", password="a-long-password")
    assert added.returncode == 0 and f"'{name.lower()}'" in added.stdout
    twin = users(platform_env, "add", name.lower(), "--role", "admin", password="a-long-password")
    assert twin.returncode == 1 and "already exists" in twin.stderr
    assert can_log_in(web_url, name, "a-long-password")
