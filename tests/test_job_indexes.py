"""The jobs collection's indexes follow the store (jobs/indexes.py), checked on the
session's real FerretDB: only the indexes it can use are kept, an upgraded history loses
the MongoDB set, and the unique idempotency key still refuses a second job."""

from __future__ import annotations

import uuid

import pytest
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError

from jobplatform.jobs.indexes import FERRETDB, MONGODB, UNIQUE, ensure_job_indexes, is_ferretdb


@pytest.fixture
def collection(mongo_server):
    client = MongoClient(mongo_server)
    coll = client["indexes"][f"jobs_{uuid.uuid4().hex[:8]}"]
    coll.insert_one({"state": "queued"})  # the collection exists
    yield coll
    coll.drop()
    client.close()


def keys_of(collection) -> list[list[tuple[str, int]]]:
    return [
        [(field, int(order)) for field, order in info["key"]]
        for name, info in collection.index_information().items()
        if name != "_id_"
    ]


def test_the_store_is_recognised_as_ferretdb(collection):
    assert is_ferretdb(collection)


def test_ferretdb_keeps_the_unique_key_and_one_index_per_narrowed_field(collection):
    assert ensure_job_indexes(collection) == FERRETDB
    assert sorted(keys_of(collection)) == sorted([UNIQUE, *FERRETDB])


def test_an_upgraded_history_loses_the_mongodb_set_but_keeps_other_indexes(collection):
    for keys in MONGODB:
        collection.create_index(keys)
    collection.create_index([("priority", 1)])  # an operator's own index

    ensure_job_indexes(collection)

    assert sorted(keys_of(collection)) == sorted([UNIQUE, *FERRETDB, [("priority", 1)]])


def test_running_twice_changes_nothing(collection):
    ensure_job_indexes(collection)
    before = collection.index_information()
    ensure_job_indexes(collection)
    assert collection.index_information() == before


def test_the_idempotency_key_stays_unique(collection):
    ensure_job_indexes(collection)
    collection.insert_one({"state": "queued", "idempotency_key": "k-1"})
    with pytest.raises(DuplicateKeyError):
        collection.insert_one({"state": "queued", "idempotency_key": "k-1"})
    assert collection.count_documents({"idempotency_key": "k-1"}) == 1
