"""Workflows: submit a set of jobs with `after` edges between them, all or nothing; list,
read and cancel them. The steps' state changes are jobs/workflow_steps.py's.

A submission is checked whole before anything is stored: the graph (workflow_graph.py)
and each step's data and options, as `JobService.submit_many` checks a batch; the 422
names each problem as `jobs.N.field`. Then the workflow and its steps are inserted (one
insert for the steps), the steps without `after` are queued and enqueued like any job,
and the others are `blocked` until released; the workflow's counters
(workflow_counters.py) are set before the steps are stored. If the queue refuses the
roots, everything stored is removed again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from jobplatform.errors import InvalidInput, NotFound
from jobplatform.ids import parse_object_id
from jobplatform.jobs import workflow_counters as counters
from jobplatform.jobs.errors import InvalidJobData, InvalidTransition, QueueUnavailable
from jobplatform.jobs.models import BLOCKED, FINAL, QUEUED, Job, utcnow
from jobplatform.jobs.query import decode_cursor, encode_cursor
from jobplatform.jobs.workflow_graph import graph_problems
from jobplatform.jobs.workflow_models import CANCELLED, RUNNING, Step, Workflow

if TYPE_CHECKING:
    from jobplatform.jobs.service import JobService

MAX_STEPS = 1000
STEP_OPTIONS = ("name", "data", "priority", "max_attempts", "timeout")
STEP_FIELDS = {"attempts": 0, "data": 0, "live_log": 0, "parent_results": 0}


class WorkflowNotFound(NotFound):
    pass


class InvalidWorkflow(InvalidInput):
    pass


def submit_workflow(
    jobs: JobService, name: str, steps: list[dict[str, Any]], *, created_by: str | None = None
) -> Workflow:
    """Validate the whole workflow, store it and its steps, enqueue the roots."""
    if not isinstance(name, str) or not 1 <= len(name) <= 200:
        raise InvalidWorkflow("the workflow needs a name", {"name": ["1 to 200 characters"]})
    if not 1 <= len(steps) <= MAX_STEPS:
        raise InvalidWorkflow(
            f"a workflow has 1 to {MAX_STEPS} steps", {"jobs": [f"1 to {MAX_STEPS} steps"]}
        )
    problems = graph_problems(steps)
    requests = [
        {k: step[k] for k in STEP_OPTIONS if k in step} | {"created_by": created_by}
        for step in steps
    ]
    try:
        documents = jobs.new_documents(requests, problems)
    except InvalidJobData as exc:
        refused = len({key.split(".")[1] for key in exc.details})
        raise InvalidWorkflow(
            f"{refused} of {len(steps)} steps are invalid; nothing was submitted", exc.details
        ) from None
    workflow = _link(name, created_by, steps, documents)
    Workflow._get_collection().insert_one(workflow.to_mongo().to_dict())
    try:
        counters.set_from(workflow.id, documents)
        Job._get_collection().insert_many(documents)
    except Exception:
        _remove(workflow, documents)
        raise
    try:
        jobs._enqueue([doc for doc in documents if doc["state"] == QUEUED])
    except Exception as exc:
        _remove(workflow, documents)
        raise QueueUnavailable(f"the job queue is unavailable ({exc}); nothing was stored") from exc
    jobs.transitions.submitted(documents)
    return workflow


def _link(
    name: str, created_by: str | None, steps: list[dict[str, Any]], documents: list[dict]
) -> Workflow:
    """The workflow document, and its steps' documents made into its steps (in place)."""
    workflow_id, now = ObjectId(), utcnow()
    id_of = {step["key"]: doc["_id"] for step, doc in zip(steps, documents, strict=True)}
    edges = [[parent, step["key"]] for step in steps for parent in step.get("after") or []]
    children: dict[str, list[ObjectId]] = {}
    for parent, child in edges:
        children.setdefault(parent, []).append(id_of[child])
    fan_ins = {id_of[s["key"]] for s in steps if counters.is_fan_in(s.get("after"))}
    for step, doc in zip(steps, documents, strict=True):
        after = [id_of[key] for key in step.get("after") or []]
        doc.update(workflow_id=workflow_id, step_key=step["key"])
        doc.pop("run_at", None)
        if after:
            doc.update(after=after, state=BLOCKED)
        else:
            doc["state"] = QUEUED
        if children.get(step["key"]):
            doc["children"] = children[step["key"]]
            doc["fan_ins"] = [child for child in doc["children"] if child in fan_ins]
    return Workflow(
        id=workflow_id,
        name=name,
        created_by=created_by,
        created_at=now,
        updated_at=now,
        state=RUNNING,
        steps=[
            Step(key=s["key"], job_id=d["_id"], type=d["type"], after=s.get("after") or [])
            for s, d in zip(steps, documents, strict=True)
        ],
    )


