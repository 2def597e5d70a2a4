"""Local service processes for one machine and for tests: FerretDB, redis-server, the SMTP sink.

Each runs as a child process on a loopback port, with its data in a directory it is given.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

FERRETDB_VERSION = "v1.24.2"
# Bumped whenever scripts/build-ferretdb.sh changes what it builds, so caches rebuild.
FERRETDB_BUILD = "jp13"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int,
    *,
    timeout: float = 30.0,
    process: subprocess.Popen | None = None,
    host: str = "127.0.0.1",
) -> None:
    """Wait until something accepts connections on host:port, or raise with the reason."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with code {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout:g}s")


def ferretdb_binary() -> Path:
    """Where the FerretDB server built by `scripts/build-ferretdb.sh` lives."""
    if os.environ.get("FERRETDB_BIN"):
        return Path(os.environ["FERRETDB_BIN"])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "jobplatform" / f"ferretdb-{FERRETDB_VERSION}-{FERRETDB_BUILD}"


class ServiceProcess:
    """A server child process bound to a loopback port; stop() ends it."""

    name = "service"

    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        """The child's environment; None: this process's."""
        return None

    def start(self, timeout: float = 30.0) -> ServiceProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / f"{self.name}.log", "ab")
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.data_dir,
            env=self.environment(),
        )
        log.close()
        try:
            wait_for_port(self.port, timeout=timeout, process=self.process)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """End the process at once, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class FerretDB(ServiceProcess):
    name = "ferretdb"

    @staticmethod
    def sqlite_sync() -> str:
        """SQLite's `synchronous` setting, from FERRETDB_SQLITE_SYNC: `normal` or `full`.

        FerretDB 1.24 puts its databases in WAL mode but leaves `synchronous` at SQLite's
        default, FULL, which syncs the log to disk at every commit. NORMAL syncs it only at
        checkpoints: a crashed process loses nothing, a power loss can lose the last
        commits (as MongoDB's default write concern can).
        """
        mode = os.environ.get("FERRETDB_SQLITE_SYNC", "normal").strip().lower() or "normal"
        if mode not in ("normal", "full"):
            raise ValueError(f"FERRETDB_SQLITE_SYNC must be normal or full (got {mode!r})")
        return mode

    def environment(self) -> dict[str, str]:
        """Go's collector set for FerretDB's garbage: it allocates and drops about a
        document's size for every document it touches, and at Go's default (GOGC=100)
        collecting took an eighth of its CPU. GOGC=400 lets the heap grow to five times
        what is live before a collection, and GOMEMLIMIT makes the collector work harder
        as the heap nears 1 GiB. Either variable set in the environment wins."""
        return {"GOGC": "400", "GOMEMLIMIT": "1GiB", **os.environ}

    def command(self) -> list[str]:
        binary = ferretdb_binary()
        if not binary.exists():
            raise FileNotFoundError(f"{binary} is missing; build it with scripts/build-ferretdb.sh")
        # modernc's SQLite driver runs each `_pragma` on every connection it opens; FerretDB
        # adds its own defaults (busy_timeout, journal_mode(wal), auto_vacuum) after ours.
        sync = self.sqlite_sync()
        return [
            str(binary),
            "--handler=sqlite",
            f"--sqlite-url=file:{self.data_dir.resolve()}/?_pragma=synchronous({sync})",
            f"--listen-addr=127.0.0.1:{self.port}",
            "--debug-addr=-",
            "--telemetry=disable",
            f"--state-dir={self.data_dir.resolve()}",
            "--log-level=warn",
        ]

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"


class RedisServer(ServiceProcess):
    name = "redis"

    def __init__(self, data_dir: Path, port: int | None = None, databases: int = 16):
        super().__init__(data_dir, port)
        self.databases = databases

    def command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is missing; apt-get install redis-server")
        return [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir.resolve()),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--databases",
            str(self.databases),
        ]

    @property
    def uri(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class SmtpSink(ServiceProcess):
    """`python -m jobplatform.smtp_sink`: accepts any mail and keeps it as .eml files."""

    name = "smtp-sink"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "jobplatform.smtp_sink",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir.resolve()),
        ]
