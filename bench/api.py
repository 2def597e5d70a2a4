"""Throughput and latency of the JSON API: POST /api/jobs and GET /api/jobs (first page).

Starts its own FerretDB and Redis (devservices), or uses the MongoDB that --mongo-uri
names, and a real `jobplatform web` process (or, with --api-processes N, N `jobplatform
api` processes, each on its own port, the clients spread over them as a load balancer
would); inserts a history of N jobs in bulk (default 100,000), then drives each endpoint
with C concurrent clients (default 50, each with an API token of its own and a kept
connection, as integrations would) for a fixed number of requests. The clients are
bench/loadgen, built with Go here: Python clients (httpx) cost the machine 1.2 ms a POST
and 2.7 ms a page, a third of the two cores, so the figures were the clients' as much as
the server's. Prints requests per second, p50/p99 latency, the CPU each process (the
serving processes, Redis, FerretDB, the clients) spent per request, and each serving
process's resident memory idle and at its peak under load. Asserts nothing.

    .venv/bin/python bench/api.py [--clients 50] [--submits 2000] [--lists 2000]
                                  [--history 100000] [--mongo-uri mongodb://...]
                                  [--api-processes N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
LOADGEN = ROOT / "bench" / "loadgen"
sys.path.insert(0, str(ROOT))

from bench.throughput import cpu_seconds, rss_mb  # noqa: E402 - after the path is set
from bench.ui import PASSWORD, fill  # noqa: E402
from jobplatform.devservices import FerretDB, RedisServer, free_port, wait_for_port  # noqa: E402

EMAIL = {"name": "sendEmail", "data": {"recipient": "bench@example.com", "subject": "Bench"}}


class PeakRss(threading.Thread):
    """Samples a process's resident memory every 100 ms; `peak` is the highest seen."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, rss_mb(pid), True

    def run(self) -> None:
        while self.running:
            try:
                self.peak = max(self.peak, rss_mb(self.pid))
            except OSError:  # the process has ended
                return
            time.sleep(0.1)


def build_loadgen(work: Path) -> Path:
    """Build bench/loadgen (Go, standard library only) into `work`."""
    binary = work / "loadgen"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=LOADGEN, check=True)
    return binary


