"""`jobplatform login URL` and `jobplatform jobs submit|list|show|retry|cancel|watch|tail`:
jobs on a running platform, over its API (see jobplatform/remote/connection.py for where
the URL and the token come from).

Exit status: 0 done; 1 refused by the API, or a watched job that did not succeed; 2 a
command line or configuration that cannot work; 3 the platform cannot be reached; 130
interrupted.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from jobplatform_client import ApiError, Client, Job, NewJob

from jobplatform.remote import render
from jobplatform.remote.connection import RemoteError, connect, login
from jobplatform.remote.data import UsageError, jsonl_jobs, parse_data
from jobplatform.remote.follow import Follower

MAX_BATCH = 500  # POST /api/jobs/batch takes at most this many
MAX_RETRY_BATCH = 1000  # POST /api/jobs/retry retries at most this many a call
Handler = Callable[[Client, argparse.Namespace], int]


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "priority": args.priority,
        "delay": args.delay,
        "run_at": args.run_at,
        "max_attempts": args.max_attempts,
        "timeout": args.timeout,
    }


def _submit(client: Client, args: argparse.Namespace) -> int:
    base = parse_data(args.data or [])
    if args.file:
        return _submit_file(client, args, base)
    job = client.submit(args.name, base, idempotency_key=args.idempotency_key, **_options(args))
    print(render.as_json(job) if args.json else f"submitted {job.id} ({job.name}): {job.state}")
    return 0


def _line_label(field: str, lines: list[int]) -> str:
    """A batch's error key (`jobs.N.data.field`, `jobs.N.priority`) as `line L: field`."""
    parts = field.split(".", 2)
    if len(parts) < 3 or parts[0] != "jobs" or not parts[1].isdigit():
        return field
    return f"line {lines[int(parts[1])]}: {parts[2].removeprefix('data.')}"


def _submit_file(client: Client, args: argparse.Namespace, base: dict[str, Any]) -> int:
    """Every line a job, sent in batches of --batch-size; the first refused batch stops
    it (nothing of that batch is stored) and names the lines at fault."""
    rows = list(jsonl_jobs(args.file))
    if not rows:
        raise UsageError(f"{args.file} holds no jobs")
    done = 0
    for start in range(0, len(rows), args.batch_size):
        batch = rows[start : start + args.batch_size]
        lines = [number for number, _ in batch]
        key = args.idempotency_key
        jobs = [
            NewJob(
                args.name, {**base, **data}, idempotency_key=key and f"{key}:{n}", **_options(args)
            )
            for n, data in batch
        ]
        try:
            made = client.submit_many(jobs)
        except ApiError as exc:
            fields = {field: _line_label(field, lines) for field in exc.field_errors}
            render.error(render.refusal(exc, fields))
            render.error(
                f"jobplatform: {done} of {len(rows)} jobs submitted before it; nothing of "
                f"lines {lines[0]}-{lines[-1]} was stored"
            )
            return 1
        done += len(made)
        if args.json:
            print("\n".join(render.as_json(job) for job in made), flush=True)
        elif sys.stderr.isatty():
            print(f"\r{render.bar(done, len(rows))}", end="", file=sys.stderr, flush=True)
    if not args.json:
        if sys.stderr.isatty():
            print(file=sys.stderr)
        print(f"submitted {done} {args.name} jobs from {args.file}")
    return 0


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "state": args.state,
        "name": args.type,
        "q": args.search,
        "created_after": args.created_after,
        "created_before": args.created_before,
        "order": args.order,
    }


def _list(client: Client, args: argparse.Namespace) -> int:
    if args.all:
        jobs = client.iterate(**_filters(args), limit=args.limit or 500)
        page = None
    else:
        page = client.list(**_filters(args), limit=args.limit, cursor=args.cursor)
        jobs = iter(page.jobs)
    if args.json:
        for job in jobs:
            print(render.as_json(job))
    else:
        for line in render.table(jobs):
            print(line, flush=True)
    if page is not None and page.next_cursor:
        total = f" of {page.total}{'+' if page.total_capped else ''}" if page.total else ""
        render.error(
            f"{len(page.jobs)} jobs shown{total}; next page: --cursor {page.next_cursor} (or --all)"
        )
    return 0


def _show(client: Client, args: argparse.Namespace) -> int:
    job = client.get(args.id)
    print(render.as_json(job) if args.json else "\n".join(render.detail(job)))
    return 0


def _change(action: str) -> Handler:
    def change(client: Client, args: argparse.Namespace) -> int:
        job: Job = getattr(client, action)(args.id)
        print(render.as_json(job) if args.json else f"{job.id} ({job.name}): {job.state}")
        return 0

    return change


