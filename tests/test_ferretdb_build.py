"""The FerretDB build's edits (tools/ferretdb/edit_sources.py) keep MongoDB's answers.

They let SQLite serve `_id` lookups, `_id` ranges, `$in` on `_id` and sorts by `_id` from
the `_id` index, string equality from an index on its field, and narrow text searches with
LIKE; FerretDB must still return exactly what MongoDB would for those queries. They also
change how an update command holds SQLite's connections (upstream hung at 100 statements),
and make each change of a document atomic (upstream lost concurrent updates), and track
iterators only in debug builds.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import threading
import uuid
from contextlib import closing
from pathlib import Path

import httpx
import pymongo
import pytest
from bson import ObjectId

from jobplatform.devservices import FerretDB, free_port, wait_for_port

pytestmark = pytest.mark.services  # FerretDB servers of its own


@pytest.fixture(scope="module")
def collection(mongo_server):
    client = pymongo.MongoClient(mongo_server)
    db = client[f"jp_build_{uuid.uuid4().hex[:8]}"]
    docs = [
        {"_id": ObjectId(), "n": n, "state": "dead" if n % 7 == 0 else "ok"} for n in range(300)
    ]
    db.items.insert_many(docs)
    yield db.items, docs
    client.drop_database(db.name)
    client.close()


def ids(cursor) -> list[ObjectId]:
    return [doc["_id"] for doc in cursor]


def test_sort_by_id_with_a_limit_returns_the_right_rows_in_order(collection):
    items, docs = collection
    newest_first = [d["_id"] for d in reversed(docs)]
    assert ids(items.find().sort("_id", -1).limit(25)) == newest_first[:25]
    assert ids(items.find().sort("_id", 1).limit(25)) == [d["_id"] for d in docs[:25]]
    assert ids(items.find().sort("_id", -1)) == newest_first


def test_filters_still_apply_when_sorting_by_id(collection):
    items, docs = collection
    dead = [d["_id"] for d in reversed(docs) if d["state"] == "dead"]
    assert ids(items.find({"state": "dead"}).sort("_id", -1).limit(10)) == dead[:10]
    assert items.count_documents({"state": "dead"}) == len(dead)


def test_id_ranges_with_other_conditions_match_mongodb(collection):
    items, docs = collection
    cursor_id = docs[150]["_id"]
    below = [d["_id"] for d in reversed(docs[:150])]
    assert ids(items.find({"_id": {"$lt": cursor_id}}).sort("_id", -1).limit(20)) == below[:20]
    assert ids(items.find({"_id": {"$lte": cursor_id}}).sort("_id", -1).limit(1)) == [cursor_id]
    window = items.find(
        {"_id": {"$gt": docs[10]["_id"], "$lt": docs[20]["_id"]}, "n": {"$gte": 15}}
    )
    assert sorted(d["n"] for d in window) == [15, 16, 17, 18, 19]


def test_id_lookup_with_other_conditions_is_still_conditional(collection):
    items, docs = collection
    target = docs[42]
    assert items.find_one({"_id": target["_id"], "state": "dead"})["n"] == 42
    assert items.find_one({"_id": target["_id"], "state": "ok"}) is None
    changed = items.find_one_and_update(
        {"_id": docs[43]["_id"], "state": "dead"}, {"$set": {"touched": True}}
    )
    assert changed is None
    assert "touched" not in items.find_one({"_id": docs[43]["_id"]})


@pytest.fixture(scope="module")
def mixed(mongo_server):
    """Values of every shape under the fields the string-equality edit narrows on."""
    client = pymongo.MongoClient(mongo_server)
    db = client[f"jp_build_{uuid.uuid4().hex[:8]}"]
    db.items.create_index([("tag", 1), ("_id", -1)])
    values = [
        "red",
        "blue",
        ["red", "green"],  # MongoDB's equality matches an element of an array
        [],  # (FerretDB 1.24 refuses nested arrays, so they cannot be stored)
        {"red": 1},
        None,
        5,
        'say "red"',  # strings with escapes are left to FerretDB's own filter
        "<red>",
        "rød",
    ]
    docs = [{"_id": ObjectId(), "n": n, "tag": values[n % len(values)]} for n in range(110)]
    docs += [{"_id": ObjectId(), "n": 110 + n} for n in range(5)]  # no tag at all
    db.items.insert_many(docs)
    yield db.items, docs
    client.drop_database(db.name)
    client.close()


def expected(docs, wanted: list) -> list[ObjectId]:
    """The ids MongoDB returns for {"tag": {"$in": wanted}}, newest first."""

    def matches(value) -> bool:
        candidates = value if isinstance(value, list) else [value]
        return any(c in wanted and isinstance(c, str) for c in candidates)

    return [d["_id"] for d in reversed(docs) if "tag" in d and matches(d["tag"])]


@pytest.mark.parametrize(
    "wanted", [["red"], ["red", "blue"], ['say "red"'], ["<red>"], ["rød"], ["none-such"]]
)
def test_string_equality_matches_mongodb_for_every_value_shape(mixed, wanted):
    items, docs = mixed
    want = expected(docs, wanted)
    query = {"tag": wanted[0]} if len(wanted) == 1 else {"tag": {"$in": wanted}}
    assert ids(items.find(query).sort("_id", -1)) == want
    assert ids(items.find(query).sort("_id", -1).limit(7)) == want[:7]
    assert ids(items.find(query).sort("_id", 1).limit(7)) == list(reversed(want))[:7]
    assert sorted(ids(items.find(query))) == sorted(want)
    assert items.count_documents(query) == len(want)
    assert items.count_documents(query, limit=5) == min(5, len(want))


def test_string_equality_joins_id_ranges_and_other_conditions(mixed):
    items, docs = mixed
    want = expected(docs, ["red"])
    after = want[3]
    query = {"tag": {"$in": ["red"]}, "_id": {"$lt": after}}
    assert ids(items.find(query).sort("_id", -1).limit(4)) == want[4:8]
    with_n = {"tag": "red", "n": {"$lt": 50}}
    assert ids(items.find(with_n).sort("_id", -1)) == [
        d["_id"] for d in reversed(docs) if d["_id"] in want and d["n"] < 50
    ]
    mixed_in = {"tag": {"$in": ["red", 5, None]}}  # not only strings: not narrowed in SQL
    assert items.count_documents(mixed_in) == len(want) + sum(
        1 for d in docs if d.get("tag", None) in (5, None)
    )


@pytest.fixture(scope="module")
def texts(mongo_server):
    """Values of every shape for a text search (an $or of escaped-text regexes) to look at."""
    client = pymongo.MongoClient(mongo_server)
    db = client[f"jp_build_{uuid.uuid4().hex[:8]}"]
    values = [
        "Bench-99 ok",
        "xBENCH-990",
        "bench 99",
        ["a", "in a list: bench-99"],  # a regex matches an element of an array
        {"nested": "bench-99"},  # ...but not a string inside a document
        42,
        None,
        "\u212aelvin",  # the Kelvin sign matches k when case is ignored
        "\u017fmall",  # so does the long s match s
        'quoted "bench-99"',
        "100%_done",
        "100x done",
    ]
    docs = [
        {"_id": ObjectId(), "key": values[n % len(values)], "error": f"error {n}"}
        for n in range(60)
    ]
    docs.append({"_id": ObjectId(), "error": "no key at all, but bench-99 here"})
    db.items.insert_many(docs)
    yield db.items, docs
    client.drop_database(db.name)
    client.close()


def search(text: str, options: str = "i", fields=("key", "error")) -> dict:
    pattern = {"$regex": re.escape(text), "$options": options}
    return {"$or": [{field: pattern} for field in fields]}


def searched(docs, text: str, options: str = "i", fields=("key", "error")) -> list[ObjectId]:
    """The ids MongoDB returns for `search(text, options)`, newest first."""
    flags = re.IGNORECASE if "i" in options else 0

    def matches(value) -> bool:
        candidates = value if isinstance(value, list) else [value]
        return any(isinstance(c, str) and re.search(re.escape(text), c, flags) for c in candidates)

    return [d["_id"] for d in reversed(docs) if any(matches(d.get(f)) for f in fields)]


@pytest.mark.parametrize(
    "text, options",
    [
        ("bench-99", "i"),
        ("BENCH-99", ""),
        ("bench 99", "i"),
        ("kel", "i"),
        ("SMALL", "i"),
        ("100%_", "i"),
        ('"bench-99"', "i"),  # a quote is escaped in the stored text: not narrowed
        ("no such text", "i"),
    ],
)
def test_text_search_matches_mongodb_for_every_value_shape(texts, text, options):
    items, docs = texts
    want = searched(docs, text, options)
    assert ids(items.find(search(text, options)).sort("_id", -1)) == want
    assert ids(items.find(search(text, options)).sort("_id", -1).limit(3)) == want[:3]
    assert items.count_documents(search(text, options)) == len(want)


def test_text_search_with_an_id_and_other_conditions(texts):
    items, docs = texts
    target = docs[7]
    by_id = search(str(target["_id"]))
    by_id["$or"].append({"_id": target["_id"]})
    assert ids(items.find(by_id)) == [target["_id"]]
    narrowed = {**search("bench-99"), "_id": {"$lt": docs[30]["_id"]}}
    want = [i for i in searched(docs, "bench-99") if i < docs[30]["_id"]]
    assert ids(items.find(narrowed).sort("_id", -1)) == want


def test_an_update_command_of_500_statements_finishes_and_the_server_still_answers(mongo_server):
    """Upstream 1.24 hangs on an update command of 100 statements or more, for every client.

    pymongo sends a bulk_write as one `update` command (FerretDB reports a maxWriteBatchSize
    of 100,000), and each statement kept one of SQLite's 100 pooled connections until the
    command ended. The socket timeout is the test's deadline: a hang fails it, it never
    waits longer.
    """
    client = pymongo.MongoClient(mongo_server, socketTimeoutMS=60_000)
    db = client[f"jp_build_{uuid.uuid4().hex[:8]}"]
    try:
        docs = [{"_id": ObjectId(), "state": "waiting", "attempts": []} for _ in range(500)]
        db.items.insert_many(docs)
        result = db.items.bulk_write(
            [
                pymongo.UpdateOne(
                    {"_id": d["_id"]},
                    {"$set": {"state": "done"}, "$push": {"attempts": {"n": 1}}},
                )
                for d in docs
            ]
        )
        assert (result.matched_count, result.modified_count) == (500, 500)
        assert db.items.count_documents({"state": "done"}) == 500
        assert db.items.find_one({"_id": docs[499]["_id"]})["attempts"] == [{"n": 1}]

        other = pymongo.MongoClient(
            mongo_server, socketTimeoutMS=10_000, serverSelectionTimeoutMS=10_000
        )
        try:
            assert other[db.name].items.find_one({"_id": docs[0]["_id"]})["state"] == "done"
        finally:
            other.close()
    finally:
        client.drop_database(db.name)
        client.close()


@pytest.mark.parametrize("setting, mode", [(None, "normal"), ("full", "full")])
def test_ferretdb_runs_sqlite_in_wal_mode_with_the_chosen_synchronous(
    tmp_path, monkeypatch, setting, mode
):
    """The FerretDB that `make run` and the tests start: WAL, `synchronous` from the setting.

    The journal mode is stored in the database file, so SQLite itself can report it;
    `synchronous` belongs to each connection, so only the URL FerretDB runs with shows it.
    """
    if setting is None:
        monkeypatch.delenv("FERRETDB_SQLITE_SYNC", raising=False)
    else:
        monkeypatch.setenv("FERRETDB_SQLITE_SYNC", setting)
    server = FerretDB(tmp_path).start()
    try:
        with pymongo.MongoClient(server.uri, socketTimeoutMS=10_000) as client:
            client.syncdb.items.insert_one({"n": 1})
        cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().split(b"\0")
        url = next(a.decode() for a in cmdline if a.startswith(b"--sqlite-url="))
        assert url == f"--sqlite-url=file:{tmp_path.resolve()}/?_pragma=synchronous({mode})"
        database = tmp_path / "syncdb.sqlite"
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as sqlite:
            assert sqlite.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        server.stop()


def test_an_unknown_sqlite_sync_setting_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FERRETDB_SQLITE_SYNC", "off")
    with pytest.raises(ValueError, match="FERRETDB_SQLITE_SYNC"):
        FerretDB(tmp_path).command()


def wal_size_after(tmp_path, update) -> int:
    """Store 3,000 documents, call update(items, docs), return the write-ahead log's size."""
    server = FerretDB(tmp_path).start()
    try:
        with pymongo.MongoClient(server.uri, socketTimeoutMS=60_000) as client:
            items = client.waldb.items
            docs = [{"_id": ObjectId(), "payload": "x" * 500, "attempts": []} for _ in range(3000)]
            items.insert_many(docs)
            update(items, docs)
            return (tmp_path / "waldb.sqlite-wal").stat().st_size
    finally:
        server.stop()


