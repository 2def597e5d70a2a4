"""What a running workflow still waits for, counted, so that a step's end reads no other
step: one small document a running workflow in `workflow_counters` (`_id` the workflow's
id), written by jobs/workflow_steps.py. Its counters:

- `left`: how many of the workflow's steps have not ended;
- one a fan-in step (a step after two or more steps), named by the step's job id: how
  many of the steps it is after have not succeeded.

A step's end is one `$inc` of that document: `left`, and the counter of each fan-in step
it is a parent of, so a fan-in costs its parents no write of their own; and the takes of
a process's threads go out together (batching.GroupCounter), one `$inc` for all the steps
of a workflow that ended meanwhile.

The document is not the workflow's own because FerretDB rewrites a whole document on
every update: on a workflow of 1,000 steps a counter field costs about 90 ms an update,
on this small document about 1 ms (it grows by one field a fan-in step).

A counter only says when to look. At 0, or when the document is missing, the caller reads
the steps' states, and those decide; so a counter that a crash left too high delays an
end or a release but never causes a wrong one (too low, the read says "not yet"). A
document that has not changed for REQUEUE_AFTER_SECONDS marks its workflow for the
reconciler, which reads the steps again and sets every counter to what it reads
(workflow_steps.StepTransitions.repair_workflow). The document is removed when its
workflow ends, and set again if a retry makes it run again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.collection import Collection

from jobplatform.jobs.batching import GroupCounter
from jobplatform.jobs.models import FINAL, SUCCEEDED, utcnow
from jobplatform.jobs.workflow_models import Workflow

COLLECTION = "workflow_counters"
LEFT = "left"  # the counter of the workflow's steps not ended


def _counters() -> Collection:
    return Workflow._get_collection().database[COLLECTION]


_takes = GroupCounter(_counters, utcnow)


def take(
    workflow_id: ObjectId,
    ended: int,
    fan_ins: Sequence[ObjectId] = (),
) -> tuple[int | None, dict[ObjectId, int | None]]:
    """Count `ended` more steps ended (negative: undone) and one more parent succeeded of
    each of `fan_ins`; what is left of the workflow's counter and of each fan-in's (None
    for each when the workflow has no counters)."""
    left = _takes.take(workflow_id, {LEFT: ended, **{str(f): 1 for f in fan_ins}})
    if left is None:
        return None, dict.fromkeys(fan_ins)
    return left[LEFT], {f: left[str(f)] for f in fan_ins}


def is_fan_in(after: list | None) -> bool:
    """Whether a step after these steps has a counter of its own (two or more parents)."""
    return len(after or []) > 1


def set_from(workflow_id: ObjectId, steps: Iterable[dict[str, Any]]) -> None:
    """Set the workflow's counters from its steps' documents (`_id`, `state`, `after`):
    the steps not ended, and for each fan-in step not succeeded its parents that have not."""
    steps = list(steps)
    succeeded = {step["_id"] for step in steps if step["state"] == SUCCEEDED}
    counts: dict[str, Any] = {LEFT: sum(step["state"] not in FINAL for step in steps)}
    for step in steps:
        if is_fan_in(step.get("after")) and step["state"] != SUCCEEDED:
            counts[str(step["_id"])] = len(set(step["after"]) - succeeded)
    _counters().replace_one({"_id": workflow_id}, {**counts, "updated_at": utcnow()}, upsert=True)


def drop(workflow_id: ObjectId) -> None:
    """Remove the counters of a workflow that has ended."""
    _counters().delete_one({"_id": workflow_id})


def due(stale_before: datetime) -> set[ObjectId]:
    """The workflows with no step left to end, or whose counters have not changed since
    `stale_before`."""
    stale = {"$or": [{LEFT: {"$lte": 0}}, {"updated_at": {"$lt": stale_before}}]}
    return {row["_id"] for row in _counters().find(stale, {"_id": 1})}


def counted() -> set[ObjectId]:
    """The workflows that have counters."""
    return {row["_id"] for row in _counters().find({}, {"_id": 1})}
