"""The MongoDB connection (through MongoEngine) and the indexes the platform relies on."""

from __future__ import annotations

import threading
from collections import Counter

import mongoengine
from pymongo import monitoring

from jobplatform.config import Settings, SettingsError


class CommandCounter(monitoring.CommandListener):
    """Counts the MongoDB commands this process sends, by name (`jobplatform_mongodb_
    commands_total` in the metrics; bench/throughput.py reports them per job)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        with self._lock:
            self._counts[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


COMMANDS = CommandCounter()


def connect(settings: Settings) -> None:
    """Connect MongoEngine's default alias to MONGO_URI and make sure indexes exist."""
    if not settings.mongo_uri:
        raise SettingsError("MONGO_URI: not set; `jobplatform run` starts a local FerretDB for you")
    mongoengine.disconnect()
    mongoengine.connect(
        host=settings.mongo_uri,
        db=settings.database_name,
        tz_aware=False,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=5000,
        event_listeners=[COMMANDS],
    )
    from jobplatform.auth.api_tokens import ApiToken
    from jobplatform.auth.sessions import LoginSession
    from jobplatform.auth.users import User
    from jobplatform.jobs.indexes import ensure_job_indexes
    from jobplatform.jobs.models import Job

    for document in (User, LoginSession, ApiToken):
        document.ensure_indexes()
    ensure_job_indexes(Job._get_collection())


def disconnect() -> None:
    mongoengine.disconnect()