def test_single_document_updates_let_sqlite_restart_its_write_ahead_log(tmp_path):
    """Upstream wrote each `multi: false` update while its own read was still open.

    SQLite cannot restart its write-ahead log while a reader uses it, so with only such
    writes the log grew by every page written (some 2 MB per 99 updates here) and each
    commit's checkpoint walked all of it. Now the log stays near SQLite's checkpoint size
    of 1,000 pages (4 MB).
    """

    def bulk_updates(items, docs):
        for batch in range(25):
            items.bulk_write(
                [
                    pymongo.UpdateOne(
                        {"_id": d["_id"]},
                        {"$set": {"batch": batch}, "$push": {"attempts": {"n": batch}}},
                    )
                    for d in docs[batch * 99 : (batch + 1) * 99]
                ]
            )
        assert items.count_documents({"batch": {"$exists": True}}) == 25 * 99

    wal = wal_size_after(tmp_path, bulk_updates)
    assert wal < 8 * 1024 * 1024, f"the write-ahead log grew to {wal / 1e6:.1f} MB"


def test_find_one_and_update_lets_sqlite_restart_its_write_ahead_log(tmp_path):
    """findAndModify wrote its document while its read was open, as single updates did."""

    def claims(items, docs):
        for n, d in enumerate(docs[:2000]):
            before = items.find_one_and_update(
                {"_id": d["_id"], "state": {"$exists": False}},
                {"$set": {"state": "running"}, "$push": {"attempts": {"n": n}}},
            )
            assert before["_id"] == d["_id"]
        assert items.count_documents({"state": "running"}) == 2000
        gone = items.find_one_and_delete({"_id": docs[0]["_id"]})
        assert gone["state"] == "running" and items.find_one({"_id": docs[0]["_id"]}) is None

    wal = wal_size_after(tmp_path, claims)
    assert wal < 8 * 1024 * 1024, f"the write-ahead log grew to {wal / 1e6:.1f} MB"


