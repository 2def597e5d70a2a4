"""The platform's services for one process, built once by `build_services` (the app factory)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from jobplatform.auth.ratelimit import RateLimiter, build_limiter
from jobplatform.config import Settings
from jobplatform.jobs.limit_store import LimitStore, build_limit_store
from jobplatform.jobs.queue import JobQueue
from jobplatform.jobs.service import JobService
from jobplatform.plugins.host import PluginHost, build_host
from jobplatform.plugins.manifest import load_manifest


@dataclass
class Services:
    settings: Settings
    host: PluginHost
    queue: JobQueue
    jobs: JobService
    jwt_secret: str
    limiter: RateLimiter
    limit_store: LimitStore | None = None  # where the job types' limits are counted


def load_host(settings: Settings) -> PluginHost:
    """The installed plugins, plus the modules EXTRA_PLUGINS names (tests load theirs so)."""
    extra = {
        name: importlib.import_module(name)
        for name in filter(None, (n.strip() for n in settings.extra_plugins.split(",")))
    }
    return build_host(load_manifest(settings.plugins_file), plugins=extra)


def build_services(settings: Settings, host: PluginHost | None = None) -> Services:
    host = host or load_host(settings)
    queue = JobQueue(settings)
    return Services(
        settings=settings,
        host=host,
        queue=queue,
        jobs=JobService(host, queue),
        jwt_secret=settings.resolved_jwt_secret(),
        limiter=build_limiter(settings),
        limit_store=build_limit_store(settings),
    )
