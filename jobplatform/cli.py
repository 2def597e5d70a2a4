"""The `jobplatform` command."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from jobplatform.auth.commands import add_user_commands
from jobplatform.completion import add_command as add_completion_command
from jobplatform.config import SettingsError, load_settings
from jobplatform.doctor import add_command as add_doctor_command
from jobplatform.jobs.commands import add_queue_commands
from jobplatform.logs import configure_logging
from jobplatform.plugins.commands import add_commands as add_plugin_commands
from jobplatform.plugins.manifest import ManifestError
from jobplatform.remote.commands import add_commands as add_remote_commands
from jobplatform.remote.workflow_commands import add_commands as add_workflow_commands

if TYPE_CHECKING:
    from fastapi import FastAPI

    from jobplatform.config import Settings


def _web(args: argparse.Namespace) -> int:
    from jobplatform.jobs.reconciler import start_reconciler
    from jobplatform.web import create_app

    settings = load_settings()
    app = create_app(settings)
    start_reconciler(settings, app.state.services)  # the workers run one each too
    _serve(app, settings)
    return 0


def _api(args: argparse.Namespace) -> int:
    from jobplatform.web import create_api_app

    settings = load_settings()
    _serve(create_api_app(settings), settings)
    return 0


def _serve(app: FastAPI, settings: Settings) -> None:
    import gc

    import uvicorn

    # What the app built to start (plugins, routes, models, the admin app's pages) stays
    # for the process's life; frozen, the collector's full passes no longer walk it. They
    # had paused every request in flight: p99 of a job-list page in bench/api.py 130 -> 80 ms.
    gc.collect()
    gc.freeze()

    # log_config=None: uvicorn's own lines go through jobplatform.logs like every other line.
    # Forwarded headers only from FORWARDED_ALLOW_IPS: the client address the login limits
    # count must not be whatever a caller writes into X-Forwarded-For.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=20,
    )


def _worker(args: argparse.Namespace) -> int:
    from jobplatform.jobs.worker import run_worker
    from jobplatform.metrics import serve_worker_metrics
    from jobplatform.services import load_host

    settings = load_settings()
    serve_worker_metrics(settings)
    queues = [q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else None
    run_worker(
        settings,
        load_host(settings),
        queues=queues,
        concurrency=args.concurrency,
        grace_seconds=args.grace,
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    from jobplatform.supervisor import Supervisor

    return Supervisor(load_settings()).run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobplatform", description="Background-job platform")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the whole platform on this machine").set_defaults(
        handler=_run
    )
    commands.add_parser("web", help="serve the API and the admin app").set_defaults(handler=_web)
    commands.add_parser(
        "api", help="serve the API alone (run more of them, behind a load balancer, to scale)"
    ).set_defaults(handler=_api)
    worker = commands.add_parser("worker", help="run jobs from the queues")
    worker.add_argument("--queues", help="comma-separated queue names (default: all)")
    worker.add_argument("--concurrency", type=int, help="threads per queue")
    worker.add_argument(
        "--grace", type=float, default=30.0, help="seconds running jobs get to finish on SIGTERM"
    )
    worker.set_defaults(handler=_worker)
    add_plugin_commands(commands)
    add_doctor_command(commands)
    add_user_commands(commands)
    add_remote_commands(commands)
    add_queue_commands(commands)
    add_workflow_commands(commands)
    add_completion_command(commands, parser)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        configure_logging(load_settings())
    except SettingsError:
        configure_logging(None)  # the command itself reports the bad setting
    try:
        sys.exit(args.handler(args))
    except (SettingsError, ManifestError) as exc:
        print(f"jobplatform: {exc}", file=sys.stderr)
        sys.exit(2)
