"""How long the admin app's job list takes to render on the server, with a large history.

Fills a MongoDB (a private FerretDB, or the one MONGO_URI names) with N jobs (default
100,000), then opens the job list through NiceGUI's simulated user: the page is built in
this process, and the time from the request until its table shows the first rows (the
MongoDB query included) is the server time (no network, no browser). Measured: the first
page, a filtered page (state=dead), two text searches, and the bare `find_jobs` query of each
(with the app's LIST_COUNT_BUDGET_MS, so a slow total is given up as the app gives it up).
Prints figures; asserts nothing.

    .venv/bin/python bench/ui.py [--jobs 100000] [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bson import ObjectId

ROOT = Path(__file__).resolve().parent.parent
# finished jobs only: the reconciler would re-enqueue waiting jobs that have no message
STATES = ["succeeded"] * 94 + ["dead"] * 5 + ["cancelled"]
PASSWORD = "bench-admin-password-0123"


def fill(count: int) -> None:
    """Insert `count` finished-looking jobs spread over the last week, newest last."""
    from jobplatform.jobs.models import Job, utcnow

    collection = Job._get_collection()
    collection.delete_many({})
    now, rng, batch = utcnow(), random.Random(7), []
    for i in range(count):
        created = now - timedelta(seconds=(count - i) * 604800 / count)
        state = rng.choice(STATES)
        batch.append(
            {
                "_id": ObjectId(),
                "type": "sendEmail",
                "state": state,
                "queue": "email",
                "priority": 0,
                "max_attempts": 3,
                "attempt_count": 1,
                "attempts": [],
                "data": {"recipient": f"user{i}@example.com", "subject": f"Message {i}"},
                "error": "PermanentError: 550 no such user" if state == "dead" else None,
                "idempotency_key": f"bench-{i}",
                "created_by": "bench",
                "created_at": created,
                "updated_at": created,
                "finished_at": created,
            }
        )
        if len(batch) == 5000:
            collection.insert_many(batch, ordered=False)
            batch = []
    if batch:
        collection.insert_many(batch, ordered=False)


def timed(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(len(ordered) * 0.95) - 1)]
    return (
        f"median {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   "
        f"max {ordered[-1]:7.1f} ms"
    )


async def measure(runs: int) -> None:
    from nicegui.testing.user_simulation import user_simulation

    from jobplatform.config import load_settings
    from jobplatform.jobs.query import JobFilter, find_jobs

    budget = load_settings().list_count_budget_ms  # as the app counts

    main = Path(tempfile.mkdtemp()) / "bench_main.py"
    main.write_text(
        "from jobplatform.config import load_settings\n"
        "from jobplatform.web import create_app\n"
        "create_app(load_settings())\n"
    )
    pages = {  # label: (path, the same query, runs)
        "first page (50 newest)": ("/jobs", JobFilter(), runs),
        "filtered: state=dead": ("/jobs?state=dead", JobFilter(states=("dead",)), runs),
        "search: 'bench-99' (idempotency keys)": (
            "/jobs?q=bench-99",
            JobFilter(text="bench-99"),
            runs,
        ),
        # a search that matches nothing reads every row; a few runs say enough
        "search: 'no-such-text' (no match)": (
            "/jobs?q=no-such-text",
            JobFilter(text="no-such-text"),
            min(runs, 3),
        ),
    }
    # NiceGUI's simulated user is made for pytest: outside it, NiceGUI's reset of its globals
    # reaches for a page context and fails. Say we are a test for the length of the run.
    os.environ["PYTEST_CURRENT_TEST"] = "bench/ui.py"
    async with user_simulation(main_file=main) as user:
        await user.open("/login")
        user.find(marker="username").type("admin")
        user.find(marker="password").type(PASSWORD)
        user.find(marker="login").click()
        await user.should_see("Attempts per minute", retries=100)
        for label, (path, job_filter, repeat) in pages.items():
            page_ms, query_ms = [], []
            for _ in range(repeat):
                start = time.perf_counter()
                client = await user.open(path)
                [shown] = user.find(marker="page-label").elements
                deadline = time.monotonic() + 600
                while not shown.text:  # set once the page's query has answered
                    if time.monotonic() > deadline:
                        raise SystemExit(f"{path}: no answer after 600 s")
                    await asyncio.sleep(0.002)
                page_ms.append((time.perf_counter() - start) * 1000)
                client.delete()  # its timers would otherwise keep querying
                start = time.perf_counter()
                # blocking on purpose: nothing else runs
                page = find_jobs(job_filter, limit=50, count_budget_ms=budget)
                query_ms.append((time.perf_counter() - start) * 1000)
            total = "given up" if page.total is None else f"{page.total:,}"
            print(
                f"{label} (total: {total})\n  page render (server): {timed(page_ms)}\n"
                f"  find_jobs alone:      {timed(query_ms)}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    from jobplatform.devservices import FerretDB, RedisServer

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the services
    folder = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    services = []
    where = "MONGO_URI" if os.environ.get("MONGO_URI") else "a private FerretDB 1.24"
    if not os.environ.get("MONGO_URI"):
        services.append(FerretDB(folder / "ferretdb").start())
        os.environ["MONGO_URI"] = services[-1].uri + "bench_ui"
    if not os.environ.get("REDIS_URI"):
        services.append(RedisServer(folder / "redis").start())
        os.environ["REDIS_URI"] = services[-1].uri
    os.environ.update(
        APP_ENV="test",
        JWT_SECRET="bench-" + "x" * 40,
        ADMIN_PASSWORD=PASSWORD,
        DATA_DIR=str(folder / "data"),
        PLUGINS_FILE=str(ROOT / "plugins.toml"),
        LOGIN_RATE_LIMIT_IP="0",
        LOGIN_RATE_LIMIT_USER="0",
    )
    try:
        from jobplatform import db
        from jobplatform.config import load_settings
        from jobplatform.jobs.stats import recount

        db.connect(load_settings())
        start = time.perf_counter()
        fill(args.jobs)
        recount()
        print(
            f"filled {args.jobs:,} jobs in {time.perf_counter() - start:.1f} s "
            f"(MongoDB: {where}); "
            f"cores: {os.cpu_count()}, load: {os.getloadavg()[0]:.2f}"
        )
        asyncio.run(measure(args.runs))
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        for service in reversed(services):
            service.stop()


if __name__ == "__main__":
    main()
