"""The client package (clients/python, `jobplatform_client`) against a live platform: real
web and worker processes (tests/live_platform.py). Every scenario runs with the sync
`Client` and with the `AsyncClient`; and `pip install clients/python` into a fresh virtual
environment brings neither the platform's server parts nor its database libraries."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from jobplatform_client import (
    ApiError,
    AsyncClient,
    Attempt,
    Client,
    Job,
    NewJob,
    NewStep,
    RetriedJobs,
    Schedule,
    Stats,
    Tokens,
    Workflow,
)
from jobplatform_client.protocol import retry_after_seconds

from jobplatform.devservices import free_port
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import ROOT
from tests.live_platform import LivePlatform, live_platform

SERVER_PARTS = {"nicegui", "mongoengine", "huey", "pymongo", "fastapi", "jobplatform"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory, platform_env, mongo_server):
    with live_platform(tmp_path_factory.mktemp("client-package"), platform_env, mongo_server) as p:
        yield p


@pytest.fixture(scope="module")
def operator_token(platform: LivePlatform) -> str:
    return platform.api_token("operator")


class Either:
    """The sync or the async client behind one awaitable face: `await api.submit(...)`
    calls the sync client in a thread, or awaits the async one."""

    def __init__(self, client: Client | AsyncClient):
        self.client = client

    def __getattr__(self, name: str):
        method = getattr(self.client, name)
        if isinstance(self.client, AsyncClient):
            return method
        return lambda *args, **kwargs: asyncio.to_thread(method, *args, **kwargs)

    async def all(self, **filters) -> list[Job]:
        return await self._every("iterate", filters)

    async def all_workflows(self, **filters) -> list[Workflow]:
        return await self._every("iterate_workflows", filters)

    async def _every(self, method: str, filters: dict) -> list:
        found = getattr(self.client, method)(**filters)
        if isinstance(self.client, AsyncClient):
            return [item async for item in found]
        return await asyncio.to_thread(lambda: list(found))


@pytest.fixture(params=["sync", "async"])
async def api(request, platform, operator_token):
    if request.param == "sync":
        with Client(platform.url, token=operator_token) as client:
            yield Either(client)
    else:
        async with AsyncClient(platform.url, token=operator_token) as client:
            yield Either(client)


async def soon(read, done, message: str, timeout: float = 30.0):
    """`eventually` for a probe that must be awaited: `await read()` until `done(it)`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not done(value := await read()):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {message}"
        await asyncio.sleep(0.1)
    return value


def marker() -> str:
    return "pkg-" + uuid.uuid4().hex[:10]


async def test_submit_and_wait_until_succeeded(api):
    job = await api.submit("test.noop", {}, idempotency_key=marker(), priority=5)
    assert isinstance(job, Job) and job.state in ("queued", "running", "succeeded")
    assert job.priority == 5 and job.created_by.startswith("token:operator-")
    done = await api.wait(job.id, timeout=60, poll=0.1)
    assert done.state == "succeeded" and done.finished
    [attempt] = done.attempts
    assert isinstance(attempt, Attempt) and attempt.outcome == "succeeded"
    assert done.result == {"attempt": 1}
    assert done.created_at.tzinfo is not None and done.created_at <= attempt.started_at


async def test_submit_many_then_list_and_iterate_with_filters_and_cursors(api):
    key = marker()
    made = await api.submit_many(
        [NewJob("test.noop", idempotency_key=f"{key}-{i}") for i in range(3)]
        + [{"name": "test.flaky", "data": {"fail_times": 0}, "idempotency_key": f"{key}-f"}]
    )
    assert [j.name for j in made] == ["test.noop"] * 3 + ["test.flaky"]
    page = await api.list(q=key, name="test.noop", limit=2, order="oldest")
    assert [j.id for j in page.jobs] == [j.id for j in made[:2]] and page.next_cursor
    assert page.total == 3 and page.jobs[0].attempts is None  # a list has no attempts
    second = await api.list(
        q=key, name="test.noop", limit=2, order="oldest", cursor=page.next_cursor
    )
    assert [j.id for j in second.jobs] == [made[2].id] and second.next_cursor is None
    every = await api.all(q=key, limit=1, name=["test.noop", "test.flaky"])
    assert {j.id for j in every} == {j.id for j in made}
    for job in made:
        await api.wait(job.id, timeout=60, poll=0.1)
    assert len(await api.all(q=key, state="succeeded", limit=2)) == 4
    assert await api.all(q=key, state=["dead", "cancelled"]) == []