def _retry(client: Client, args: argparse.Namespace) -> int:
    """One job by its id, or (without one) every job the filters match."""
    filters = {
        "state": args.state,
        "name": args.type,
        "created_after": args.created_after,
        "created_before": args.created_before,
    }
    if args.id is None:
        return _retry_matching(client, args, filters)
    if any(filters.values()):
        raise UsageError("give a job's id or filters (--state, --type, ...), not both")
    return _change("retry")(client, args)


def _retry_matching(client: Client, args: argparse.Namespace, filters: dict[str, Any]) -> int:
    """Retry in calls of --batch-size until a call retries fewer, or only jobs it retried
    before (they died again meanwhile: going on could go round forever)."""
    filters["state"] = filters["state"] or "dead"
    page = client.list(**filters, limit=1)
    total = page.total if page.total is not None and not page.total_capped else None
    retried: dict[str, None] = {}  # ordered, once each
    while True:
        ids = client.retry_many(**filters, limit=args.batch_size).ids
        new = [job_id for job_id in ids if job_id not in retried]
        retried.update(dict.fromkeys(new))
        if not args.json and sys.stderr.isatty():
            shown = render.bar(len(retried), max(total, len(retried))) if total else len(retried)
            print(f"\rretried {shown}", end="", file=sys.stderr, flush=True)
        if not new or len(ids) < args.batch_size:
            break
    if args.json:
        print(render.as_json({"retried": len(retried), "ids": list(retried)}))
        return 0
    if sys.stderr.isatty():
        print(file=sys.stderr)
    kind = f" {args.type}" if args.type else ""
    print(f"retried {len(retried)}{kind} jobs that were {filters['state']}")
    return 0


def _report(job: Job, as_json: bool) -> None:
    print(render.as_json(job) if as_json else render.status_line(job), flush=True)


def _watch(client: Client, args: argparse.Namespace) -> int:
    """A line a change (state, attempt, progress) until the job is final."""
    deadline = time.monotonic() + args.timeout if args.timeout else None
    shown = None
    while True:
        job = client.get(args.id)
        seen = (job.state, job.attempt_count, job.progress)
        if seen != shown:
            _report(job, args.json)
            shown = seen
        if job.finished:
            return 0 if job.state == "succeeded" else 1
        if deadline and time.monotonic() >= deadline:
            render.error(f"jobplatform: job {job.id} is still {job.state} after {args.timeout:g}s")
            return 1
        time.sleep(args.interval)


def _tail(client: Client, args: argparse.Namespace) -> int:
    follower = Follower(client, args.type or ())
    follower.start()
    render.error(f"following jobs on {client.base_url} (Ctrl-C to stop)")
    printed = 0
    while True:
        for event in follower.poll():
            if args.json:
                print(render.as_json({"event": event.kind, "job": event.job}), flush=True)
            else:
                print(f"{event.kind:<9} {render.status_line(event.job)}", flush=True)
            printed += 1
            if args.count and printed >= args.count:
                return 0
        if follower.capped:
            render.error("jobplatform: more jobs came than one poll reads; some are not shown")
        time.sleep(args.interval)


def connected(handler: Handler) -> Callable[[argparse.Namespace], int]:
    """Run `handler` with a client; failures become one clear message and an exit status."""

    def run(args: argparse.Namespace) -> int:
        try:
            client = connect(args)
        except RemoteError as exc:
            render.error(f"jobplatform: {exc}")
            return 2
        with client:
            return _guarded(lambda: handler(client, args), client.base_url)

    return run


def _guarded(action: Callable[[], int], url: str) -> int:
    try:
        return action()
    except ApiError as exc:
        render.error(render.refusal(exc))
        return 1
    except (UsageError, RemoteError) as exc:
        render.error(f"jobplatform: {exc}")
        return 2
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        render.error(f"jobplatform: cannot reach the platform at {url} ({reason}); is it running?")
        return 3
    except KeyboardInterrupt:
        return 130


def _login(args: argparse.Namespace) -> int:
    def run() -> int:
        print(login(args))
        return 0

    return _guarded(run, args.url)


# -- the command line ------------------------------------------------------------------------


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return int(text)


