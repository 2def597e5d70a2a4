"""Throughput, latency and memory of the job engine, against plain Huey on the same Redis.

1. Platform: submits N no-op jobs through `JobService.submit_many` in batches of 500
   (schema check, one MongoDB insert and one Redis command a batch) and times until all
   N are `succeeded` in MongoDB, with W worker processes (`jobplatform worker --queues
   bench --concurrency C`). The end is read from the workers' metrics (a job counts as
   succeeded there once its outcome is stored) and then checked with one count in
   MongoDB. The MongoDB commands every process sent during the run (their
   `jobplatform_mongodb_commands_total`) are printed per job. Submission alone is timed
   too, through `submit_many` and through `submit` one job at a time.
2. Baseline: the same N no-op tasks through plain Huey (`huey_consumer`, W processes of
   C threads, and with --huey-processes W processes of Huey's process workers) on the
   same Redis, timed until all have run.
3. Latency: a trickle of single jobs, one at a time: submit-to-start (`created_at` to the
   claim's `started_at`, both stamped by this machine's clock) p50 and p99.
4. Memory: each worker's resident memory at start and after `--rss-jobs` more jobs. To
   keep MongoDB's collection from growing through that run, finished jobs are removed in
   batches as it goes (what retention does, just sooner).

Starts a private Redis and FerretDB unless --redis-uri / --mongo-uri name servers. Prints
figures; asserts nothing.

    .venv/bin/python bench/throughput.py [--jobs 4000] [--workers 2] [--concurrency 4]
        [--huey-processes 4] [--trickle 100] [--rss-jobs 100000] [--mongo-uri URI]
        [--redis-uri URI]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobplatform import db  # noqa: E402
from jobplatform.config import load_settings  # noqa: E402
from jobplatform.devservices import FerretDB, RedisServer, free_port  # noqa: E402
from jobplatform.jobs.cleaning import CleanFilter, clean_finished  # noqa: E402
from jobplatform.jobs.models import FINAL, Job  # noqa: E402
from jobplatform.jobs.queue import JobQueue  # noqa: E402
from jobplatform.jobs.service import JobService  # noqa: E402
from jobplatform.services import load_host  # noqa: E402

JOB_TYPE = "bench.noop"
BATCH = 500
WRITES = ("insert", "update", "delete", "findAndModify")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory (VmRSS), or its peak (VmHWM), in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(probe, timeout: float, what: str, every: float = 0.2) -> float:
    """Poll `probe` until true; return when it became true (perf_counter)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return time.perf_counter()
        time.sleep(every)
    raise SystemExit(f"gave up after {timeout:g}s waiting for {what}")


def spawn(args: list[str], env: dict[str, str], log: Path, ready: str | None) -> subprocess.Popen:
    with open(log, "ab") as out:
        process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    if ready:
        wait_for(
            lambda: ready in log.read_text(errors="replace") or process.poll() is not None,
            60,
            f"{args[2:4]} to start",
            every=0.05,
        )
        if process.poll() is not None:
            raise SystemExit(f"{args} exited:\n{log.read_text()}")
    return process


def succeeded() -> int:
    return Job.objects(type=JOB_TYPE, state="succeeded").count()


METRICS = httpx.Client(timeout=5)  # one connection a worker, kept between scrapes


def scrape(port: int) -> dict[str, float]:
    """A worker's metrics: {"name{labels}": value}."""
    text = METRICS.get(f"http://127.0.0.1:{port}/metrics").text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def worker_counts(ports: list[int]) -> tuple[float, dict[str, float]]:
    """Jobs the workers have stored as succeeded, and the MongoDB commands they sent."""
    done, commands = 0.0, {}
    for port in ports:
        for name, value in scrape(port).items():
            if name.startswith("jobplatform_jobs_succeeded_total"):
                done += value
            elif name.startswith("jobplatform_mongodb_commands_total"):
                command = name.split('command="')[1].split('"')[0]
                commands[command] = commands.get(command, 0) + value
    return done, commands


def submit_all(jobs: JobService, n: int) -> None:
    for start in range(0, n, BATCH):
        jobs.submit_many([{"name": JOB_TYPE, "data": {}}] * min(BATCH, n - start))