async def test_retry_a_dead_job_then_cancel_and_delete(api):
    dead = await api.wait((await api.submit("test.permanent")).id, timeout=60, poll=0.1)
    assert dead.state == "dead" and "PermanentError" in dead.attempts[-1].traceback
    again = await api.retry(dead.id)
    assert again.state in ("queued", "running", "dead")
    dead_twice = await api.wait(dead.id, timeout=60, poll=0.1)
    assert dead_twice.state == "dead" and len(dead_twice.attempts) == 2

    later = await api.submit("test.noop", delay=3600)
    assert later.state == "scheduled" and later.run_at is not None
    assert (await api.cancel(later.id)).state == "cancelled"
    assert await api.delete(later.id) is None
    with pytest.raises(ApiError) as gone:
        await api.get(later.id)
    assert (gone.value.status, gone.value.code) == (404, "not_found")


async def test_stats(api):
    job = await api.submit("test.noop")
    await api.wait(job.id, timeout=60, poll=0.1)
    # the counters reach MongoDB about a second after the transitions (jobs/stats.py)
    stats = await soon(
        api.stats,
        lambda s: s.by_type.get("test.noop", {}).get("succeeded", 0) >= 1,
        "the succeeded job in the counters",
    )
    assert isinstance(stats, Stats)
    assert stats.by_state["succeeded"] >= 1
    assert len(stats.last_hour.minutes) == 60 and stats.last_hour.totals["succeeded"] >= 1
    assert "tests" in stats.queues and stats.workers


async def test_schedules_create_read_change_fire_and_delete(api):
    name = marker()
    made = await api.create_schedule(name, "test.noop", interval_seconds=3600, enabled=False)
    assert isinstance(made, Schedule) and made.next_run_at is None and not made.enabled
    assert (await api.get_schedule(made.id)).name == name
    assert name in [s.name for s in await api.list_schedules()]
    changed = await api.update_schedule(made.id, interval_seconds=1, enabled=True)
    assert changed.interval_seconds == 1 and changed.next_run_at is not None
    fired = await soon(lambda: api.get_schedule(made.id), lambda s: s.last_job, "a job fired")
    assert (await api.get(fired.last_job.id)).name == "test.noop"
    with pytest.raises(ApiError) as refused:
        await api.update_schedule(made.id, cron="61 * * * *")
    assert "cron" in refused.value.field_errors
    assert await api.delete_schedule(made.id) is None
    with pytest.raises(ApiError) as gone:
        await api.get_schedule(made.id)
    assert gone.value.status == 404


async def test_a_refused_submission_raises_with_its_field_details(api):
    with pytest.raises(ApiError) as one:
        await api.submit("test.flaky", {"fail_times": "twice"})
    assert (one.value.status, one.value.code) == (422, "validation_failed")
    assert list(one.value.field_errors) == ["fail_times"]
    key = marker()
    with pytest.raises(ApiError) as batch:
        await api.submit_many(
            [NewJob("test.flaky", {"fail_times": 0}, idempotency_key=key), NewJob("test.flaky")]
        )
    assert list(batch.value.field_errors) == ["jobs.1.data.fail_times"]
    assert await api.all(q=key) == []  # all or nothing: the good job was not stored either
    with pytest.raises(ApiError) as unknown:
        await api.submit("no.such.type")
    assert unknown.value.status == 404 and "test.noop" in unknown.value.details["known"]


async def test_retry_many_retries_the_dead_jobs_of_a_type(api):
    since, key = datetime.now(UTC), marker()
    made = await api.submit_many(
        [NewJob("test.permanent", idempotency_key=f"{key}-{i}") for i in range(3)]
    )
    for job in made:
        assert (await api.wait(job.id, timeout=60, poll=0.1)).state == "dead"
    retried = await api.retry_many(state="dead", name="test.permanent", created_after=since)
    assert isinstance(retried, RetriedJobs) and retried.retried == len(retried.ids)
    assert set(retried.ids) == {job.id for job in made}
    for job in made:
        again = await api.wait(job.id, timeout=60, poll=0.1)
        assert again.state == "dead" and len(again.attempts) == 2
    with pytest.raises(ApiError) as refused:
        await api.retry_many(state="succeeded")
    assert refused.value.status == 422 and "state" in refused.value.field_errors


