"""`jobplatform run`: the whole platform on one machine, in the foreground until Ctrl-C.

Starts what is not configured (FerretDB when MONGO_URI is unset, the SMTP sink when
SMTP_HOST is unset), then the web process and one worker. A child that dies (a crash, the
OOM killer, a `kill -9`) is started again, after 1 s, doubling with each further death up
to 30 s; a child that then stays up a minute starts again from 1 s. Each death and restart
is logged. Ctrl-C or SIGTERM stops every child, newest first.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from jobplatform import db
from jobplatform.auth.users import admin_notice
from jobplatform.config import Settings
from jobplatform.devservices import FerretDB, ServiceProcess, SmtpSink, free_port, wait_for_port

log = logging.getLogger("jobplatform.supervisor")
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
STABLE_SECONDS = 60.0  # up this long: the next death is restarted after FIRST_BACKOFF again
POLL_SECONDS = 0.5


@dataclass
class Child:
    """A process the supervisor keeps running: `launch` starts it and returns it."""

    name: str
    launch: Callable[[], subprocess.Popen]
    service: bool = False  # a local service (stopped last), not a platform process
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    deaths: int = 0  # in a row, without a stable run between
    restart_at: float | None = None  # set while it is dead and waiting out its backoff

    def start(self) -> None:
        self.process = self.launch()
        self.started_at = time.monotonic()
        self.restart_at = None

    def watch(self, now: float) -> None:
        """Notice a death and schedule the restart; restart when the backoff is over."""
        if self.restart_at is None:
            code = self.process.poll() if self.process else None
            if code is None:
                if now - self.started_at >= STABLE_SECONDS:
                    self.deaths = 0
                return
            self._schedule(now, f"exited with code {code}")
            return
        if now < self.restart_at:
            return
        try:
            self.start()
        except Exception as exc:  # noqa: BLE001 - a failed start is one more death
            self._schedule(time.monotonic(), f"did not start again ({exc})")
            return
        log.warning("%s restarted (pid %s)", self.name, self.process.pid)

    def _schedule(self, now: float, why: str) -> None:
        delay = min(FIRST_BACKOFF_SECONDS * 2**self.deaths, MAX_BACKOFF_SECONDS)
        self.deaths += 1
        self.restart_at = now + delay
        log.warning("%s %s; restarting it in %g s", self.name, why, delay)


class Supervisor:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.env = dict(os.environ)
        self.services: list[ServiceProcess] = []
        self.children: list[Child] = []  # in start order: services, web, worker
        self.stop_requested = threading.Event()

    def keep(self, name: str, launch: Callable[[], subprocess.Popen], service=False) -> Child:
        child = Child(name, launch, service)
        child.start()
        self.children.append(child)
        return child

    def keep_service(self, name: str, service: ServiceProcess) -> None:
        self.services.append(service)
        self.keep(name, lambda: service.start().process, service=True)

    def start_dependencies(self) -> None:
        data = self.settings.data_dir
        if not self.settings.mongo_uri:
            port = 27017 if _port_free(27017) else free_port()
            ferret = FerretDB(data / "ferretdb", port)
            self.keep_service("FerretDB", ferret)
            self.env["MONGO_URI"] = f"{ferret.uri}jobplatform"
            print(f"  MongoDB   local FerretDB on 127.0.0.1:{port}, data in {ferret.data_dir}")
        else:
            print("  MongoDB   MONGO_URI")
        if not self.env.get("SMTP_HOST"):
            port = 2525 if _port_free(2525) else free_port()
            sink = SmtpSink(data / "mail", port)
            self.keep_service("SMTP sink", sink)
            self.env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_TLS="none")
            print(f"  email     local SMTP sink on 127.0.0.1:{port}, messages in {sink.data_dir}")
        queue = (
            "Redis (REDIS_URI)"
            if self.settings.redis_uri
            else f"SQLite file {data / 'queue.sqlite3'}"
        )
        print(f"  queue     {queue}")

    def create_admin(self) -> None:
        db.connect(self.settings.model_copy(update={"mongo_uri": self.env["MONGO_URI"]}))
        notice = admin_notice(self.settings.admin_password_value())
        db.disconnect()
        known = "Admin login: admin / the password set when the admin was created"
        print("\n" + textwrap.indent(notice or known, "  ") + "\n")

    def spawn(self, command: str) -> Child:
        """Keep `python -m jobplatform <command>` running."""
        return self.keep(
            f"{command} process",
            lambda: subprocess.Popen([sys.executable, "-m", "jobplatform", command], env=self.env),
        )

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stop_requested.set())
        print("jobplatform: starting")
        try:
            self.start_dependencies()
            self.create_admin()
            web = self.spawn("web")
            self.spawn("worker")
            wait_for_port(
                self.settings.port, timeout=60, process=web.process, host=self.settings.host
            )
            print(
                f"  Admin app and API: http://{self.settings.host}:{self.settings.port}\n"
                "  Press Ctrl-C to stop.",
                flush=True,
            )
            while not self.stop_requested.wait(POLL_SECONDS):
                for child in self.children:
                    if self.stop_requested.is_set():
                        break
                    child.watch(time.monotonic())
            return 0
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        print("jobplatform: stopping", flush=True)
        processes = [c.process for c in self.children if not c.service and c.process]
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 40
        for process in processes:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for service in reversed(self.services):
            service.stop()
        print("jobplatform: stopped", flush=True)


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0