def _remove(workflow: Workflow, documents: list[dict]) -> None:
    Job._get_collection().delete_many({"_id": {"$in": [doc["_id"] for doc in documents]}})
    Workflow._get_collection().delete_one({"_id": workflow.id})
    counters.drop(workflow.id)


def find_workflow(workflow_id: str) -> Workflow:
    oid = parse_object_id(workflow_id)
    workflow = Workflow.objects(id=oid).first() if oid else None
    if workflow is None:
        raise WorkflowNotFound(f"no workflow with id '{workflow_id}'")
    return workflow


def workflow_view(workflow: Workflow) -> dict[str, Any]:
    """The workflow with each step's job state and timings, and its edges."""
    jobs = {
        row["_id"]: row
        for row in Job._get_collection().find({"_id": {"$in": workflow.job_ids()}}, STEP_FIELDS)
    }
    steps = []
    for step in workflow.steps:
        job = Job._from_son(jobs[step.job_id]) if step.job_id in jobs else None
        shown = job.describe(with_attempts=False) if job else {}
        steps.append(
            {
                "key": step.key,
                "job_id": str(step.job_id),
                "name": step.type,
                "state": shown.get("state", "removed"),
                "attempt_count": shown.get("attempt_count", 0),
                "error": shown.get("error"),
                "created_at": shown.get("created_at"),
                "started_at": shown.get("started_at"),
                "finished_at": shown.get("finished_at"),
                "after": list(step.after),
            }
        )
    return {**workflow.describe(), "steps": steps, "edges": workflow.edges}


@dataclass
class WorkflowPage:
    workflows: list[Workflow]
    next_cursor: str | None


def find_workflows(
    *,
    states: tuple[str, ...] = (),
    name: str | None = None,
    created_by: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> WorkflowPage:
    """A page of workflows, newest first, after the `cursor` of the page before."""
    query: dict[str, Any] = {}
    if states:
        query["state"] = {"$in": [str(s) for s in states]}
    if name:
        query["name"] = str(name)
    if created_by:
        query["created_by"] = str(created_by)
    if cursor:
        query["_id"] = {"$lt": decode_cursor(cursor)}
    rows = list(Workflow.objects(__raw__=query).order_by("-id").limit(limit + 1))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return WorkflowPage(rows[:limit], next_cursor)


def cancel_workflow(jobs: JobService, workflow_id: str) -> Workflow:
    """Cancel every step that has not ended (a running one is asked to stop)."""
    workflow = find_workflow(workflow_id)
    if workflow.state != RUNNING:
        raise InvalidTransition(f"workflow is already {workflow.state}")
    steps = jobs.transitions.steps
    steps.finish_workflow(workflow.id, workflow.name, CANCELLED)
    open_steps = Job.objects(id__in=workflow.job_ids(), state__nin=FINAL).only(
        "id", "type", "state", "attempt_count", "workflow_id", "step_key", "children"
    )
    steps.cancel_blocked([job.id for job in open_steps if job.state == BLOCKED])
    for job in open_steps:
        if job.state != BLOCKED:
            jobs.transitions.cancel(job)
    return find_workflow(workflow_id)