async def test_a_two_step_workflow_runs_to_succeeded_then_lists(api):
    name = marker()
    made = await api.submit_workflow(
        name,
        [
            NewStep("first", "test.step", {"tag": "a"}),
            {"key": "second", "name": "test.step", "data": {"tag": "b"}, "after": ["first"]},
        ],
    )
    assert isinstance(made, Workflow) and made.state == "running" and made.step_count == 2
    assert made.edges == [("first", "second")] and made.created_by.startswith("token:")
    assert made.step("second").state == "blocked" and made.step("second").after == ["first"]
    polled = await soon(lambda: api.get_workflow(made.id), lambda w: w.finished, "the end", 60)
    done = await api.wait_workflow(made.id, timeout=60, poll=0.1)
    assert polled.state == done.state == "succeeded" and done.finished_at is not None
    assert [s.key for s in done.steps] == ["first", "second"]
    assert [s.state for s in done.steps] == ["succeeded", "succeeded"]
    second = await api.get(done.step("second").job_id)
    assert second.result == {"tag": "b", "parents": {"first": {"tag": "a", "parents": {}}}}

    page = await api.list_workflows(name=name)
    assert [w.id for w in page.workflows] == [made.id] and page.workflows[0].steps is None
    assert page.next_cursor is None
    assert [w.id for w in await api.all_workflows(name=name, state=["succeeded"], limit=1)] == [
        made.id
    ]
    assert await api.all_workflows(name=name, state="running") == []


async def test_cancel_a_running_workflow(api, tmp_path):
    hold = {"started": str(tmp_path / "started"), "release": str(tmp_path / "never")}
    made = await api.submit_workflow(
        marker(), [NewStep("hold", "test.hold", hold), NewStep("then", "test.noop", after=["hold"])]
    )
    cancelled = await api.cancel_workflow(made.id)
    assert cancelled.id == made.id and cancelled.step("then").state == "cancelled"
    done = await api.wait_workflow(made.id, timeout=60, poll=0.1)
    assert done.state == "cancelled" and {s.state for s in done.steps} == {"cancelled"}


async def test_a_refused_workflow_raises_with_its_field_details_and_stores_nothing(api):
    name = marker()
    with pytest.raises(ApiError) as refused:
        await api.submit_workflow(
            name,
            [
                NewStep("a", "test.step", {"tag": "a"}),
                NewStep("b", "test.step", {"fail_times": "often"}, after=["nope"]),
            ],
        )
    assert (refused.value.status, refused.value.code) == (422, "validation_failed")
    assert {"jobs.1.after", "jobs.1.data.fail_times"} <= set(refused.value.field_errors)
    assert await api.all_workflows(name=name) == []
    with pytest.raises(ApiError) as missing:
        await api.get_workflow("0" * 24)
    assert missing.value.status == 404


def test_a_workflow_submission_is_not_sent_twice_after_a_lost_answer():
    """A 503 may come after the platform stored the workflow: not retried, unlike a job's."""
    from jobplatform_client.protocol import Credentials, RetryPolicy, authorized
    from jobplatform_client.workflow_calls import get_workflow, submit_workflow

    def answers(call) -> int:
        flow = authorized(Credentials(token="t"), RetryPolicy(), call)
        sent, step = 0, next(flow)
        try:
            while True:
                sent += 1
                step = flow.send(httpx.Response(503, json={}))
                while not hasattr(step, "method"):  # a Pause
                    step = next(flow)
        except (StopIteration, ApiError):
            return sent

    assert answers(submit_workflow("w", [NewStep("a", "test.noop")])) == 1
    assert answers(get_workflow("w")) == RetryPolicy().retries + 1


