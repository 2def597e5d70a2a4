"""`jobplatform queues list|pause|resume`, run as a real command against a MongoDB database
of its own (so its pauses hold no other test's jobs)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.helpers import run_cli


@pytest.fixture
def env(platform_env, mongo_server) -> dict[str, str]:
    return {**platform_env, "MONGO_URI": f"{mongo_server}jp_cli_queues_{uuid.uuid4().hex[:8]}"}


def queues(env, *args: str):
    return run_cli("queues", *args, env=env)


def listed(env) -> dict[str, dict]:
    answer = queues(env, "list", "--json")
    assert answer.returncode == 0, answer.stderr
    return {row["name"]: row for row in json.loads(answer.stdout)}


def test_list_pause_and_resume(env):
    shown = queues(env, "list")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].split() == [
        "QUEUE", "WAITING", "SCHEDULED", "RETRYING", "RUNNING", "STATE", "JOB", "TYPES"
    ]  # fmt: skip
    assert shown.stdout.splitlines()[1].split()[0] == "email"
    assert "active" in shown.stdout and "sendEmail" in shown.stdout

    paused = queues(env, "pause", "email")
    assert paused.returncode == 0, paused.stderr
    assert "queue 'email' paused: workers take nothing new from it" in paused.stdout
    row = listed(env)["email"]
    assert row["paused"] and row["paused_by"].startswith("cli:")
    assert "paused by cli:" in queues(env, "list").stdout

    resumed = queues(env, "resume", "email")
    assert resumed.returncode == 0, resumed.stderr
    assert "queue 'email' resumed" in resumed.stdout
    assert not listed(env)["email"]["paused"]


def test_an_unknown_queue_is_refused_and_nothing_changes(env):
    for action in ("pause", "resume"):
        refused = queues(env, action, "no-such-queue")
        assert refused.returncode == 1
        assert (
            "no job type uses a queue named 'no-such-queue'; known queues: email" in refused.stderr
        )
    assert set(listed(env)) == {"email", "webhooks"}
    assert not listed(env)["email"]["paused"]
    missing = queues(env)
    assert missing.returncode == 2 and "list,pause,resume" in missing.stderr