def drive(loadgen: Path, tokens: Path, urls: str, total: int, method: str, body: str):
    """`total` requests from one client per token (bench/loadgen) to `urls` (several,
    comma-separated: client i sends to the i-th modulo their number); returns seconds and
    latencies (ms)."""
    answer = subprocess.run(
        [
            loadgen,
            f"-urls={urls}",
            f"-method={method}",
            f"-body={body}",
            f"-tokens={tokens}",
            f"-requests={total}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(answer.stdout)
    failures = {status: n for status, n in report["statuses"].items() if int(status) >= 300}
    if failures or report["errors"]:
        print(f"  non-2xx answers: {failures}; errors: {report['errors'][:3]}")
    return report["seconds"], report["latencies_ms"]


def children_cpu_seconds() -> float:
    """CPU time of the child processes that have ended (here: the load generator)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, processes: dict[str, int], run) -> None:
    """Run one phase (`run()` gives its seconds and latencies); print its rate, latency
    and the CPU each process (and the load generator) spent per request."""
    before = {label: cpu_seconds(pid) for label, pid in processes.items()}
    clients_before = children_cpu_seconds()
    seconds, latencies = run()
    ordered = sorted(latencies)
    p99 = ordered[max(0, round(len(ordered) * 0.99) - 1)]
    spent = {label: cpu_seconds(pid) - before[label] for label, pid in processes.items()}
    spent["clients (loadgen)"] = children_cpu_seconds() - clients_before
    cpu = ", ".join(f"{label} {s / len(ordered) * 1000:.2f}" for label, s in spent.items())
    print(
        f"{name:<34} {len(ordered):>6} req  {len(ordered) / seconds:8.1f} req/s   "
        f"p50 {statistics.median(ordered):8.1f} ms   p99 {p99:8.1f} ms\n"
        f"{'':<34} CPU ms a request: {cpu}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--submits", type=int, default=2000, help="POST /api/jobs requests")
    parser.add_argument("--lists", type=int, default=2000, help="GET /api/jobs requests")
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--mongo-uri", help="a MongoDB to use instead of a private FerretDB")
    parser.add_argument(
        "--api-processes",
        type=int,
        default=0,
        help="serve with this many `jobplatform api` processes (default: one `jobplatform web`)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    services = [RedisServer(work / "redis").start()]
    if not args.mongo_uri:
        services.append(FerretDB(work / "ferretdb").start())
    mongo_uri = args.mongo_uri or f"{services[-1].uri}bench_api"
    env = {
        **os.environ,
        "MONGO_URI": mongo_uri,
        "REDIS_URI": services[0].uri,
        "ADMIN_PASSWORD": PASSWORD,
        "JWT_SECRET": "b" * 16 + "ench" * 8,
        "DATA_DIR": str(work / "data"),
        "LOG_LEVEL": "WARNING",
        "APP_ENV": "development",
        "SMTP_HOST": "127.0.0.1",
    }
    command = "api" if args.api_processes else "web"
    servers: list[tuple[subprocess.Popen, str]] = []
    try:
        for index in range(args.api_processes or 1):
            port = free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "jobplatform", command],
                cwd=ROOT,
                env={**env, "PORT": str(port)},
                stdout=open(work / f"{command}-{index}.log", "wb"),
                stderr=subprocess.STDOUT,
            )
            servers.append((process, f"http://127.0.0.1:{port}"))
            wait_for_port(port, timeout=60, process=process)
        url = servers[0][1]

        from jobplatform import db
        from jobplatform.config import load_settings

        db.connect(load_settings(mongo_uri=mongo_uri))
        started = time.perf_counter()
        fill(args.history)
        print(
            f"history: {args.history:,} jobs inserted in {time.perf_counter() - started:.1f} s"
            f" ({'MongoDB at --mongo-uri' if args.mongo_uri else 'FerretDB 1.24, SQLite'})"
        )

        admin = httpx.post(f"{url}/api/login", json={"username": "admin", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
        tokens = [
            httpx.post(
                f"{url}/api/tokens",
                headers=headers,
                json={"name": f"bench-{i}", "role": "operator"},
            ).json()["token"]
            for i in range(args.clients)
        ]
        for _, server_url in servers:
            httpx.get(f"{server_url}/api/jobs", headers=headers, timeout=120)  # warm up
        serving = (
            f"{args.api_processes} `jobplatform api` processes, the clients spread over them"
            if args.api_processes
            else "one `jobplatform web` process (API and admin app)"
        )
        print(
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
            f"{args.clients} concurrent clients (bench/loadgen, Go); {serving}"
        )
        for index, (process, _) in enumerate(servers):
            print(f"{command} process {index} RSS idle: {rss_mb(process.pid):.0f} MiB")

        samplers = {
            f"{command} {i}": PeakRss(process.pid) for i, (process, _) in enumerate(servers)
        }
        if not args.mongo_uri:
            samplers["FerretDB"] = PeakRss(services[-1].process.pid)
        for sampler in samplers.values():
            sampler.start()
        processes = {f"{command} {i}": process.pid for i, (process, _) in enumerate(servers)}
        processes.update((service.name, service.process.pid) for service in services)
        loadgen = build_loadgen(work)
        token_file = work / "tokens"
        token_file.write_text("\n".join(tokens))
        body = json.dumps(EMAIL)
        phases = [
            ("POST /api/jobs", args.submits, "POST", "/api/jobs", body),
            ("GET /api/jobs (first page of 50)", args.lists, "GET", "/api/jobs", ""),
            ("GET /api/jobs?state=dead", args.lists, "GET", "/api/jobs?state=dead", ""),
        ]
        for name, total, method, path, payload in phases:
            targets = ",".join(server_url + path for _, server_url in servers)
            measure(
                name,
                processes,
                lambda total=total, method=method, targets=targets, payload=payload: drive(
                    loadgen, token_file, targets, total, method, payload
                ),
            )
        for name, sampler in samplers.items():
            sampler.running = False
            print(f"{name} RSS peak under load: {sampler.peak:.0f} MiB")
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait(30)
        for service in reversed(services):
            service.stop()


if __name__ == "__main__":
    main()
