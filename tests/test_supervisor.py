"""`jobplatform run` keeps its children running: a real `run` subprocess (its own FerretDB,
SMTP sink, web process and worker, the SQLite queue file) whose worker and FerretDB are
killed with SIGKILL while jobs flow. They come back, and every job submitted succeeds; a job
runs twice only where its history records why (the kill caught it running)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from jobplatform_client import Client, Job
from redis import Redis

from jobplatform.devservices import free_port
from tests.conftest import ADMIN_PASSWORD, JWT_SECRET
from tests.helpers import ROOT, assert_runs_explained, wait_until

JOBS_PER_ROUND = 40


def children(pid: int) -> dict[int, str]:
    """The live child processes of `pid`: {pid: command line}."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = command
    return found


def child_pid(run: subprocess.Popen, marker: str) -> int | None:
    return next((p for p, c in children(run.pid).items() if marker in c), None)


@pytest.fixture
def platform_run(tmp_path, private_redis):
    port = free_port()
    executions = f"{private_redis()}#run-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "TEST_"))}
    for name in ("MONGO_URI", "REDIS_URI"):
        env.pop(name, None)  # `run` starts FerretDB and queues on the SQLite file
    env.update(
        APP_ENV="test",
        PORT=str(port),
        DATA_DIR=str(tmp_path / "var"),
        JWT_SECRET=JWT_SECRET,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        PLUGINS_FILE=str(ROOT / "plugins.toml"),
        EXTRA_PLUGINS="tests.plugins.testjobs",
        TESTJOBS_EXECUTIONS=executions,
        LEASE_SECONDS="3",
        RECONCILE_SECONDS="1",
        REQUEUE_AFTER_SECONDS="3",
        LOGIN_RATE_LIMIT_IP="0",
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "run.log"
    with open(log, "ab") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "jobplatform", "run"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: run.poll() is not None or _ready(url),
            timeout=120,
            message="`jobplatform run` to be ready",
        )
        assert run.poll() is None, log.read_text()
        yield run, url, executions, log
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGTERM)
            try:
                run.wait(60)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _kill(run: subprocess.Popen, marker: str) -> int:
    pid = wait_until(lambda: child_pid(run, marker), timeout=30, message=f"{marker} to run")
    os.kill(pid, signal.SIGKILL)
    return pid


def _restarted(run: subprocess.Popen, marker: str, old_pid: int) -> int:
    return wait_until(
        lambda: (pid := child_pid(run, marker)) not in (None, old_pid) and pid,
        timeout=60,
        message=f"{marker} to be started again",
    )


def test_run_restarts_a_killed_worker_and_ferretdb_and_no_job_is_lost(platform_run):
    run, url, executions, log = platform_run
    ids: list[str] = []
    with Client(url, username="admin", password=ADMIN_PASSWORD, retries=10) as api:

        def submit_round() -> None:
            ids.extend(api.submit("test.noop", {}).id for _ in range(JOBS_PER_ROUND))

        submit_round()
        old_worker = _kill(run, "jobplatform worker")
        submit_round()  # queued while no worker runs
        new_worker = _restarted(run, "jobplatform worker", old_worker)

        old_ferret = _kill(run, "ferretdb")
        new_ferret = _restarted(run, "ferretdb", old_ferret)
        submit_round()  # the client retries the 503s of the moments FerretDB was down

        assert run.poll() is None, log.read_text()
        assert new_worker in children(run.pid) and new_ferret in children(run.pid)

        def jobs() -> dict[str, Job]:
            return {job_id: api.get(job_id) for job_id in ids}

        final = wait_until(
            lambda: (
                (found := jobs()) and {j.state for j in found.values()} == {"succeeded"} and found
            ),
            timeout=120,
            interval=0.5,
            message="every job to succeed",
        )
    assert len(ids) == len(set(ids)) == 3 * JOBS_PER_ROUND
    uri, key = executions.rsplit("#", 1)
    runs = {k.decode(): int(v) for k, v in Redis.from_url(uri).hgetall(key).items()}
    attempts = {i: [(a.outcome, a.requeued) for a in j.attempts] for i, j in final.items()}
    assert_runs_explained(runs, attempts, crashed=True)
    text = log.read_text()
    assert "worker process exited with code -9; restarting it in" in text
    assert "FerretDB exited with code -9; restarting it in" in text
    assert "worker process restarted" in text and "FerretDB restarted" in text