@pytest.fixture(scope="module")
def keyed(mongo_server):
    """Documents whose `_id`s are of several types, for `$in` on `_id`."""
    client = pymongo.MongoClient(mongo_server)
    db = client[f"jp_build_{uuid.uuid4().hex[:8]}"]
    keys = [ObjectId() for _ in range(40)]
    keys += ["s1", "s2", 'say "hi"', "<b>", "rød", 7, 8.5, {"k": 1}, None]
    docs = [
        {"_id": key, "n": n, "state": "dead" if n % 3 == 0 else "ok"} for n, key in enumerate(keys)
    ]
    db.items.insert_many(docs)
    yield db.items, docs
    client.drop_database(db.name)
    client.close()


def in_ids(docs, wanted: list) -> list:
    """The `_id`s MongoDB's {"_id": {"$in": wanted}} matches, in insertion order."""

    def same(a, b) -> bool:
        number = (int, float)
        if isinstance(a, number) or isinstance(b, number):
            return isinstance(a, number) and isinstance(b, number) and a == b
        return type(a) is type(b) and a == b

    return [d["_id"] for d in docs if any(same(d["_id"], w) for w in wanted)]


@pytest.mark.parametrize(
    "pick",
    [
        lambda k: [k[0], k[5], k[39]],  # ObjectIds only: narrowed in SQL
        lambda k: [],  # matches nothing
        lambda k: [k[3], k[3], k[4], k[4], k[4]],  # duplicates
        lambda k: [k[1], "s1", "s2"],  # ObjectIds and plain strings: narrowed
        lambda k: [k[2], "s1", 7, None],  # other types: left to FerretDB
        lambda k: [k[2], 'say "hi"', "<b>", "rød"],  # strings needing escapes: left too
        lambda k: [{"k": 1}, 8.5, 7.0],
        lambda k: [ObjectId(), "none-such"],  # nothing stored
    ],
)
def test_id_in_matches_mongodb(keyed, pick):
    items, docs = keyed
    wanted = pick([d["_id"] for d in docs])
    want = in_ids(docs, wanted)
    query = {"_id": {"$in": wanted}}
    assert sorted(map(repr, ids(items.find(query)))) == sorted(map(repr, want))
    assert items.count_documents(query) == len(want)