def platform_run(jobs: JobService, n: int, ports: list[int]) -> tuple[float, float, float, dict]:
    """Submit n jobs in batches; return (submit seconds, this process's CPU seconds for
    the submission, end-to-end seconds, commands sent by every process)."""
    before_done, before = worker_counts(ports)
    mine = db.COMMANDS.counts()
    start, cpu = time.perf_counter(), time.process_time()
    submit_all(jobs, n)
    submitted, submit_cpu = time.perf_counter(), time.process_time() - cpu

    def all_done() -> bool:
        """Scrapes cost the workers and this process CPU: every 0.2 s until nine tenths
        are done, then every 10 ms, so the end is timed to about 10 ms."""
        done = worker_counts(ports)[0] - before_done
        if done < 0.9 * n:
            time.sleep(0.2)
        return done >= n

    done = wait_for(all_done, 3600, f"{n} jobs", every=0.01)
    stored = succeeded()
    if stored < n:
        raise SystemExit(f"the workers counted {n} jobs but MongoDB holds {stored} succeeded")
    _, after = worker_counts(ports)
    sent = {
        k: after.get(k, 0) - before.get(k, 0) + db.COMMANDS.counts().get(k, 0) - mine.get(k, 0)
        for k in set(after) | set(db.COMMANDS.counts())
    }
    sent["count"] = sent.get("count", 0) - 1  # the check above is the benchmark's own
    return submitted - start, submit_cpu, done - start, sent


