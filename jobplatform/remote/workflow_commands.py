"""`jobplatform workflows submit|show|list|cancel`: workflows on a running platform, over
its API, with the connection and the exit statuses of the jobs commands
(jobplatform/remote/commands.py). A step is a job: `jobplatform jobs show|retry|cancel`
its job id."""

from __future__ import annotations

import argparse
from typing import Any

from jobplatform_client import ApiError, Client

from jobplatform.remote import render
from jobplatform.remote.commands import connected, connection_options
from jobplatform.remote.data import UsageError, json_file


def _step_labels(steps: list[Any]) -> dict[int, str]:
    return {
        n: f"step {step['key']}"
        for n, step in enumerate(steps)
        if isinstance(step, dict) and isinstance(step.get("key"), str)
    }


def _label(field: str, steps: dict[int, str]) -> str:
    """A refusal's `jobs.N.data.field` as `step KEY: field`."""
    parts = field.split(".", 2)
    if len(parts) < 3 or parts[0] != "jobs" or not parts[1].isdigit():
        return field
    named = steps.get(int(parts[1]), f"step {int(parts[1]) + 1}")
    return f"{named}: {parts[2].removeprefix('data.')}"


def _submit(client: Client, args: argparse.Namespace) -> int:
    body = json_file(args.file)
    name, steps = args.name or body.get("name"), body.get("jobs")
    if not isinstance(steps, list):
        raise UsageError(f'{args.file} needs "jobs": a list of steps (key, name, data, after)')
    try:
        flow = client.submit_workflow(name, steps)
    except ApiError as exc:
        labels = _step_labels(steps)
        render.error(render.refusal(exc, {f: _label(f, labels) for f in exc.field_errors}))
        return 1
    print(render.as_json(flow) if args.json else "\n".join(render.workflow_detail(flow)))
    return 0


def _show(client: Client, args: argparse.Namespace) -> int:
    flow = client.get_workflow(args.id)
    print(render.as_json(flow) if args.json else "\n".join(render.workflow_detail(flow)))
    return 0


def _list(client: Client, args: argparse.Namespace) -> int:
    filters = {"state": args.state, "name": args.name, "created_by": args.created_by}
    if args.all:
        flows = client.iterate_workflows(**filters, limit=args.limit or 500)
        page = None
    else:
        page = client.list_workflows(**filters, limit=args.limit, cursor=args.cursor)
        flows = iter(page.workflows)
    if args.json:
        for flow in flows:
            print(render.as_json(flow))
    else:
        for line in render.workflow_table(flows):
            print(line, flush=True)
    if page is not None and page.next_cursor:
        render.error(f"next page: --cursor {page.next_cursor} (or --all)")
    return 0


def _cancel(client: Client, args: argparse.Namespace) -> int:
    flow = client.cancel_workflow(args.id)
    print(render.as_json(flow) if args.json else "\n".join(render.workflow_detail(flow)))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `workflows ...` to the `jobplatform` parser."""
    common = connection_options()
    workflows = commands.add_parser("workflows", help="submit, find and cancel workflows")
    sub = workflows.add_subparsers(dest="workflows_command", required=True)
    submit = sub.add_parser(
        "submit",
        parents=[common],
        help="submit a workflow from a JSON file",
        description='FILE: {"name": ..., "jobs": [{"key", "name", "data", "after", ...}]} '
        "as POST /api/workflows takes it (- for standard input). All or nothing.",
    )
    submit.add_argument("file", metavar="FILE", help="a JSON file, or - for standard input")
    submit.add_argument("--name", help="the workflow's name (over the file's)")
    submit.set_defaults(handler=connected(_submit))
    listing = sub.add_parser("list", parents=[common], help="workflows, newest first")
    listing.add_argument("--state", action="append", help="repeat for several")
    listing.add_argument("--name", help="the workflow's name")
    listing.add_argument("--created-by", help="who submitted it")
    listing.add_argument("--limit", type=int, help="workflows a page (default 50; 500 with --all)")
    listing.add_argument("--cursor", help="the page after the one that named it")
    listing.add_argument("--all", action="store_true", help="every page")
    listing.set_defaults(handler=connected(_list))
    for name, handler, text in (
        ("show", _show, "a workflow with each step's state"),
        ("cancel", _cancel, "cancel every step of a workflow that has not ended"),
    ):
        parser = sub.add_parser(name, parents=[common], help=text)
        parser.add_argument("id", help="the workflow's id")
        parser.set_defaults(handler=connected(handler))
