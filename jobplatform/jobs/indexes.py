"""The indexes of the jobs collection, chosen for the store in use.

On MongoDB the compound indexes serve every list, filter and sweep from an index: pages
by state, type or creator in id order (jobs/query.py), the reconciler's expired leases,
retention's finished jobs.

FerretDB's SQLite backend hands SQLite only a narrowing by `_id` and, in our build, by
equality on one field (tools/ferretdb/string_equality.go), and filters everything else
in memory; every insert and update evaluates each indexed field of the stored JSON
again, so the MongoDB set (17 indexed fields) made each write several times dearer than
it needs. There it keeps the unique key and, for each field it narrows by, an index of
that field and `_id`, from which SQLite reads a narrowed page already in `_id` order
(the newest 51 of 5,000 `dead` jobs among 100,000: 5 ms, against 43 ms with an index of
`state` alone, which leaves SQLite to sort them).
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection

Keys = list[tuple[str, int]]

# two submissions with the same key race safely to one job
UNIQUE: Keys = [("idempotency_key", ASCENDING)]
MONGODB: list[Keys] = [
    [("created_at", DESCENDING)],
    [("state", ASCENDING), ("created_at", DESCENDING)],
    [("type", ASCENDING), ("created_at", DESCENDING)],
    [("state", ASCENDING), ("lease_expires_at", ASCENDING)],
    [("state", ASCENDING), ("finished_at", ASCENDING)],
    # id-ordered pages filtered by state, type, or creator (a webhook endpoint's
    # deliveries are the jobs created by `webhook:<endpoint id>`, webhooks/history.py)
    [("state", ASCENDING), ("_id", DESCENDING)],
    [("type", ASCENDING), ("_id", DESCENDING)],
    [("created_by", ASCENDING), ("_id", DESCENDING)],
]
FERRETDB: list[Keys] = [
    [("state", ASCENDING), ("_id", DESCENDING)],
    [("type", ASCENDING), ("_id", DESCENDING)],
    [("created_by", ASCENDING), ("_id", DESCENDING)],
]


def is_ferretdb(collection: Collection) -> bool:
    return "ferretdbVersion" in collection.database.client.admin.command("buildInfo")


def ensure_job_indexes(collection: Collection) -> list[Keys]:
    """Create the indexes the store needs and drop those of the other store's set (an
    upgrade, or a history moved between stores); the non-unique keys now wanted."""
    wanted, other = (FERRETDB, MONGODB) if is_ferretdb(collection) else (MONGODB, FERRETDB)
    collection.create_index(UNIQUE, unique=True)
    for keys in wanted:
        collection.create_index(keys)
    for name, info in collection.index_information().items():
        keys = [(field, int(order)) for field, order in info["key"]]
        if keys in other and keys not in wanted:
            collection.drop_index(name)
    return wanted
