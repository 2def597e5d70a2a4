"""The web process: the JSON API and the NiceGUI admin app in one ASGI application (or,
for `jobplatform api`, the API alone)."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from jobplatform import db, metrics
from jobplatform.api import auth, health, jobs, schedules, stats, tokens, users, webhooks, workflows
from jobplatform.api.errors import install_error_handlers, unknown_endpoint_router
from jobplatform.api.job_data_openapi import document_job_data
from jobplatform.api.plugins import router as plugins_router
from jobplatform.api.queues import router as queues_router
from jobplatform.api.request_id import RequestIdMiddleware
from jobplatform.api.security import install_security
from jobplatform.auth.production import check_secrets, check_stored_admin
from jobplatform.auth.users import admin_notice
from jobplatform.config import Settings
from jobplatform.jobs.schedules import ensure_default_schedules
from jobplatform.services import Services, build_services

log = logging.getLogger("jobplatform.web")


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """Build the web application: the API and the admin app (see `_prepare`), after
    making sure the plugins' default schedules exist."""
    svc = _prepare(settings, services)
    ensure_default_schedules(svc.jobs)  # plugins' defaults, created disabled
    return _application(settings, svc, admin_app=True)


def create_api_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """The JSON API alone, as `jobplatform api` serves it. The admin app keeps its
    clients' state in its one process, so only the API scales out in processes; each
    counts and serves its own `/metrics`."""
    return _application(settings, _prepare(settings, services), admin_app=False)


def _prepare(settings: Settings, services: Services | None) -> Services:
    """Check the secrets, connect MongoDB, load plugins, and make sure the admin user
    exists (refused in production with a default password)."""
    check_secrets(settings)
    db.connect(settings)
    svc = services or build_services(settings)
    notice = admin_notice(settings.admin_password_value())
    if notice:
        print(notice, flush=True)
    check_stored_admin(settings)
    return svc


def _application(settings: Settings, svc: Services, *, admin_app: bool) -> FastAPI:
    app = FastAPI(
        title="jobplatform",
        version="0.1.0",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.services = svc
    install_error_handlers(app)
    for router in (
        auth.router,
        jobs.router,
        users.router,
        tokens.router,
        health.router,
        stats.router,
        schedules.router,
        webhooks.router,
        workflows.router,
    ):
        app.include_router(router)
    app.include_router(plugins_router)
    document_job_data(app, svc.host.job_types)
    app.include_router(queues_router)
    app.include_router(unknown_endpoint_router())  # after every /api router
    metrics.install(app, svc)  # before the admin app, whose pages catch every other path
    if admin_app:
        from jobplatform.ui import mount

        mount(app, svc)
    install_security(app, settings)
    app.add_middleware(metrics.HttpMetricsMiddleware)  # outside the security checks: counts 429s
    app.add_middleware(RequestIdMiddleware)  # outermost: every log line of a request has its id
    return app