def test_id_in_with_other_conditions_matches_mongodb(keyed):
    items, docs = keyed
    oids = [d["_id"] for d in docs[:40]]
    wanted = oids[::2] + ["s1", "s2"]
    chosen = [d for d in docs if d["_id"] in wanted]
    by_n = {"_id": {"$in": wanted}, "n": {"$gte": 10, "$lt": 41}}
    assert sorted(map(str, ids(items.find(by_n)))) == sorted(
        str(d["_id"]) for d in chosen if 10 <= d["n"] < 41
    )
    in_range = {"_id": {"$in": wanted, "$lt": oids[20]}}
    assert (
        ids(items.find(in_range).sort("_id", -1).limit(4))
        == [i for i in reversed(oids[:20]) if i in wanted][:4]
    )
    dead = {"state": "dead", "_id": {"$in": wanted}}  # joins the string-equality edit
    assert sorted(map(str, ids(items.find(dead)))) == sorted(
        str(d["_id"]) for d in chosen if d["state"] == "dead"
    )
    assert items.count_documents({"_id": {"$in": wanted, "$nin": oids[:10]}}) == len(
        [i for i in wanted if i not in oids[:10]]
    )


def test_update_many_and_delete_many_by_id_in_touch_exactly_those(mongo_server):
    client = pymongo.MongoClient(mongo_server, socketTimeoutMS=30_000)
    db = client[f"jp_build_{uuid.uuid4().hex[:8]}"]
    try:
        docs = [{"_id": ObjectId(), "state": "waiting"} for _ in range(200)]
        db.items.insert_many(docs)
        picked = [d["_id"] for d in docs[10:60]]
        result = db.items.update_many({"_id": {"$in": picked}}, {"$set": {"state": "queued"}})
        assert (result.matched_count, result.modified_count) == (50, 50)
        assert sorted(ids(db.items.find({"state": "queued"}))) == sorted(picked)
        deleted = db.items.delete_many({"_id": {"$in": picked[:20] + [ObjectId()]}})
        assert deleted.deleted_count == 20
        assert db.items.count_documents({}) == 180
    finally:
        client.drop_database(db.name)
        client.close()