async def test_viewer_tokens_read_and_cannot_submit(platform):
    async with AsyncClient(platform.url, token=platform.api_token("viewer")) as viewer:
        await viewer.list(limit=1)
        with pytest.raises(ApiError) as refused:
            await viewer.submit("test.noop")
    assert refused.value.status == 403
    with pytest.raises(ApiError) as revoked, Client(platform.url, token="jpt_unknown") as nobody:
        nobody.list()
    assert revoked.value.status == 401


class MemoryStore:
    """A token store held in memory; `tokens` is what another process would have saved."""

    def __init__(self, tokens: Tokens | None = None):
        self.tokens, self.saved = tokens, []

    def load(self) -> Tokens | None:
        return self.tokens

    def save(self, tokens: Tokens) -> None:
        self.tokens = tokens
        self.saved.append(tokens)


def test_a_session_logs_in_refreshes_and_takes_tokens_another_process_saved(platform):
    store = MemoryStore()
    with Client(platform.url, username="admin", password=ADMIN_PASSWORD, token_store=store) as c:
        first = c.log_in()
        assert store.saved == [first] and first.role == "admin"
    # an expired access token: the client refreshes the session and saves the new pair
    with Client(
        platform.url, token="not-a-jwt", refresh_token=first.refresh_token, token_store=store
    ) as session:
        assert session.list(limit=1).jobs is not None
    renewed = store.saved[-1]
    assert renewed.refresh_token != first.refresh_token
    # another process refreshed meanwhile (the first refresh token is spent): the client
    # takes the store's pair instead of failing
    with Client(
        platform.url, token="not-a-jwt", refresh_token=first.refresh_token, token_store=store
    ) as stale:
        assert stale.get(stale.submit("test.noop").id).created_by == "admin"
    assert store.saved[-1] == renewed
    with (
        pytest.raises(ApiError) as spent,
        Client(platform.url, token="not-a-jwt", refresh_token=first.refresh_token) as alone,
    ):
        alone.list()
    assert spent.value.status == 401


async def test_async_unreachable_platform_is_retried_then_raised():
    port = free_port()
    async with AsyncClient(f"http://127.0.0.1:{port}", token="x", retries=2, backoff=0.01) as c:
        with pytest.raises(httpx.ConnectError):
            await c.stats()


def test_retry_after_is_read_as_seconds_or_an_http_date():
    now = datetime(2026, 1, 31, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    later = format_datetime(now.replace(second=30), usegmt=True)  # "Sat, 31 Jan 2026 12:00:30 GMT"
    assert retry_after_seconds(later, now=now.timestamp()) == 30.0
    assert retry_after_seconds(format_datetime(now, usegmt=True), now=now.timestamp() + 5) == 0.0
    assert retry_after_seconds("soon") == retry_after_seconds(None) == 0.0


def test_pip_install_in_a_fresh_venv_brings_no_server_parts(tmp_path, platform, operator_token):
    source = tmp_path / "client"
    shutil.copytree(
        ROOT / "clients" / "python",
        source,
        ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"),
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", str(source)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert install.returncode == 0, install.stderr
    listing = subprocess.run(
        [python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    )
    installed = {p["name"].lower() for p in json.loads(listing.stdout)}
    assert {"jobplatform-client", "httpx"} <= installed
    assert not installed & SERVER_PARTS, installed & SERVER_PARTS
    script = (
        "import sys, jobplatform_client as jc\n"
        "with jc.Client(sys.argv[1], token=sys.argv[2]) as jobs:\n"
        "    done = jobs.wait(jobs.submit('test.noop').id, timeout=60, poll=0.1)\n"
        "print(done.state, 'jobplatform' in sys.modules)\n"
    )
    used = subprocess.run(
        [python, "-c", script, platform.url, operator_token],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert used.returncode == 0, used.stderr
    assert used.stdout.split() == ["succeeded", "False"]


def test_jobplatform_client_stays_importable_as_the_package_names():
    import jobplatform_client

    from jobplatform import client
    from jobplatform.client import ApiError as OldApiError
    from jobplatform.client import AsyncClient as OldAsyncClient
    from jobplatform.client import Client as OldClient

    assert (OldClient, OldAsyncClient, OldApiError) == (Client, AsyncClient, ApiError)
    assert sorted(client.__all__) == sorted(jobplatform_client.__all__)
    for name in client.__all__:
        assert getattr(client, name) is getattr(jobplatform_client, name), name
