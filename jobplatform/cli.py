"""The `jobplatform` command."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys

from jobplatform.config import SettingsError, load_settings
from jobplatform.plugins.manifest import ManifestError, load_manifest


def _web(args: argparse.Namespace) -> int:
    import uvicorn

    from jobplatform.web import create_app

    settings = load_settings()
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                timeout_graceful_shutdown=20)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from jobplatform.jobs.worker import run_worker
    from jobplatform.services import load_host

    settings = load_settings()
    queues = [q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else None
    run_worker(settings, load_host(settings), queues=queues, concurrency=args.concurrency,
               grace_seconds=args.grace)
    return 0


def _run(args: argparse.Namespace) -> int:
    from jobplatform.supervisor import Supervisor

    return Supervisor(load_settings()).run()


def _plugins_list(args: argparse.Namespace) -> int:
    from jobplatform.services import load_host

    host = load_host(load_settings())
    records = [r.describe() for r in host.plugins.values()]
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    for r in records:
        line = f"{r['name']:<16} {r['version']:<10} {r['status']:<9} {', '.join(r['job_types'])}"
        print(line.rstrip())
        print(f"  source: {r['source']}")
        if r["error"]:
            print(f"  error:  {r['error']}")
    return 0


def _plugins_sync(args: argparse.Namespace) -> int:
    """Install every enabled plugin that plugins.toml gives a local path or package for."""
    manifest = load_manifest(load_settings().plugins_file)
    targets = []
    for entry in manifest.plugins.values():
        if entry.enabled and entry.path:
            targets += ["-e", entry.path]
        elif entry.enabled and entry.package:
            targets.append(entry.package)
    if not targets:
        return 0
    return subprocess.call([sys.executable, "-m", "pip", "install", "-q", *targets])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobplatform", description="Background-job platform")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the whole platform on this machine").set_defaults(
        handler=_run)
    commands.add_parser("web", help="serve the API and the admin app").set_defaults(handler=_web)
    worker = commands.add_parser("worker", help="run jobs from the queues")
    worker.add_argument("--queues", help="comma-separated queue names (default: all)")
    worker.add_argument("--concurrency", type=int, help="threads per queue")
    worker.add_argument("--grace", type=float, default=30.0,
                        help="seconds running jobs get to finish on SIGTERM")
    worker.set_defaults(handler=_worker)
    plugins = commands.add_parser("plugins", help="list and install plugins")
    plugin_commands = plugins.add_subparsers(dest="plugins_command", required=True)
    listing = plugin_commands.add_parser("list", help="plugins, their status and job types")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_plugins_list)
    plugin_commands.add_parser("sync", help="install the enabled plugins named in plugins.toml") \
        .set_defaults(handler=_plugins_sync)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        sys.exit(args.handler(args))
    except (SettingsError, ManifestError) as exc:
        print(f"jobplatform: {exc}", file=sys.stderr)
        sys.exit(2)
