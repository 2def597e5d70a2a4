"""`jobplatform login`, `jobplatform jobs ...` and `jobplatform workflows ...` as a user runs
them (`python -m jobplatform` subprocesses) against a live platform: real web and worker
processes (tests/live_platform.py), and `jobplatform completion`. The config file lives in
the test's directory."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import tomllib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from jobplatform.devservices import free_port
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import ROOT, run_cli, wait_until
from tests.live_platform import LivePlatform, live_platform


@pytest.fixture(scope="module")
def platform(tmp_path_factory, platform_env, mongo_server):
    with live_platform(tmp_path_factory.mktemp("cli-jobs"), platform_env, mongo_server) as p:
        yield p


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    """The environment of a user with no platform configured yet (a config file of the
    test's own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPLATFORM_")}
    return {**env, "JOBPLATFORM_CONFIG": str(tmp_path / "config" / "cli.toml")}


@pytest.fixture
def env(platform: LivePlatform, cli_env) -> dict[str, str]:
    """A user with the URL and an operator token in the environment."""
    return {**cli_env, "JOBPLATFORM_URL": platform.url, "JOBPLATFORM_TOKEN": platform.api_token()}


def jobs(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return run_cli("jobs", *args, env=env, stdin=stdin)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def api_total(platform: LivePlatform, **params) -> int:
    response = httpx.get(
        f"{platform.url}/api/jobs",
        params={**params, "limit": 1},
        headers={"Authorization": f"Bearer {platform.login()}"},
    )
    assert response.status_code == 200, response.text
    return response.json()["total"]


def test_login_writes_the_config_file_and_later_commands_use_it(platform, cli_env, tmp_path):
    config = tmp_path / "config" / "cli.toml"
    wrong = run_cli("login", platform.url, "--username", "admin", env=cli_env, stdin="nope\n")
    assert wrong.returncode == 1 and "login_failed" in wrong.stderr and not config.exists()

    done = run_cli(
        "login", platform.url, "--username", "admin", env=cli_env, stdin=ADMIN_PASSWORD + "\n"
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    saved = tomllib.loads(config.read_text())
    assert saved["url"] == platform.url and saved["username"] == "admin"
    assert saved["refresh_token"] and ADMIN_PASSWORD not in config.read_text()

    submitted = jobs(cli_env, "submit", "test.noop", "--json")  # no --url, no --token
    assert submitted.returncode == 0, submitted.stderr
    assert json.loads(submitted.stdout)["created_by"] == "admin"

    # an expired access token: the command refreshes the session and saves the new tokens
    config.write_text(config.read_text().replace(saved["access_token"], "expired"))
    shown = jobs(cli_env, "show", json.loads(submitted.stdout)["id"])
    assert shown.returncode == 0, shown.stderr
    renewed = tomllib.loads(config.read_text())
    assert renewed["refresh_token"] != saved["refresh_token"] and renewed["access_token"]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600

    token = platform.api_token("viewer")
    assert run_cli("login", platform.url, "--token", token, env=cli_env).returncode == 0
    assert tomllib.loads(config.read_text()) == {"url": platform.url, "token": token}
    listed = jobs(cli_env, "list", "--limit", "1", "--json")
    assert listed.returncode == 0 and len(json_lines(listed.stdout)) == 1
    refused = jobs(cli_env, "submit", "test.noop")
    assert refused.returncode == 1 and "403" in refused.stderr  # a viewer's token


def test_submit_a_jsonl_file_of_1000_jobs_then_list_them_with_filters(platform, env, tmp_path):
    key = "cli-" + uuid.uuid4().hex[:8]
    lines = [json.dumps({"fail_times": 1 if n % 100 == 0 else 0}) for n in range(1000)]
    path = tmp_path / "jobs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    submitted = jobs(env, "submit", "test.flaky", "--file", str(path), "--idempotency-key", key)
    assert submitted.returncode == 0, submitted.stderr
    assert "submitted 1000 test.flaky jobs" in submitted.stdout
    again = jobs(env, "submit", "test.flaky", "--file", str(path), "--idempotency-key", key)
    assert again.returncode == 0 and api_total(platform, q=key) == 1000  # the same 1000

    every = jobs(env, "list", "--search", key, "--all", "--json")
    assert every.returncode == 0, every.stderr
    listed = json_lines(every.stdout)
    assert len({j["id"] for j in listed}) == 1000
    assert {j["idempotency_key"] for j in listed} == {f"{key}:{n}" for n in range(1, 1001)}

    wait_until(
        lambda: api_total(platform, q=key, state="succeeded") == 1000,
        timeout=180,
        interval=1,
        message="the 1000 jobs to succeed",
    )
    page = jobs(env, "list", "--search", key, "--type", "test.flaky", "--state", "succeeded",
                "--limit", "7", "--order", "oldest")  # fmt: skip
    assert page.returncode == 0, page.stderr
    header, *rows = page.stdout.splitlines()
    assert header.split()[:4] == ["ID", "TYPE", "STATE", "TRIES"] and len(rows) == 7
    assert rows[0].split()[1:4] == ["test.flaky", "succeeded", "2/4"]  # line 1 failed once
    assert "7 jobs shown of 1000; next page: --cursor" in page.stderr
    cursor = page.stderr.split("--cursor ")[1].split()[0]
    following = jobs(env, "list", "--search", key, "--limit", "7", "--order", "oldest",
                     "--cursor", cursor, "--json")  # fmt: skip
    assert [j["idempotency_key"] for j in json_lines(following.stdout)] == [
        f"{key}:{n}" for n in range(8, 15)
    ]
    none = jobs(env, "list", "--search", key, "--state", "dead", "--json")
    assert none.returncode == 0 and none.stdout == ""


def test_watch_a_job_to_the_end_show_it_retry_and_cancel(env):
    flaky = jobs(env, "submit", "test.flaky", "--data", "fail_times:=1", "--json")
    assert flaky.returncode == 0, flaky.stderr
    job_id = json.loads(flaky.stdout)["id"]
    watched = jobs(env, "watch", job_id, "--interval", "0.1")
    assert watched.returncode == 0, watched.stderr
    last = watched.stdout.splitlines()[-1]
    assert job_id in last and "succeeded" in last and "attempt 2 of 4" in last

    dead = json.loads(jobs(env, "submit", "test.permanent", "--json").stdout)["id"]
    watched = jobs(env, "watch", dead, "--interval", "0.1", "--json")
    assert watched.returncode == 1  # the job did not succeed
    assert json_lines(watched.stdout)[-1]["state"] == "dead"
    shown = jobs(env, "show", dead)
    assert shown.returncode == 0
    assert "\nattempt 1  " in shown.stdout and "PermanentError: this input" in shown.stdout
    assert "Traceback (most recent call last)" in shown.stdout
    retried = jobs(env, "retry", dead)
    assert retried.returncode == 0 and f"{dead} (test.permanent): queued" in retried.stdout

    later = json.loads(jobs(env, "submit", "test.noop", "--delay", "3600", "--json").stdout)
    assert later["state"] == "scheduled"
    cancelled = jobs(env, "cancel", later["id"], "--json")
    assert json.loads(cancelled.stdout)["state"] == "cancelled"
    again = jobs(env, "cancel", later["id"])
    assert again.returncode == 1 and "409 conflict" in again.stderr


def test_a_refused_submission_prints_the_field_error_and_exits_non_zero(platform, env, tmp_path):
    refused = jobs(env, "submit", "test.flaky", "--data", "fail_times=twice")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "refused (422 validation_failed)" in refused.stderr
    assert "  fail_times: must be of integer type" in refused.stderr

    key = "cli-bad-" + uuid.uuid4().hex[:8]
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"fail_times": 0}\n\n{"fail_times": 0}\n{"fail_times": -1}\n')
    batch = jobs(env, "submit", "test.flaky", "--file", str(path), "--idempotency-key", key)
    assert batch.returncode == 1
    assert "  line 4: fail_times: min value is 0" in batch.stderr
    assert "nothing of lines 1-4 was stored" in batch.stderr
    assert api_total(platform, q=key) == 0

    path.write_text('{"fail_times": 0}\nnot json\n')
    broken = jobs(env, "submit", "test.flaky", "--file", str(path))
    assert broken.returncode == 2 and "line 2 is not JSON" in broken.stderr

    nowhere = jobs(env, "list", "--url", f"http://127.0.0.1:{free_port()}")
    assert nowhere.returncode == 3
    assert nowhere.stderr.startswith("jobplatform: cannot reach the platform at http://127.0.0.1")
    assert len(nowhere.stderr.splitlines()) == 1


def err_of(out: Path) -> Path:
    return out.with_suffix(".err")


def start_tail(env: dict[str, str], tmp_path, *args: str):
    """`jobs tail --json ARGS` in the background, once it follows; and its output file."""
    out, err = tmp_path / f"tail-{len(args)}.out", tmp_path / f"tail-{len(args)}.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        tail = subprocess.Popen(
            [sys.executable, "-m", "jobplatform", "jobs", "tail", "--json", "--interval", "0.2"]
            + list(args),
            env=env,
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
            # Ctrl-C as from a terminal: `make test` runs pytest in the background of a
            # script, where SIGINT is ignored and children inherit that (Python then sets no
            # KeyboardInterrupt handler), so give the tail SIGINT's default back
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    wait_until(
        lambda: "following jobs" in err.read_text() or tail.poll() is not None,
        timeout=60,
        message="tail to start",
    )
    assert tail.poll() is None, err.read_text()
    return tail, out


def events(out) -> dict[str, list[tuple[str, str]]]:
    """{job id: [(event, state), ...]} from tail's JSON lines."""
    seen: dict[str, list[tuple[str, str]]] = {}
    for line in json_lines(out.read_text()):
        seen.setdefault(line["job"]["id"], []).append((line["event"], line["job"]["state"]))
    return seen


def test_tail_prints_new_and_finished_jobs_until_interrupted(env, tmp_path):
    tail, out = start_tail(env, tmp_path)
    started, release = tmp_path / "started", tmp_path / "release"
    try:
        held = jobs(env, "submit", "test.hold", "--data", f"started={started}",
                    f"release={release}", "--json")  # fmt: skip
        held_id = json.loads(held.stdout)["id"]
        wait_until(lambda: held_id in events(out), timeout=60, message="the held job in the tail")
        assert events(out)[held_id] in ([("new", "queued")], [("new", "running")])
        dead_id = json.loads(jobs(env, "submit", "test.permanent", "--json").stdout)["id"]
        release.touch()
        seen = wait_until(
            lambda: (
                (found := events(out))
                and all(found.get(i) and found[i][-1][0] == "finished" for i in (held_id, dead_id))
                and found
            ),
            timeout=60,
            message="both jobs finished in the tail",
        )
    finally:
        tail.send_signal(signal.SIGINT)
        wait_until(
            lambda: tail.poll() is not None,
            timeout=60,
            message=f"tail to stop on Ctrl-C (its stderr: {err_of(out).read_text()!r})",
        )
        assert tail.returncode == 130
    assert seen[held_id][-1] == ("finished", "succeeded") and len(seen[held_id]) == 2
    assert seen[dead_id][0][0] == "new" and seen[dead_id][-1] == ("finished", "dead")


def test_tail_count_stops_after_that_many_lines(env, tmp_path):
    tail, out = start_tail(env, tmp_path, "--type", "test.noop", "--count", "2")
    try:
        job_id = json.loads(jobs(env, "submit", "test.noop", "--json").stdout)["id"]
        assert tail.wait(60) == 0
    finally:
        if tail.poll() is None:
            tail.kill()
    assert events(out) == {job_id: [("new", "queued"), ("finished", "succeeded")]} or events(
        out
    ) == {job_id: [("new", "succeeded"), ("finished", "succeeded")]}


def listed_jobs(env: dict[str, str], key: str) -> list[dict]:
    return json_lines(jobs(env, "list", "--search", key, "--all", "--json").stdout)


def test_bulk_retry_retries_the_dead_jobs_of_a_type(env, tmp_path):
    since = datetime.now(UTC).isoformat()
    key = "cli-retry-" + uuid.uuid4().hex[:8]
    path = tmp_path / "jobs.jsonl"
    path.write_text("{}\n" * 3)
    made = jobs(env, "submit", "test.permanent", "--from-file", str(path), "--idempotency-key", key)
    assert made.returncode == 0 and "submitted 3 test.permanent jobs" in made.stdout, made.stderr
    wait_until(
        lambda: [j["state"] for j in listed_jobs(env, key)] == ["dead"] * 3,
        timeout=60,
        interval=0.5,
        message="the 3 jobs to die",
    )

    retried = jobs(
        env, "retry", "--state", "dead", "--type", "test.permanent", "--created-after", since
    )
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout == "retried 3 test.permanent jobs that were dead\n"
    wait_until(
        lambda: (
            [(j["state"], j["attempt_count"]) for j in listed_jobs(env, key)] == [("dead", 2)] * 3
        ),
        timeout=60,
        interval=0.5,
        message="the 3 jobs to run again and die again",
    )
    again = jobs(env, "retry", "--type", "test.permanent", "--created-after", since, "--json")
    assert again.returncode == 0, again.stderr
    assert set(json.loads(again.stdout)["ids"]) == {j["id"] for j in listed_jobs(env, key)}
    both = jobs(env, "retry", listed_jobs(env, key)[0]["id"], "--type", "test.permanent")
    assert both.returncode == 2 and "not both" in both.stderr


def workflows(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return run_cli("workflows", *args, env=env, stdin=stdin)


def test_workflows_submit_show_list_and_cancel(env, tmp_path):
    name = "cli-flow-" + uuid.uuid4().hex[:8]
    steps = [
        {"key": "first", "name": "test.step", "data": {"tag": "a"}},
        {"key": "second", "name": "test.step", "data": {"tag": "b"}, "after": ["first"]},
    ]
    path = tmp_path / "flow.json"
    path.write_text(json.dumps({"name": name, "jobs": steps}))
    submitted = workflows(env, "submit", str(path), "--json")
    assert submitted.returncode == 0, submitted.stderr
    flow = json.loads(submitted.stdout)
    assert flow["state"] == "running" and flow["edges"] == [["first", "second"]]
    wait_until(
        lambda: (
            json.loads(workflows(env, "show", flow["id"], "--json").stdout)["state"] == "succeeded"
        ),
        timeout=60,
        interval=0.5,
        message="the workflow to succeed",
    )
    shown = workflows(env, "show", flow["id"])
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"{flow['id']}  {name}  succeeded"
    [first] = [line for line in lines if line.startswith("first ")]
    [second] = [line for line in lines if line.startswith("second ")]
    assert first.split()[1:6] == ["test.step", "succeeded", "1", flow["steps"][0]["job_id"], "-"]
    assert second.split()[1:6] == [
        "test.step",
        "succeeded",
        "1",
        flow["steps"][1]["job_id"],
        "first",
    ]
    listed = workflows(env, "list", "--name", name, "--json")
    assert [w["id"] for w in json_lines(listed.stdout)] == [flow["id"]]
    table = workflows(env, "list", "--name", name, "--state", "succeeded").stdout.splitlines()
    assert table[0].startswith("ID") and table[1].startswith(f"{flow['id']}  succeeded")

    hold = {"started": str(tmp_path / "started"), "release": str(tmp_path / "never")}
    held = {"name": name, "jobs": [{"key": "hold", "name": "test.hold", "data": hold}]}
    running = json.loads(workflows(env, "submit", "-", "--json", stdin=json.dumps(held)).stdout)
    cancelled = workflows(env, "cancel", running["id"])
    assert cancelled.returncode == 0 and f"{running['id']}  {name}  " in cancelled.stdout


def test_a_refused_workflow_names_each_step_and_exits_non_zero(env):
    bad = {
        "name": "cli-bad-flow",
        "jobs": [
            {"key": "a", "name": "test.step", "data": {"tag": "a"}},
            {"key": "b", "name": "test.step", "data": {"fail_times": -1}, "after": ["nope"]},
        ],
    }
    refused = workflows(env, "submit", "-", stdin=json.dumps(bad))
    assert refused.returncode == 1 and refused.stdout == ""
    assert "refused (422 validation_failed)" in refused.stderr
    assert "  step b: fail_times: min value is 0" in refused.stderr
    assert "  step b: after: " in refused.stderr
    broken = workflows(env, "submit", "-", stdin="[1]")
    assert broken.returncode == 2 and "must be a JSON object" in broken.stderr
    missing = workflows(env, "show", "0" * 24)
    assert missing.returncode == 1 and "404" in missing.stderr


def naming(script: str, *words: str) -> list[str]:
    """The script's lines that name every one of `words`."""
    return [line for line in script.splitlines() if set(words) <= set(re.findall(r"[\w-]+", line))]


def test_completion_scripts_name_the_commands(tmp_path):
    bash = run_cli("completion", "bash")
    assert bash.returncode == 0, bash.stderr
    script = tmp_path / "jobplatform.bash"
    script.write_text(bash.stdout)
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert naming(bash.stdout, "submit", "list", "show", "retry", "cancel", "watch", "tail")
    assert naming(bash.stdout, "jobs", "workflows", "completion", "login")
    assert "--from-file" in bash.stdout and "--batch-size" in bash.stdout
    zsh = run_cli("completion", "zsh")
    assert zsh.returncode == 0 and zsh.stdout.startswith("#compdef jobplatform")
    assert "retry" in zsh.stdout and "workflows" in zsh.stdout
    wrong = run_cli("completion", "fish")
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr
