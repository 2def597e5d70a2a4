"""Finding jobs in a large history: filters, order, cursor pages and a capped total.

Every filter value arrives typed (a state from the known list, a type name as a plain
string, datetimes, a search text) and is placed into the MongoDB query as a value, never
as an operator, so `{"$ne": ""}`-style input is only ever text. The search text is
escaped before it becomes a regular expression.

Jobs are ordered by id: ObjectIds start with their creation second, so id order is
submission order, and MongoDB serves it from the `_id` index (or the compound state,
type and creator indexes of jobs/indexes.py) whatever the filters. Pages are keyset
cursors (the last id seen), so page 1000 costs what page 1 costs. A first page filtered
by nothing but state and type takes its total from the engine's counters
(`jobs/stats.py`: exact up to the last second's transitions). Otherwise the total is
counted only up to `COUNT_CAP` (beyond that the answer says "more than") and only for as
long as the count budget allows: a count that takes longer is given up, and the page
comes without a total. A first page that holds every match is its own total, with no
count.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.errors import ExecutionTimeout

from jobplatform.jobs.models import STATES, Job
from jobplatform.jobs.stats import counts_by_type

COUNT_CAP = 1000
ID_EPOCH, ID_END = datetime(1970, 1, 1), datetime(2106, 2, 7)  # an id's 32-bit seconds
SEARCHED_FIELDS = ("type", "idempotency_key", "created_by", "error")
Order = Literal["newest", "oldest"]


class InvalidCursor(ValueError):
    pass


def id_near(moment: datetime, seconds: int) -> ObjectId:
    """The smallest ObjectId `seconds` from `moment`, within the years ids can hold."""
    margin = timedelta(seconds=abs(seconds))
    moment = min(max(moment, ID_EPOCH + margin), ID_END - margin)
    return ObjectId.from_datetime(moment + timedelta(seconds=seconds))


@dataclass(frozen=True)
class JobFilter:
    states: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    created_after: datetime | None = None  # naive UTC
    created_before: datetime | None = None
    text: str | None = None

    def to_query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if self.states:
            query["state"] = {"$in": [str(s) for s in self.states]}
        if self.types:
            query["type"] = {"$in": [str(t) for t in self.types]}
        id_range: dict[str, ObjectId] = {}
        created: dict[str, datetime] = {}
        if self.created_after:
            id_range["$gte"] = id_near(self.created_after, -1)
            created["$gte"] = self.created_after
        if self.created_before:
            id_range["$lt"] = id_near(self.created_before, +1)
            created["$lt"] = self.created_before
        if id_range:  # the id bound lets MongoDB use the index; created_at makes it exact
            query["_id"] = id_range
            query["created_at"] = created
        if self.text:
            pattern = {"$regex": re.escape(self.text), "$options": "i"}
            alternatives: list[dict[str, Any]] = [{f: pattern} for f in SEARCHED_FIELDS]
            if ObjectId.is_valid(self.text):
                alternatives.append({"_id": ObjectId(self.text)})
            query["$or"] = alternatives
        return query

    def counted_by_the_engine(self) -> bool:
        """Whether the engine's counters know this filter's total (state and type only)."""
        return not (self.created_after or self.created_before or self.text)

    def total_from_counters(self) -> int:
        states = self.states or STATES
        return sum(
            counts.get(state, 0)
            for job_type, counts in counts_by_type().items()
            if not self.types or job_type in self.types
            for state in states
        )


@dataclass
class JobPage:
    jobs: list[dict]  # the stored documents, without attempts and live log (models.describe_job)
    next_cursor: str | None
    total: int | None = None  # counted on the first page only, within the count budget
    total_capped: bool = False


def encode_cursor(job_id: ObjectId) -> str:
    return base64.urlsafe_b64encode(job_id.binary).decode().rstrip("=")


def decode_cursor(cursor: str) -> ObjectId:
    try:
        return ObjectId(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (InvalidId, ValueError, TypeError):
        raise InvalidCursor("cursor is not one this API gave out; start again without it") from None


def find_jobs(
    job_filter: JobFilter,
    *,
    order: Order = "newest",
    limit: int = 50,
    cursor: str | None = None,
    count_budget_ms: int = 0,
) -> JobPage:
    """A page of jobs; the first page also counts its total, giving up after
    `count_budget_ms` (0: no limit)."""
    query = job_filter.to_query()
    newest = order == "newest"
    if cursor:
        # The bound joins the filter's own _id range at the top level, where MongoDB's
        # planner (and FerretDB's SQL) can use it.
        after = decode_cursor(cursor)
        op, tighter = ("$lt", min) if newest else ("$gt", max)
        id_range = dict(query.get("_id", {}))
        id_range[op] = tighter(id_range[op], after) if op in id_range else after
        query = {**query, "_id": id_range}
    jobs = list(
        Job._get_collection()
        .find(query, {"attempts": 0, "live_log": 0})
        .sort("_id", -1 if newest else 1)
        .limit(limit + 1)
    )
    next_cursor = encode_cursor(jobs[limit - 1]["_id"]) if len(jobs) > limit else None
    page = JobPage(jobs=jobs[:limit], next_cursor=next_cursor)
    if cursor is None and next_cursor is None:  # this first page holds every match
        page.total = len(page.jobs)
    elif cursor is None and job_filter.counted_by_the_engine():
        page.total = job_filter.total_from_counters()
    elif cursor is None:
        try:
            counted = Job._get_collection().count_documents(
                query, limit=COUNT_CAP + 1, maxTimeMS=count_budget_ms
            )  # the first page's query is the filter's own
        except ExecutionTimeout:
            pass  # the page answers without its total
        else:
            page.total, page.total_capped = min(counted, COUNT_CAP), counted > COUNT_CAP
    return page