def connection_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the platform (default: JOBPLATFORM_URL, or `login`'s)")
    common.add_argument("--token", help="an API token (default: JOBPLATFORM_TOKEN, or `login`'s)")
    common.add_argument("--json", action="store_true", help="print JSON (a line a job for lists)")
    return common


def _add_submit(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    submit = sub.add_parser(
        "submit",
        parents=[common],
        help="submit a job, or one a line of a JSONL file",
        description="DATA: a JSON object, @file.json (@- for stdin), or key=value pairs "
        "(key:=JSON for numbers, lists, ...). With --from-file, each line's object is a job's data "
        "(over --data's).",
    )
    submit.add_argument("name", help="the job type")
    submit.add_argument("--data", nargs="+", metavar="DATA", help="the job's data")
    submit.add_argument(
        "--from-file", "--file", dest="file", help="a JSONL file: one job's data a line"
    )
    submit.add_argument("--priority", type=int)
    submit.add_argument("--delay", type=float, help="seconds to wait before it runs")
    submit.add_argument("--run-at", help="when to run it (ISO 8601)")
    submit.add_argument("--max-attempts", type=int, help="fewer attempts than the type allows")
    submit.add_argument("--timeout", type=float, help="seconds; less than the type allows")
    submit.add_argument(
        "--idempotency-key", help="the same key never makes a second job (with --file: KEY:LINE)"
    )
    submit.add_argument(
        "--batch-size",
        type=_positive,
        default=MAX_BATCH,
        help=f"jobs a request with --from-file (default and most: {MAX_BATCH})",
    )
    submit.set_defaults(handler=connected(_submit))


def _add_list(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    listing = sub.add_parser("list", parents=[common], help="jobs, newest first, with filters")
    listing.add_argument("--state", action="append", help="repeat for several")
    listing.add_argument("--type", action="append", help="job type; repeat for several")
    listing.add_argument("--search", help="text in the type, key, creator or error, or an id")
    listing.add_argument("--created-after", help="ISO 8601")
    listing.add_argument("--created-before", help="ISO 8601")
    listing.add_argument("--order", choices=("newest", "oldest"))
    listing.add_argument("--limit", type=int, help="jobs a page (default 50; 500 with --all)")
    listing.add_argument("--cursor", help="the page after the one that named it")
    listing.add_argument("--all", action="store_true", help="every page")
    listing.set_defaults(handler=connected(_list))


def _add_retry(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    retry = sub.add_parser(
        "retry",
        parents=[common],
        help="run a dead or cancelled job again, or every one the filters match",
        description="With an id, that job; without, every job the filters match (dead ones "
        "unless --state cancelled), in calls of --batch-size.",
    )
    retry.add_argument("id", nargs="?", help="the job's id")
    retry.add_argument("--state", choices=("dead", "cancelled"), help="(default: dead)")
    retry.add_argument("--type", help="only jobs of this type")
    retry.add_argument("--created-after", help="ISO 8601")
    retry.add_argument("--created-before", help="ISO 8601")
    retry.add_argument(
        "--batch-size",
        type=_positive,
        default=MAX_RETRY_BATCH,
        help=f"jobs a request (default and most: {MAX_RETRY_BATCH})",
    )
    retry.set_defaults(handler=connected(_retry))


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `login` and `jobs ...` to the `jobplatform` parser."""
    log_in = commands.add_parser("login", help="log in to a platform for the jobs commands")
    log_in.add_argument("url", help="the platform, e.g. https://jobs.example.com")
    log_in.add_argument("--token", help="keep this API token instead of a login session")
    log_in.add_argument("--username", help="(asked for when not given)")
    log_in.set_defaults(handler=_login)

    common = connection_options()
    jobs = commands.add_parser("jobs", help="submit, find, follow and change jobs over the API")
    sub = jobs.add_subparsers(dest="jobs_command", required=True)
    _add_submit(sub, common)
    _add_list(sub, common)
    for name, handler, text in (
        ("show", _show, "a job with its attempts, errors and tracebacks"),
        ("cancel", _change("cancel"), "cancel a job that has not finished"),
    ):
        parser = sub.add_parser(name, parents=[common], help=text)
        parser.add_argument("id", help="the job's id")
        parser.set_defaults(handler=connected(handler))
    _add_retry(sub, common)
    watch = sub.add_parser(
        "watch", parents=[common], help="print a job's changes until it ends (0: succeeded)"
    )
    watch.add_argument("id", help="the job's id")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between reads")
    watch.add_argument("--timeout", type=float, help="give up after this many seconds")
    watch.set_defaults(handler=connected(_watch))
    tail = sub.add_parser("tail", parents=[common], help="print jobs as they come and finish")
    tail.add_argument("--type", action="append", help="job type; repeat for several")
    tail.add_argument("--interval", type=float, default=1.0, help="seconds between reads")
    tail.add_argument("--count", type=int, help="stop after this many lines")
    tail.set_defaults(handler=connected(_tail))
