"""Workflows on the real engine: chains run in order, a fan-in step starts once after all
its parents with their results, a dead step cancels exactly its descendants and its retry
completes the workflow, concurrent parents on two workers release a fan-in once, and the
reconciler releases what a killed worker left blocked. Real Redis, FerretDB and worker
subprocesses; orders and counts come from the attempts MongoDB recorded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from redis import Redis

from jobplatform.jobs.models import Job, utcnow
from jobplatform.jobs.workflow_models import Workflow
from jobplatform.jobs.workflows import (
    cancel_workflow,
    find_workflow,
    submit_workflow,
    workflow_view,
)
from tests.engine_harness import private_engine, reload, wait_final
from tests.helpers import wait_until


@pytest.fixture(scope="module")
def executions(redis_uri) -> Iterator[tuple[str, Redis, str]]:
    """Where the workers count processor runs: a hash of its own on the session's Redis."""
    key = f"executions:{uuid.uuid4().hex[:8]}"
    counter = Redis.from_url(redis_uri)
    yield f"{redis_uri}#{key}", counter, key
    counter.delete(key)


@pytest.fixture(scope="module")
def engine(private_redis, mongo_server, mongo_uri, tmp_path_factory, executions):
    with private_engine(
        "workflows",
        tmp_path_factory.mktemp("workflows"),
        private_redis(),
        mongo_server,
        mongo_uri,
        TESTJOBS_EXECUTIONS=executions[0],
    ) as engine:
        yield engine


@pytest.fixture
def workers(engine):
    def start(n: int = 1, threads: int = 4, **env: str) -> None:
        for _ in range(n):
            engine.worker("--queues", "tests", "--concurrency", str(threads), **env)

    yield start
    engine.stop_workers()


def runs(executions, job_id) -> int:
    _, counter, key = executions
    return int(counter.hget(key, str(job_id)) or 0)


def step(key: str, *after: str, **data) -> dict:
    return {"key": key, "name": "test.step", "data": {"tag": key, **data}, "after": list(after)}


def steps_of(workflow) -> dict[str, Job]:
    jobs = {job.id: job for job in Job.objects(id__in=workflow.job_ids())}
    return {s.key: jobs[s.job_id] for s in workflow.steps}


def wait_workflow(workflow_id, state: str, timeout: float = 60) -> Workflow:
    return wait_until(
        lambda: (w := Workflow.objects(id=workflow_id).first()) and w.state == state and w,
        timeout=timeout,
        message=f"workflow {workflow_id} to be {state}",
    )


def test_a_chain_runs_in_order(engine, workers):
    workers()
    workflow = submit_workflow(
        engine.jobs, "chain", [step("a"), step("b", "a"), step("c", "b")], created_by="tests"
    )

    wait_workflow(workflow.id, "succeeded")

    jobs = steps_of(workflow)
    for parent, child in (("a", "b"), ("b", "c")):
        assert jobs[child].attempts[0].started_at >= jobs[parent].attempts[-1].finished_at
    assert jobs["b"].result["parents"] == {"a": {"tag": "a", "parents": {}}}
    assert jobs["c"].result["parents"]["b"]["tag"] == "b"
    assert jobs["a"].result["parents"] == {}
    assert all(len(job.attempts) == 1 for job in jobs.values())


def test_fan_in_starts_once_after_all_parents_with_their_results(engine, workers, executions):
    workers()
    parents = [step(f"p{n}", "root") for n in range(20)]
    workflow = submit_workflow(
        engine.jobs, "fan", [step("root"), *parents, step("join", *[p["key"] for p in parents])]
    )

    wait_workflow(workflow.id, "succeeded")

    jobs = steps_of(workflow)
    join = jobs["join"]
    assert runs(executions, join.id) == 1 and len(join.attempts) == 1
    last_parent = max(jobs[p["key"]].attempts[-1].finished_at for p in parents)
    assert join.attempts[0].started_at >= last_parent
    assert join.result["parents"] == {
        p["key"]: {"tag": p["key"], "parents": {"root": {"tag": "root", "parents": {}}}}
        for p in parents
    }


