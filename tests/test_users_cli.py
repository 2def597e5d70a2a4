"""`jobplatform users add|list|set-password|disable|enable`, run as a real command."""

from __future__ import annotations

import json
import subprocess
import uuid

import httpx

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