def run_at_once(threads: int, work) -> list:
    """Call work(n) on `threads` threads released together; their results, in order."""
    barrier = threading.Barrier(threads)
    results: list = [None] * threads

    def run(n: int) -> None:
        barrier.wait()
        results[n] = work(n)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


@pytest.fixture
def scratch(mongo_server):
    client = pymongo.MongoClient(mongo_server, socketTimeoutMS=60_000, maxPoolSize=20)
    db = client[f"jp_build_{uuid.uuid4().hex[:8]}"]
    yield db
    client.drop_database(db.name)
    client.close()


def test_concurrent_increments_of_one_document_are_all_counted(scratch):
    """Upstream read and wrote an updated document in separate transactions: 800 `$inc`s
    from 8 threads left a counter of 800 at about 450."""
    scratch.items.insert_one({"_id": "counter", "by_update": 0, "by_find_and_modify": 0})

    def increment(_n: int) -> None:
        for _ in range(50):
            scratch.items.update_one({"_id": "counter"}, {"$inc": {"by_update": 1}})
            scratch.items.find_one_and_update(
                {"_id": "counter"}, {"$inc": {"by_find_and_modify": 1}}
            )

    run_at_once(8, increment)
    assert scratch.items.find_one({"_id": "counter"}) == {
        "_id": "counter",
        "by_update": 400,
        "by_find_and_modify": 400,
    }


