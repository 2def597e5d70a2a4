"""`jobplatform queues list|pause|resume`: the queue controls from the command line, on the
platform the settings (environment and .env) point at, through `QueueControls` as the API
and the admin app do."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any


def _controls():
    from jobplatform import db
    from jobplatform.config import load_settings
    from jobplatform.jobs.queue_controls import QueueControls
    from jobplatform.services import load_host

    settings = load_settings()
    db.connect(settings)
    return QueueControls(load_host(settings))


def _run(action: Callable[[Any], None]) -> int:
    from jobplatform.errors import PlatformError

    try:
        action(_controls())
    except PlatformError as exc:
        print(f"jobplatform: {exc.message}", file=sys.stderr)
        return 1
    return 0


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def _row(row: dict[str, Any]) -> str:
    paused = f"paused by {row['paused_by'] or '?'}" if row["paused"] else "active"
    return (
        f"{row['name']:<20} {row['waiting']:>8} {row['scheduled']:>9} {row['retrying']:>8} "
        f"{row['running']:>7}  {paused:<24} {', '.join(row['job_types']) or '-'}"
    )


def _list(args: argparse.Namespace) -> int:
    def show(controls) -> None:
        rows = controls.list()
        if args.json:
            print(json.dumps(rows, indent=2, default=str))
            return
        print(
            f"{'QUEUE':<20} {'WAITING':>8} {'SCHEDULED':>9} {'RETRYING':>8} {'RUNNING':>7}  "
            f"{'STATE':<24} JOB TYPES"
        )
        for row in rows:
            print(_row(row))

    return _run(show)


def _change(pause: bool) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        actor = f"cli:{_login_name()}"

        def change(controls) -> None:
            if pause:
                controls.pause(args.name, actor)
                print(f"queue '{args.name}' paused: workers take nothing new from it")
            else:
                controls.resume(args.name, actor)
                print(f"queue '{args.name}' resumed: workers take its jobs again")

        return _run(change)

    return handler


def add_queue_commands(commands: argparse._SubParsersAction) -> None:
    queues = commands.add_parser("queues", help="see, pause and resume the job queues")
    sub = queues.add_subparsers(dest="queues_command", required=True)
    listing = sub.add_parser("list", help="each queue: jobs by state, paused or not, job types")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    for name, pause, text in (
        ("pause", True, "workers take nothing new from the queue; running jobs finish"),
        ("resume", False, "workers take the queue's jobs again"),
    ):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("name", help="the queue's name (see `jobplatform queues list`)")
        parser.set_defaults(handler=_change(pause))