def test_a_dead_step_cancels_its_descendants_and_its_retry_completes_the_workflow(engine, workers):
    workers()
    # a -> bad -> (c -> d); a -> side: `bad` dies on its only attempt, `side` runs on
    graph = [
        step("a"),
        {**step("bad", "a", fail_times=1), "max_attempts": 1},
        step("c", "bad"),
        step("d", "c"),
        step("side", "a"),
    ]
    workflow = submit_workflow(engine.jobs, "dead middle", graph)

    wait_workflow(workflow.id, "failed")

    jobs = steps_of(workflow)
    assert {k: j.state for k, j in jobs.items()} == {
        "a": "succeeded",
        "bad": "dead",
        "c": "cancelled",
        "d": "cancelled",
        "side": "succeeded",
    }
    for key in ("c", "d"):
        assert "'bad'" in jobs[key].error and not jobs[key].attempts

    engine.jobs.retry(str(jobs["bad"].id))

    wait_workflow(workflow.id, "succeeded")
    jobs = steps_of(workflow)
    assert all(job.state == "succeeded" for job in jobs.values())
    assert [a.outcome for a in jobs["bad"].attempts] == ["failed", "succeeded"]
    assert jobs["c"].result["parents"]["bad"]["tag"] == "bad"
    assert len(jobs["d"].attempts) == 1


def test_concurrent_parents_on_two_workers_release_each_fan_in_once(engine, workers, executions):
    # The reconciler's repair of stale counters waits 10 minutes here, so only the
    # parents' own counting can release the fan-ins and end the workflows.
    workers(2, threads=8, REQUEUE_AFTER_SECONDS="600")
    fan_ins = []
    for n in range(4):
        parents = [step(f"p{i}") for i in range(50)]
        graph = [*parents, step("join", *[p["key"] for p in parents])]
        fan_ins.append(submit_workflow(engine.jobs, f"race {n}", graph))

    for workflow in fan_ins:
        wait_workflow(workflow.id, "succeeded", timeout=120)

    for workflow in fan_ins:
        jobs = steps_of(workflow)
        join = jobs["join"]
        assert runs(executions, join.id) == 1, workflow.name
        assert len(join.attempts) == 1 and len(join.result["parents"]) == 50
    workers_seen = {a.worker for w in fan_ins for j in steps_of(w).values() for a in j.attempts}
    assert len(workers_seen) == 2  # both workers finished parents


def test_the_reconciler_releases_what_a_killed_worker_left_blocked(engine, workers):
    # No worker runs yet: `a` is then written as succeeded exactly as a worker's outcome
    # write leaves it, which is what a worker SIGKILLed right after that write (before it
    # released `b`) leaves in MongoDB.
    workflow = submit_workflow(engine.jobs, "crash", [step("a"), step("b", "a"), step("c", "b")])
    a = steps_of(workflow)["a"]
    now = utcnow()
    Job._get_collection().update_one(
        {"_id": a.id, "state": "queued"},
        {
            "$set": {
                "state": "succeeded",
                "attempt_count": 1,
                "result": {"tag": "a", "parents": {}},
                "started_at": now,
                "finished_at": now,
                "worker_id": "killed:1",
            },
            "$push": {"attempts": {"number": 1, "worker": "killed:1", "outcome": "succeeded"}},
        },
    )
    assert reload(a.id).state == "succeeded" and steps_of(workflow)["b"].state == "blocked"

    workers()  # its reconciler finds `b` blocked although `a` succeeded

    done = wait_workflow(workflow.id, "succeeded")
    jobs = steps_of(done)
    assert jobs["b"].result["parents"] == {"a": {"tag": "a", "parents": {}}}
    assert len(jobs["b"].attempts) == 1 and len(jobs["c"].attempts) == 1


def test_cancelling_a_workflow_cancels_every_step_not_finished(engine, tmp_path, workers):
    workers()
    release = tmp_path / "release"
    hold = {
        "key": "hold",
        "name": "test.hold",
        "data": {"started": str(tmp_path / "started"), "release": str(release)},
    }
    workflow = submit_workflow(engine.jobs, "cancel", [step("a"), hold, step("b", "hold")])
    wait_until(lambda: (tmp_path / "started").exists(), message="the hold step to start")
    wait_until(lambda: steps_of(workflow)["a"].state == "succeeded", message="a to succeed")

    cancel_workflow(engine.jobs, str(workflow.id))

    jobs = wait_final([j.id for j in steps_of(workflow).values()])
    states = {s.key: jobs[str(s.job_id)].state for s in workflow.steps}
    assert states == {"a": "succeeded", "hold": "cancelled", "b": "cancelled"}
    view = workflow_view(find_workflow(str(workflow.id)))
    assert view["state"] == "cancelled"
    assert [s["state"] for s in view["steps"]] == ["succeeded", "cancelled", "cancelled"]
