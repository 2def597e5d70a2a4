"""Grouped database calls: one thread sends to a collection what many threads hand it, as
one command. `GroupWriter` is group commit for writes to the jobs collection,
`GroupReader` the same for reads by id, `GroupCounter` for takes from counters (the
workflows' counters: one `$inc` a counter for all the takes of a batch).

Each executor thread (or request thread) hands the writer a guarded update or a document
to insert and waits until it is stored. The writer thread takes everything handed to it
while its previous command ran and sends it as one command: at low load a write goes out
at once, at high load one command carries many (at most `MAX_BATCH` statements).

An update is guarded (its filter names the state it expects), so a write that no longer
applies matches nothing. A batch answers only how many of its updates matched; when that
falls short, the writer reads the batch's documents back and asks each write whether it
landed (`Update.landed`). A connection failure is retried until the write's deadline: the
guard makes a retry safe, and `landed` tells a write that went through before its answer
was lost.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo import InsertOne, ReturnDocument, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, ConnectionFailure

log = logging.getLogger("jobplatform.writer")

# Statements in one command: on MongoDB a batch of 50 costs little more than one update.
# Upstream FerretDB 1.24 hangs on an update command of 100 or more (our build does not,
# see the README's "FerretDB"), so the platform never sends one that large.
MAX_BATCH = 50
INSERT_BATCH = 1000  # documents in one insert command (inserts do not hang FerretDB)
DUPLICATE_KEY = 11000


class WriteFailed(Exception):
    """MongoDB could not be reached before the write's deadline."""


@dataclass(eq=False)
class _Pending:
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def finish(self, error: BaseException | None = None) -> None:
        self.error = error
        self.done.set()


@dataclass(eq=False)
class Update(_Pending):
    """One guarded update of one document; `landed(doc)` tells, from the document as it is
    now (None if it is gone), whether this update is the one that changed it."""

    filter: dict[str, Any] = field(default_factory=dict)
    change: dict[str, Any] = field(default_factory=dict)
    landed: Callable[[dict[str, Any] | None], bool] = lambda doc: False
    applied: bool = False


@dataclass(eq=False)
class Read(_Pending):
    """A read of one document by id; `document` is None when no document matched."""

    filter: dict[str, Any] = field(default_factory=dict)
    document: dict[str, Any] | None = None


@dataclass(eq=False)
class Insert(_Pending):
    """Documents to insert; `duplicates` holds the indexes refused by a unique index."""

    documents: list[dict[str, Any]] = field(default_factory=list)
    duplicates: set[int] = field(default_factory=set)


@dataclass(eq=False)
class Take(_Pending):
    """Amounts taken from the counters (fields) of the document `counter_id`; `left` is
    what this take left of each (None if there is no such document)."""

    counter_id: Any = None
    amounts: dict[str, int] = field(default_factory=dict)
    left: dict[str, int] | None = None


class _Batcher:
    """A thread that takes what other threads hand it in batches and answers each."""

    name = "batcher"

    def __init__(self, collection: Callable[[], Collection]):
        self._collection = collection
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _submit(self, item: _Pending) -> None:
        self._start()
        self._queue.put(item)
        item.done.wait()
        if item.error is not None:
            raise item.error

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._flush(batch)
            except Exception as exc:  # noqa: BLE001 - handed to each waiting thread
                for item in batch:
                    if not item.done.is_set():
                        item.finish(exc)

    def _flush(self, batch: list[_Pending]) -> None:
        raise NotImplementedError


class GroupReader(_Batcher):
    """Reads documents by id for every thread of this process, one `$in` query a batch."""

    name = "group-reader"

    def __init__(self, collection: Callable[[], Collection], projection: dict[str, int]):
        super().__init__(collection)
        self.projection = projection

    def find(self, filter: dict[str, Any]) -> dict[str, Any] | None:
        """The document matching `filter` (which names its `_id`), or None."""
        read = Read(deadline=time.monotonic(), filter=filter)
        self._submit(read)
        return read.document

    def _flush(self, batch: list[_Pending]) -> None:
        reads: list[Read] = batch  # type: ignore[assignment]
        if len(reads) == 1:
            reads[0].document = self._collection().find_one(reads[0].filter, self.projection)
        else:
            ids = [read.filter["_id"] for read in reads]
            found = {
                doc["_id"]: doc
                for doc in self._collection().find({"_id": {"$in": ids}}, self.projection)
            }
            for read in reads:
                doc = found.get(read.filter["_id"])
                read.document = doc if doc is not None and _matches(doc, read.filter) else None
        for read in reads:
            read.finish()


def _matches(doc: dict[str, Any], filter: dict[str, Any]) -> bool:
    """Whether `doc` meets `filter`, whose values are plain values or `{"$in": [...]}`."""
    for key, wanted in filter.items():
        if isinstance(wanted, dict):
            if doc.get(key) not in wanted["$in"]:
                return False
        elif doc.get(key) != wanted:
            return False
    return True