def submit_one_by_one(jobs: JobService, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        jobs.submit(JOB_TYPE, {})
    return time.perf_counter() - start


def plain_huey_run(
    redis_uri: str,
    env: dict[str, str],
    tmp: Path,
    n: int,
    workers: int,
    concurrency: int,
    kind: str = "thread",
) -> float:
    os.environ["BENCH_REDIS_URI"] = redis_uri
    from bench.plain_huey import DONE_KEY, huey, noop

    redis = Redis.from_url(redis_uri)
    redis.delete(DONE_KEY)
    consumers = [
        spawn(
            [
                sys.executable,
                "-m",
                "huey.bin.huey_consumer",
                "bench.plain_huey.huey",
                "-w",
                str(concurrency),
                "-k",
                kind,
                "-q",
            ],
            {**env, "BENCH_REDIS_URI": redis_uri},
            tmp / f"huey-{kind}-{i}.log",
            None,
        )
        for i in range(workers)
    ]
    try:
        time.sleep(2)  # let the consumers connect, as the platform's workers already have
        start = time.perf_counter()
        for _ in range(n):
            noop()
        done = wait_for(lambda: int(redis.get(DONE_KEY) or 0) >= n, 3600, "plain Huey", every=0.01)
        return done - start
    finally:
        for consumer in consumers:
            consumer.terminate()
            consumer.wait(30)
        huey.flush()


def trickle(jobs: JobService, n: int) -> list[float]:
    """Submit-to-start latency (ms) of n jobs submitted one at a time."""
    latencies = []
    for _ in range(n):
        job = jobs.submit(JOB_TYPE, {})
        wait_for(
            lambda job=job: Job.objects(id=job.id, state__in=FINAL).count(),
            60,
            "a trickled job",
            every=0.002,
        )
        started = Job.objects(id=job.id).only("created_at", "started_at").first()
        latencies.append((started.started_at - started.created_at).total_seconds() * 1000)
    return latencies


def memory_run(jobs: JobService, total: int, batch: int = 500) -> float:
    """Run `total` more jobs in batches, removing finished ones as it goes; return seconds."""
    start = time.perf_counter()
    done = 0
    while done < total:
        n = min(batch, total - done)
        submit_all(jobs, n)
        wait_for(lambda n=n: succeeded() >= n, 3600, "a memory batch")
        remove_finished(jobs)
        done += n
        print(f"  memory run: {done}/{total} jobs", flush=True)
    return time.perf_counter() - start


def remove_finished(jobs: JobService) -> None:
    """Delete the finished benchmark jobs, in batches (FerretDB refuses a delete of more
    than SQLite's 32,766 bound variables) and counted, as retention does."""
    clean_finished(CleanFilter(job_type=JOB_TYPE), jobs.stats)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--huey-processes", type=int, default=4, help="plain Huey with N process workers"
    )
    parser.add_argument("--trickle", type=int, default=100, help="0: no latency phase")
    parser.add_argument("--rss-jobs", type=int, default=100_000, help="0: no memory phase")
    parser.add_argument("--mongo-uri")
    parser.add_argument("--redis-uri")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="jp-bench-"))
    started: list = []
    if not args.redis_uri:
        started.append(RedisServer(tmp / "redis").start())
        args.redis_uri = started[-1].uri
    if not args.mongo_uri:
        started.append(FerretDB(tmp / "ferretdb").start())
        args.mongo_uri = started[-1].uri + "bench"
    settings = load_settings(
        mongo_uri=args.mongo_uri,
        redis_uri=args.redis_uri,
        data_dir=tmp / "data",
        plugins_file=ROOT / "plugins.toml",
        extra_plugins="bench.noop_plugin",
        app_env="test",
    )
    db.connect(settings)
    Job.objects(type=JOB_TYPE).delete()
    jobs = JobService(load_host(settings), JobQueue(settings))
    env = {
        **os.environ,
        "APP_ENV": "test",
        "MONGO_URI": args.mongo_uri,
        "REDIS_URI": args.redis_uri,
        "DATA_DIR": str(tmp / "data"),
        "PLUGINS_FILE": str(ROOT / "plugins.toml"),
        "EXTRA_PLUGINS": "bench.noop_plugin",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
    }
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()}", flush=True)
    ports = [free_port() for _ in range(args.workers)]
    workers = [
        spawn(
            [
                sys.executable,
                "-m",
                "jobplatform",
                "worker",
                "--queues",
                "bench",
                "--concurrency",
                str(args.concurrency),
            ],
            {**env, "WORKER_METRICS_PORT": str(ports[i])},
            tmp / f"worker-{i}.log",
            "ready",
        )
        for i in range(args.workers)
    ]
    processes = {
        **{service.name: service.process.pid for service in started},
        **{f"worker {i}": w.pid for i, w in enumerate(workers)},
        "this process (submitting)": os.getpid(),
    }
    try:
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        submit_s, submit_cpu, platform_s, sent = platform_run(jobs, args.jobs, ports)
        platform_rate = args.jobs / platform_s
        print(
            "CPU per job: "
            + ", ".join(
                f"{name} {(cpu_seconds(pid) - cpu_before[name]) / args.jobs * 1000:.2f} ms"
                for name, pid in processes.items()
            ),
            flush=True,
        )
        print(
            f"platform: {args.jobs} jobs, {args.workers} workers x {args.concurrency} "
            f"threads: {platform_rate:.0f} jobs/s end to end (submitting alone, "
            f"submit_many in batches of {BATCH}: {args.jobs / submit_s:.0f}/s, "
            f"{submit_cpu / args.jobs * 1000:.2f} ms CPU a job)",
            flush=True,
        )
        writes = sum(v for k, v in sent.items() if k in WRITES)
        print(
            f"MongoDB commands per job: {sum(sent.values()) / args.jobs:.3f}, of them writes "
            f"{writes / args.jobs:.3f} ("
            + ", ".join(f"{k} {v / args.jobs:.3f}" for k, v in sorted(sent.items()) if v)
            + ")",
            flush=True,
        )
        remove_finished(jobs)
        single = min(args.jobs, 1000)
        single_s = submit_one_by_one(jobs, single)
        wait_for(lambda: succeeded() >= single, 3600, "the single submissions")
        print(f"submitting one at a time (JobService.submit): {single / single_s:.0f}/s")
        for kind, count, threads in (
            ("thread", args.workers, args.concurrency),
            ("process", 1, args.huey_processes),
        ):
            huey_s = plain_huey_run(args.redis_uri, env, tmp, args.jobs, count, threads, kind)
            huey_rate = args.jobs / huey_s
            print(
                f"plain Huey (RedisHuey, {count} x huey_consumer -k {kind} -w {threads}): "
                f"{huey_rate:.0f} tasks/s; "
                f"platform / Huey = {platform_rate / huey_rate:.2f}",
                flush=True,
            )
        if args.trickle:
            remove_finished(jobs)
            latencies = trickle(jobs, args.trickle)
            print(
                f"submit-to-start latency, {args.trickle} single jobs: "
                f"p50 {percentile(latencies, 50):.1f} ms, "
                f"p99 {percentile(latencies, 99):.1f} ms, "
                f"mean {statistics.mean(latencies):.1f} ms",
                flush=True,
            )
        if args.rss_jobs:
            remove_finished(jobs)
            before = [rss_mb(w.pid) for w in workers]
            seconds = memory_run(jobs, args.rss_jobs)
            after = [rss_mb(w.pid) for w in workers]
            for i, (b, a) in enumerate(zip(before, after, strict=True)):
                print(
                    f"worker {i} resident memory: {b:.1f} MiB before, {a:.1f} MiB after "
                    f"{args.rss_jobs} more jobs ({args.rss_jobs / seconds:.0f} jobs/s)"
                )
        for service in started:
            peak = rss_mb(service.process.pid, "VmHWM")
            print(f"{service.name} peak resident memory: {peak:.0f} MiB")
        print(f"load average after: {os.getloadavg()}")
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(60)
        for service in started:
            service.stop()


if __name__ == "__main__":
    main()