def test_of_concurrent_guarded_claims_of_one_document_exactly_one_matches(scratch):
    """The engine's claim: find_one_and_update guarded by the state it changes. Upstream let
    two of eight claims match in about half of the rounds."""
    for round_ in range(20):
        scratch.items.insert_one({"_id": round_, "state": "queued", "claims": 0})
        claimed = run_at_once(
            8,
            lambda n, round_=round_: scratch.items.find_one_and_update(
                {"_id": round_, "state": "queued"},
                {"$set": {"state": "running", "by": n}, "$inc": {"claims": 1}},
            ),
        )
        winners = [n for n, before in enumerate(claimed) if before is not None]
        after = scratch.items.find_one({"_id": round_})
        assert len(winners) == 1 and after["claims"] == 1 and after["by"] == winners[0]


def test_a_guarded_delete_does_not_remove_a_document_changed_since_its_read(scratch):
    """delete_many guarded by a state races updates that change that state: each change
    either comes first (the document stays) or after (it is gone), never half of each."""
    docs = [{"_id": ObjectId(), "state": "dead"} for _ in range(300)]
    scratch.items.insert_many(docs)

    def work(n: int) -> int:
        if n == 0:
            return scratch.items.delete_many({"state": "dead"}).deleted_count
        revived = 0
        for d in docs[n - 1 :: 3]:
            revived += scratch.items.update_one(
                {"_id": d["_id"], "state": "dead"}, {"$set": {"state": "queued"}}
            ).modified_count
        return revived

    deleted, *revived = run_at_once(4, work)
    assert deleted + sum(revived) == 300
    assert scratch.items.count_documents({}) == sum(revived)
    assert scratch.items.count_documents({"state": "queued"}) == sum(revived)


def test_iterators_are_not_tracked_outside_debug_builds(tmp_path):
    """Upstream records every iterator's stack in a pprof profile named FerretDB/<type>
    (a seventh of its CPU on a page of the job list); our build tracks none."""
    debug_port = free_port()
    server = FerretDB(tmp_path)
    command = [
        f"--debug-addr=127.0.0.1:{debug_port}" if arg == "--debug-addr=-" else arg
        for arg in server.command()
    ]
    process = subprocess.Popen(command, env=server.environment(), stdout=subprocess.DEVNULL)
    try:
        wait_for_port(server.port, timeout=30, process=process)
        with pymongo.MongoClient(server.uri, socketTimeoutMS=10_000) as client:
            client.trackdb.items.insert_many([{"n": n} for n in range(100)])
            assert len(list(client.trackdb.items.find({"n": {"$gte": 50}}).batch_size(10))) == 50
        profiles = httpx.get(f"http://127.0.0.1:{debug_port}/debug/pprof/", timeout=10).text
        assert "goroutine" in profiles  # the listing itself
        assert "FerretDB/" not in profiles
    finally:
        process.terminate()
        process.wait(30)
