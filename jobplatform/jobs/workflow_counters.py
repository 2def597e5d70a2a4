"""What a running workflow still waits for, counted, so that a step's end reads no other
step: one small document a counter in `workflow_counters`, written by
jobs/workflow_steps.py.

- A workflow's counter (`_id` the workflow's id): how many of its steps have not ended.
- A fan-in step's counter (`_id` the step's job id; a step after two or more steps): how
  many of the steps it is after have not succeeded.

Each is a document of its own, not a field of the workflow or of the step, because
FerretDB rewrites a whole document on every update: on a workflow of 1,000 steps a
counter field costs about 90 ms an update, on its own document about 1 ms.

A counter only says when to look. At 0, or when it is missing, the caller reads the
steps' states, and those decide; so a counter that a crash left too high delays an end
or a release but never causes a wrong one (too low, the read says "not yet"). A counter
that has not moved for REQUEUE_AFTER_SECONDS marks its workflow for the reconciler,
which reads the steps again and sets every counter of that workflow to what it reads
(workflow_steps.StepTransitions.repair_workflow). A workflow's counters are removed when
it ends, and set again if a retry makes it run again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.collection import Collection

from jobplatform.jobs.batching import MAX_BATCH, GroupCounter
from jobplatform.jobs.models import utcnow
from jobplatform.jobs.workflow_models import Workflow

COLLECTION = "workflow_counters"


def _counters() -> Collection:
    return Workflow._get_collection().database[COLLECTION]


_takes = GroupCounter(_counters, utcnow)


def take(counter_id: ObjectId, n: int = 1) -> int | None:
    """Count `n` more done (negative: undone); what is left, or None without a counter."""
    return _takes.take((counter_id, n))[0]


def take_each(counter_ids: list[ObjectId]) -> list[int | None]:
    """Count one more done on each counter, all at once; what is left of each.

    The takes of this process's threads go out together (batching.GroupCounter): on a
    fan-in, one `$inc` of the counter for all the parents that ended meanwhile."""
    return _takes.take(*((counter_id, 1) for counter_id in counter_ids))


def set_all(workflow_id: ObjectId, counts: dict[ObjectId, int]) -> None:
    """Set the workflow's counters (its own and its fan-in steps') to `counts`."""
    now = utcnow()
    ops = [
        UpdateOne(
            {"_id": counter_id},
            {"$set": {"workflow_id": workflow_id, "left": left, "updated_at": now}},
            upsert=True,
        )
        for counter_id, left in counts.items()
    ]
    for start in range(0, len(ops), MAX_BATCH):  # an update command of 100 hangs FerretDB
        _counters().bulk_write(ops[start : start + MAX_BATCH], ordered=False)


def drop(workflow_id: ObjectId) -> None:
    """Remove the counters of a workflow that has ended."""
    _counters().delete_many({"workflow_id": workflow_id})


def due(stale_before: datetime) -> set[ObjectId]:
    """The workflows whose own counter is at 0, or whose counters (its own or a fan-in
    step's) have not moved since `stale_before`."""
    rows: list[dict[str, Any]] = list(
        _counters().find(
            {"$or": [{"left": {"$lte": 0}}, {"updated_at": {"$lt": stale_before}}]},
            {"workflow_id": 1, "left": 1, "updated_at": 1},
        )
    )
    return {
        row["workflow_id"]
        for row in rows
        if row["updated_at"] < stale_before or row["_id"] == row["workflow_id"]
    }


def counted() -> set[ObjectId]:
    """The workflows that have a counter of their own."""
    return {
        row["_id"]
        for row in _counters().find({}, {"workflow_id": 1})
        if row["_id"] == row["workflow_id"]
    }
