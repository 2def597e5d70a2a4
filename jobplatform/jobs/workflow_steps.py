"""The state changes of workflow steps, part of the job state machine (jobs/transitions.py
calls them, and nothing else does). What each step's end costs does not grow with the
workflow: the counters of jobs/workflow_counters.py say when the steps must be read.

- release: blocked to queued, once every step a step is after has succeeded, with those
  steps' results copied into its `parent_results` (the executor reads the job anyway, so
  the results cost no read when it starts, and a retried step keeps the results it ran
  with). A step that is its child's only parent queues it at once with its own result.
  A fan-in step (after two or more) has a counter of the parents that have not
  succeeded; each parent's success takes one off (in the same write as its own end, see
  settle), and the one that takes the last reads the parents and releases it. Every
  release is one guarded update from `blocked` for each set of children with the same
  parents, so a fan-in step whose parents end at once on many workers is released
  exactly once. The update stamps a token, and the children
  that carry it are the ones this call moved: only those are enqueued.
- cascade: a step that ends dead or cancelled cancels its blocked descendants, with a
  reason naming it (`cancelled_by` its job id).
- restore: retrying such a step puts back to blocked the steps it cancelled; other dead
  or cancelled steps of the workflow then cancel theirs again.
- settle: each step's end (and each step a cascade cancels) takes one off the workflow's
  counter of steps not ended; at 0 the steps' states are read and decide the workflow's
  state, in a guarded update out of `running`, so of concurrent last steps exactly one
  records (and announces) its end.
- repair (the reconciler): for each running workflow whose counter stopped moving for
  REQUEUE_AFTER_SECONDS (or has none, or is at 0), reads its steps, releases or cancels
  the blocked steps a killed worker left behind, sets its counters from what it read
  and settles it if every step has ended.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from jobplatform.jobs import workflow_counters as counters
from jobplatform.jobs.events import job_event
from jobplatform.jobs.models import (
    BLOCKED,
    CANCELLED,
    DEAD,
    FINAL,
    QUEUED,
    SUCCEEDED,
    Job,
    utcnow,
)
from jobplatform.jobs.run import RUN_FIELDS
from jobplatform.jobs.workflow_graph import descendants
from jobplatform.jobs.workflow_models import CANCELLED as WORKFLOW_CANCELLED
from jobplatform.jobs.workflow_models import (
    FAILED,
    RUNNING,
    WORKFLOW_FINISHED,
    Workflow,
)
from jobplatform.jobs.workflow_models import SUCCEEDED as WORKFLOW_SUCCEEDED

if TYPE_CHECKING:
    from jobplatform.jobs.stats import StatsRecorder
    from jobplatform.plugins.host import PluginHost

log = logging.getLogger("jobplatform.workflows")
MOVED_FIELDS = {"type": 1, "queue": 1, "priority": 1, "attempt_count": 1}


def _jobs():
    return Job._get_collection()


class StepTransitions:
    def __init__(self, host: PluginHost, stats: StatsRecorder):
        self.host = host
        self.stats = stats

    # -- a step ended ----------------------------------------------------------------------

    def ended(self, job: dict[str, Any], state: str, result: Any = None) -> None:
        """A step reached a final state: release the children it was the last parent of,
        or cancel its descendants; then count it (and them) as ended on its workflow, and
        settle the workflow if that was the last."""
        workflow_id = job["workflow_id"]
        if state == SUCCEEDED:
            workflow_left = self._release_children(job, result)
        else:
            cancelled = self.cascade(workflow_id, job["_id"], job.get("step_key"), state)
            workflow_left, _ = counters.take(workflow_id, 1 + cancelled)
        if _nothing_left(workflow_left):
            self.settle(workflow_id)

    def _release_children(self, job: dict[str, Any], result: Any) -> int | None:
        """Queue the children of a step that succeeded: at once those it is the only parent
        of, with its result; a fan-in step when its counter says this was its last parent
        (read and checked by `release`). Counts the step as ended on its workflow in the
        same write as its fan-ins' counts; returns what is left of the workflow's counter."""
        children = job.get("children") or []
        if "fan_ins" not in job:  # stored before fan-in counters: read every parent
            self.release(children)
            return counters.take(job["workflow_id"], 1)[0]
        fan_ins = job["fan_ins"]
        only_parent = [child for child in children if child not in fan_ins]  # a few each
        if only_parent:
            results = {"parent_results": {job.get("step_key"): result}}
            self._enqueue(self._move(only_parent, BLOCKED, QUEUED, results))
        workflow_left, fan_ins_left = counters.take(job["workflow_id"], 1, fan_ins)
        self.release([f for f, left in fan_ins_left.items() if _nothing_left(left)])
        return workflow_left

    def release(self, child_ids: list[ObjectId]) -> int:
        """Queue the blocked children whose parents have all succeeded, read from their
        parents' documents, with those parents' results; how many."""
        if not child_ids:
            return 0
        children = list(
            _jobs().find({"_id": {"$in": list(child_ids)}, "state": BLOCKED}, {"after": 1})
        )
        parent_ids = {p for child in children for p in child.get("after") or []}
        parents = {
            p["_id"]: p
            for p in _jobs().find(
                {"_id": {"$in": list(parent_ids)}}, {"state": 1, "result": 1, "step_key": 1}
            )
        }
        ready: dict[tuple, list[ObjectId]] = defaultdict(list)
        for child in children:
            after = child.get("after") or []
            if all(parents.get(p, {}).get("state") == SUCCEEDED for p in after):
                ready[tuple(after)].append(child["_id"])
        released = 0
        for after, ids in ready.items():
            results = {parents[p].get("step_key"): parents[p].get("result") for p in after}
            moved = self._move(ids, BLOCKED, QUEUED, {"parent_results": results})
            self._enqueue(moved)
            released += len(moved)
        return released

    def cascade(self, workflow_id: ObjectId, step_id: ObjectId, key: str, state: str) -> int:
        """Cancel the blocked descendants of a step that ended `state`; how many."""
        workflow = _workflow(workflow_id)
        if workflow is None:
            return 0
        below = descendants(workflow.edges, key)
        ids = [s.job_id for s in workflow.steps if s.key in below]
        now = utcnow()
        reason = f"step '{key}' (job {step_id}) is {state}; this step is after it"
        moved = self._move(
            ids,
            BLOCKED,
            CANCELLED,
            {"error": reason, "cancelled_by": step_id, "finished_at": now},
        )
        return len(moved)

    def cancel_blocked(self, ids: list[ObjectId]) -> int:
        """Cancel blocked steps of a workflow being cancelled; how many."""
        reason = "the workflow was cancelled"
        return len(self._move(ids, BLOCKED, CANCELLED, {"error": reason, "finished_at": utcnow()}))

    def retried(self, job: Job) -> None:
        """A dead or cancelled step was queued again: the steps it cancelled wait for it
        again, and the workflow runs again."""
        workflow = _workflow(job.workflow_id)
        if workflow is None:
            return
        below = descendants(workflow.edges, job.step_key)
        ids = [s.job_id for s in workflow.steps if s.key in below]
        restored = self._move(
            ids,
            CANCELLED,
            BLOCKED,
            unset={"error": 1, "cancelled_by": 1, "finished_at": 1},
            guard={"cancelled_by": job.id},
        )
        ended = _jobs().find(
            {"_id": {"$in": workflow.job_ids()}, "state": {"$in": [DEAD, CANCELLED]}},
            {"step_key": 1, "state": 1, "cancelled_by": 1},
        )
        cancelled_again = sum(
            self.cascade(workflow.id, step["_id"], step.get("step_key"), step["state"])
            for step in ended
            if step["_id"] != job.id and not step.get("cancelled_by")
        )
        revived = Workflow._get_collection().update_one(
            {"_id": workflow.id, "state": {"$ne": RUNNING}},
            {"$set": {"state": RUNNING, "updated_at": utcnow()}, "$unset": {"finished_at": 1}},
        )
        if revived.modified_count:  # its counters were removed when it ended
            self.recount(workflow.id, workflow.job_ids())
        else:
            counters.take(workflow.id, cancelled_again - 1 - len(restored))

    def retry_problem(self, job: Job) -> str | None:
        """Why a step cannot be retried now (a step it is after has not succeeded)."""
        if not job.after:
            return None
        waiting_for = [
            p.get("step_key")
            for p in _jobs().find(
                {"_id": {"$in": list(job.after)}, "state": {"$ne": SUCCEEDED}}, {"step_key": 1}
            )
        ]
        if not waiting_for:
            return None
        return (
            f"step '{job.step_key}' is after {', '.join(map(repr, waiting_for))}, which "
            "has not succeeded; retry that step instead and this one follows"
        )

    # -- the workflow ----------------------------------------------------------------------

    def settle(self, workflow_id: ObjectId) -> str | None:
        """Record the workflow's end if every step has ended, read from the steps; its
        new state, or None."""
        workflow = Workflow._get_collection().find_one(
            {"_id": workflow_id, "state": RUNNING}, {"steps.job_id": 1, "name": 1}
        )
        if workflow is None:
            return None
        ids = [s["job_id"] for s in workflow.get("steps", [])]
        states = {s["state"] for s in _jobs().find({"_id": {"$in": ids}}, {"state": 1})}
        if not states.issubset(FINAL):
            return None
        if DEAD in states:
            state = FAILED
        elif CANCELLED in states:
            state = WORKFLOW_CANCELLED
        else:
            state = WORKFLOW_SUCCEEDED
        return state if self.finish_workflow(workflow_id, workflow.get("name"), state) else None

    def finish_workflow(self, workflow_id: ObjectId, name: str | None, state: str) -> bool:
        """Move a running workflow to `state` and announce it; False if it was not running."""
        now = utcnow()
        done = Workflow._get_collection().update_one(
            {"_id": workflow_id, "state": RUNNING},
            {"$set": {"state": state, "finished_at": now, "updated_at": now}},
        )
        if not done.modified_count:
            return False
        counters.drop(workflow_id)
        # shaped as a job event (the observers read job_id, job_type and attempt), with
        # the workflow's id as job_id
        self.host.emit(
            job_event(
                WORKFLOW_FINISHED,
                workflow_id,
                "workflow",
                0,
                workflow_id=str(workflow_id),
                workflow_name=name,
                state=state,
            )
        )
        return True

    # -- counting and repair -----------------------------------------------------------------

    def recount(self, workflow_id: ObjectId, job_ids: list) -> dict[ObjectId, dict[str, Any]]:
        """Set the workflow's counters from its steps' states (jobs/workflow_counters.py);
        the steps as read, by job id."""
        steps = {
            doc["_id"]: doc
            for doc in _jobs().find(
                {"_id": {"$in": job_ids}},
                {"state": 1, "after": 1, "step_key": 1, "workflow_id": 1, "cancelled_by": 1},
            )
        }
        counters.set_from(workflow_id, steps.values())
        return steps

    def repair(self, stale_before: datetime, *, find_uncounted: bool = False) -> int:
        """Repair the running workflows whose counters stopped moving before `stale_before`
        or say nothing is left (and, with `find_uncounted`, those without a counter: stored
        before counters, or lost); how many steps it moved."""
        due = counters.due(stale_before)
        if find_uncounted:
            running = {w["_id"] for w in Workflow._get_collection().find({"state": RUNNING}, {})}
            due |= running - counters.counted()
        return sum(self.repair_workflow(workflow_id) for workflow_id in due)

    def repair_workflow(self, workflow_id: ObjectId) -> int:
        """Release or cancel the blocked steps whose parents have all ended (their release
        or cancel was lost with a worker), set the workflow's counters from what is stored,
        and settle it if every step has ended; how many steps it moved."""
        workflow = Workflow._get_collection().find_one(
            {"_id": workflow_id, "state": RUNNING}, {"steps.job_id": 1}
        )
        if workflow is None:
            counters.drop(workflow_id)  # left by an end that did not get to remove them
            return 0
        job_ids = [s["job_id"] for s in workflow.get("steps", [])]
        steps = self.recount(workflow_id, job_ids)
        blocked = [doc for doc in steps.values() if doc["state"] == BLOCKED]
        parents = {p for doc in blocked for p in doc.get("after") or []}
        moved = self.release(
            [
                doc["_id"]
                for doc in blocked
                if all(steps.get(p, {}).get("state") == SUCCEEDED for p in doc.get("after") or [])
            ]
        )
        for parent_id in parents:
            parent = steps.get(parent_id, {})
            if parent.get("state") in (DEAD, CANCELLED):
                moved += self.cascade(
                    workflow_id, parent_id, parent.get("step_key"), parent["state"]
                )
        if moved:
            self.recount(workflow_id, job_ids)
        self.settle(workflow_id)
        return moved

    # -- writes ----------------------------------------------------------------------------

    def _move(
        self,
        ids: list[ObjectId],
        before: str,
        after: str,
        fields: dict[str, Any] | None = None,
        *,
        unset: dict[str, Any] | None = None,
        guard: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Move the jobs among `ids` that are in state `before` to `after`, in one guarded
        update; the jobs this call moved (those carrying its token), counted and announced."""
        if not ids:
            return []
        token = ObjectId()
        change: dict[str, Any] = {
            "$set": {"state": after, "updated_at": utcnow(), "moved_by": token, **(fields or {})}
        }
        if unset:
            change["$unset"] = unset
        _jobs().update_many({"_id": {"$in": list(ids)}, "state": before, **(guard or {})}, change)
        # steps queued are read whole (but their history), for their messages to carry them
        fields = RUN_FIELDS if after == QUEUED else MOVED_FIELDS
        moved = list(_jobs().find({"_id": {"$in": list(ids)}, "moved_by": token}, fields))
        kind = {QUEUED: "queued", CANCELLED: "cancelled"}.get(after)
        for job in moved:
            self.stats.moved(job["type"], before, after)
            if kind:
                self.host.emit(
                    job_event(kind, job["_id"], job["type"], job.get("attempt_count", 0))
                )
        return moved

    def _enqueue(self, jobs: list[dict[str, Any]]) -> None:
        """Send released steps (as `_move` read them) to their queues, each message
        carrying its step (jobs/queue.py); one cancelled since its move is not sent. A step
        the queue refused is queued in MongoDB with no message, and the reconciler sends it."""
        queue = getattr(self.host.jobs, "queue", None)
        queued = [job for job in jobs if job.get("state") == QUEUED]
        if queue is None or not queued:
            return
        try:
            queue.enqueue_many(queued)
        except Exception as exc:  # noqa: BLE001 - the reconciler re-enqueues them
            log.warning("released steps not enqueued (%s); the reconciler will", exc)


def _nothing_left(left: int | None) -> bool:
    """Whether a counter says it is time to read the steps (at 0, or there is none)."""
    return left is None or left <= 0


def _workflow(workflow_id: ObjectId) -> Workflow | None:
    return Workflow.objects(id=workflow_id).only("id", "steps").first()