class GroupWriter(_Batcher):
    """Writes updates and inserts for every thread of this process through one thread."""

    name = "group-writer"

    def update(
        self,
        filter: dict[str, Any],
        change: dict[str, Any],
        landed: Callable[[dict[str, Any] | None], bool],
        *,
        retry_for: float = 0.0,
    ) -> bool:
        """Apply one guarded update; True if it changed the document, False if the guard
        refused. Raises WriteFailed if MongoDB stayed unreachable for `retry_for` seconds."""
        write = Update(
            deadline=time.monotonic() + retry_for, filter=filter, change=change, landed=landed
        )
        self._submit(write)
        return write.applied

    def insert(self, documents: list[dict[str, Any]]) -> set[int]:
        """Insert documents (any order); return the indexes a unique index refused. A
        connection failure is raised, not retried: the caller learns nothing was stored
        or may have been (as with any insert whose answer is lost)."""
        write = Insert(deadline=time.monotonic(), documents=documents)
        self._submit(write)
        return write.duplicates

    def _flush(self, batch: list[_Pending]) -> None:
        inserts = [w for w in batch if isinstance(w, Insert)]
        updates = [w for w in batch if isinstance(w, Update)]
        if inserts:
            self._insert(inserts)
        if updates:
            self._update(updates)

    def _insert(self, writes: list[Insert]) -> None:
        ops, owners = [], []
        for write in writes:
            for index, document in enumerate(write.documents):
                ops.append(InsertOne(document))
                owners.append((write, index))
        for start in range(0, len(ops), INSERT_BATCH):  # an error reaches every writer (_run)
            end = start + INSERT_BATCH
            self._bulk(ops[start:end], owners[start:end])
        for write in writes:
            write.finish()

    def _bulk(self, ops: list[InsertOne], owners: list[tuple[Insert, int]]) -> None:
        try:
            self._collection().bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != DUPLICATE_KEY:
                    raise
                write, index = owners[error["index"]]
                write.duplicates.add(index)

    def _update(self, writes: list[Update]) -> None:
        pending = list(writes)
        while pending:
            try:
                result = self._collection().bulk_write(
                    [UpdateOne(w.filter, w.change) for w in pending], ordered=False
                )
                if result.matched_count == len(pending):
                    for write in pending:
                        write.applied = True
                else:
                    self._which_landed(pending)
            except ConnectionFailure as exc:
                now = time.monotonic()
                for write in [w for w in pending if now >= w.deadline]:
                    write.finish(WriteFailed(f"MongoDB unreachable: {exc}"))
                pending = [w for w in pending if not w.done.is_set()]
                if pending:
                    log.warning("could not write %d job updates (%s); retrying", len(pending), exc)
                    time.sleep(0.5)
                continue
            for write in pending:
                write.finish()
            return

    def _which_landed(self, writes: list[Update]) -> None:
        ids = [w.filter["_id"] for w in writes]
        docs = {doc["_id"]: doc for doc in self._collection().find({"_id": {"$in": ids}})}
        for write in writes:
            write.applied = write.landed(docs.get(write.filter["_id"]))


class GroupCounter(_Batcher):
    """Takes from counters (number fields of documents) for every thread of this process:
    the takes of a batch from one document are one `$inc` of their sums.

    Each take learns what it left of each of its counters as if the takes had run one
    after another in the order they came, so only one take of a batch sees a counter's
    final value. A take is not retried on a connection failure (its `$inc` may have
    landed): the caller gets the error.
    """

    name = "group-counter"

    def __init__(self, collection: Callable[[], Collection], stamp: Callable[[], Any]):
        super().__init__(collection)
        self.stamp = stamp  # the value of each changed document's `updated_at`

    def take(self, counter_id: Any, amounts: dict[str, int]) -> dict[str, int] | None:
        """Take each amount from its field of the document; what is left of each after
        this take, or None if there is no such document."""
        take = Take(deadline=time.monotonic(), counter_id=counter_id, amounts=amounts)
        self._submit(take)
        return take.left

    def _flush(self, batch: list[_Pending]) -> None:
        takes: dict[Any, list[Take]] = {}
        for take in batch:
            takes.setdefault(take.counter_id, []).append(take)  # type: ignore[attr-defined]
        for counter_id, of_document in takes.items():
            total: dict[str, int] = {}
            for take in of_document:
                for name, n in take.amounts.items():
                    total[name] = total.get(name, 0) + n
            doc = self._collection().find_one_and_update(
                {"_id": counter_id},
                {
                    "$inc": {name: -n for name, n in total.items()},
                    "$set": {"updated_at": self.stamp()},
                },
                return_document=ReturnDocument.AFTER,
            )
            left = None if doc is None else {name: doc[name] for name in total}
            for take in reversed(of_document):  # the last take left what is stored now
                if left is not None:
                    take.left = {name: left[name] for name in take.amounts}
                    for name, n in take.amounts.items():
                        left[name] += n
                take.finish()
