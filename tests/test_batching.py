"""The grouped database calls of jobs/batching.py against the session's real FerretDB: every
thread gets its own answer, whatever else shared its command."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from bson import ObjectId
from pymongo import MongoClient

from jobplatform.jobs.batching import MAX_BATCH, GroupCounter, GroupReader, GroupWriter


@pytest.fixture
def collection(mongo_server):
    client = MongoClient(mongo_server)
    coll = client["batching"][f"c_{uuid.uuid4().hex[:8]}"]
    yield coll
    coll.drop()
    client.close()


def counted(doc) -> bool:
    return bool(doc) and doc.get("n") == 1


def test_concurrent_guarded_updates_each_learn_whether_they_applied(collection):
    """More updates at once than one command carries; one in three is refused by its
    guard, so batches come back short and the writer must tell which ones landed."""
    ids = [ObjectId() for _ in range(3 * MAX_BATCH)]
    collection.insert_many([{"_id": i, "state": "queued", "n": 0} for i in ids])
    refused = set(ids[::3])
    collection.update_many({"_id": {"$in": list(refused)}}, {"$set": {"state": "cancelled"}})
    writer = GroupWriter(lambda: collection)
    start = threading.Barrier(len(ids))

    def update(job_id):
        start.wait()
        return job_id, writer.update(
            {"_id": job_id, "state": "queued"}, {"$set": {"n": 1}}, counted
        )

    with ThreadPoolExecutor(len(ids)) as pool:
        answers = dict(pool.map(update, ids))

    assert {i for i, applied in answers.items() if not applied} == refused
    stored = {doc["_id"]: doc["n"] for doc in collection.find()}
    assert stored == {i: 0 if i in refused else 1 for i in ids}


def test_inserts_report_the_documents_a_unique_index_refused(collection):
    collection.create_index("key", unique=True)
    collection.insert_one({"_id": ObjectId(), "key": "taken"})
    writer = GroupWriter(lambda: collection)

    refused = writer.insert([{"key": "a"}, {"key": "taken"}, {"key": "b"}])

    assert refused == {1}
    assert sorted(doc["key"] for doc in collection.find()) == ["a", "b", "taken"]


def test_grouped_reads_answer_each_thread_with_its_own_document(collection):
    ids = [ObjectId() for _ in range(40)]
    collection.insert_many([{"_id": i, "state": "queued", "k": str(i)} for i in ids])
    collection.update_one({"_id": ids[0]}, {"$set": {"state": "succeeded"}})
    reader = GroupReader(lambda: collection, {"k": 1, "state": 1})
    start = threading.Barrier(len(ids) + 1)
    missing = ObjectId()

    def read(job_id):
        start.wait()
        return job_id, reader.find({"_id": job_id, "state": {"$in": ["queued"]}})

    with ThreadPoolExecutor(len(ids) + 1) as pool:
        answers = dict(pool.map(read, [*ids, missing]))

    assert answers[missing] is None
    assert answers[ids[0]] is None  # no longer queued
    assert all(answers[i]["k"] == str(i) for i in ids[1:])


def test_concurrent_takes_from_counters_each_learn_what_they_left(collection):
    """Takes from two documents at once, more than one command carries, some from two
    fields of a document: each take's answer is what it left as if the takes had run one
    by one, so every value from the start down to 0 is answered once, and only one take
    sees 0."""
    collection.insert_many([{"_id": "a", "left": 150, "fan_in": 50}, {"_id": "b", "left": 200}])
    counter = GroupCounter(lambda: collection, lambda: "now")
    takes = (
        [("a", {"left": 1})] * 100
        + [("a", {"left": 1, "fan_in": 1})] * 50
        + [("b", {"left": 2})] * 100
        + [("none", {"left": 1})] * 5
    )
    start = threading.Barrier(len(takes))

    def take(document_and_amounts):
        start.wait()
        return document_and_amounts[0], counter.take(*document_and_amounts)

    with ThreadPoolExecutor(len(takes)) as pool:
        answers = list(pool.map(take, takes))

    def left(document: str, name: str) -> list[int]:
        return sorted(v[name] for k, v in answers if k == document and v and name in v)

    assert left("a", "left") == list(range(150))
    assert left("a", "fan_in") == list(range(50))
    assert left("b", "left") == list(range(0, 200, 2))
    assert [v for k, v in answers if k == "none"] == [None] * 5
    assert {doc.pop("_id"): doc for doc in collection.find()} == {
        "a": {"left": 0, "fan_in": 0, "updated_at": "now"},
        "b": {"left": 0, "updated_at": "now"},
    }
