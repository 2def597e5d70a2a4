"""A lease-based lock in MongoDB, so that one process at a time does a periodic duty.

`acquire()` takes the lock if it is free or expired, or renews it if this owner holds it.
The holder must renew it before `ttl` runs out; a holder that dies loses it after `ttl`.
"""

from __future__ import annotations

from datetime import timedelta

from mongoengine.connection import get_db
from pymongo.errors import DuplicateKeyError

from jobplatform.jobs.models import utcnow

LOCKS = "locks"


class LeaderLock:
    def __init__(self, name: str, owner: str, ttl: float):
        self.name = name
        self.owner = owner
        self.ttl = ttl

    def acquire(self) -> bool:
        now = utcnow()
        try:
            get_db()[LOCKS].find_one_and_update(
                {"_id": self.name, "$or": [{"owner": self.owner}, {"expires_at": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "expires_at": now + timedelta(seconds=self.ttl)}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # another owner holds it: the upsert collided with its document
        return True

    def release(self) -> None:
        get_db()[LOCKS].delete_one({"_id": self.name, "owner": self.owner})
