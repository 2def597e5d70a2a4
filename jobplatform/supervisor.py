"""`jobplatform run`: the whole platform on one machine, in the foreground until Ctrl-C.

Starts what is not configured (FerretDB when MONGO_URI is unset, the SMTP sink when
SMTP_HOST is unset), then the web process and one worker. Ctrl-C or SIGTERM stops every
child, newest first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from jobplatform import db
from jobplatform.auth.users import ensure_admin
from jobplatform.config import Settings
from jobplatform.devservices import FerretDB, ServiceProcess, SmtpSink, free_port, wait_for_port


class Supervisor:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.env = dict(os.environ)
        self.services: list[ServiceProcess] = []
        self.children: list[subprocess.Popen] = []
        self.stop_requested = threading.Event()

    def start_dependencies(self) -> None:
        data = self.settings.data_dir
        if not self.settings.mongo_uri:
            port = 27017 if _port_free(27017) else free_port()
            ferret = FerretDB(data / "ferretdb", port).start()
            self.services.append(ferret)
            self.env["MONGO_URI"] = f"{ferret.uri}jobplatform"
            print(f"  MongoDB   local FerretDB on 127.0.0.1:{port}, data in {ferret.data_dir}")
        else:
            print("  MongoDB   MONGO_URI")
        if not self.env.get("SMTP_HOST"):
            port = 2525 if _port_free(2525) else free_port()
            sink = SmtpSink(data / "mail", port).start()
            self.services.append(sink)
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
        secret = self.settings.admin_password
        generated = ensure_admin(secret.get_secret_value() if secret else None)
        db.disconnect()
        if generated:
            print(
                f"\n  Admin login: admin / {generated}\n"
                "  (generated now and shown only this once; only its hash is stored)\n"
            )
        else:
            print("\n  Admin login: admin / the password set when the admin was created\n")

    def spawn(self, *args: str) -> subprocess.Popen:
        child = subprocess.Popen([sys.executable, "-m", "jobplatform", *args], env=self.env)
        self.children.append(child)
        return child

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stop_requested.set())
        print("jobplatform: starting")
        try:
            self.start_dependencies()
            self.create_admin()
            web = self.spawn("web")
            self.spawn("worker")
            wait_for_port(self.settings.port, timeout=60, process=web, host=self.settings.host)
            print(
                f"  Admin app and API: http://{self.settings.host}:{self.settings.port}\n"
                "  Press Ctrl-C to stop.",
                flush=True,
            )
            while not self.stop_requested.wait(0.5):
                exited = [c for c in self.children if c.poll() is not None]
                if exited:
                    print(
                        f"jobplatform: {exited[0].args[3]} exited with code "
                        f"{exited[0].returncode}; stopping",
                        file=sys.stderr,
                    )
                    return 1
            return 0
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        print("jobplatform: stopping", flush=True)
        for child in reversed(self.children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 40
        for child in self.children:
            try:
                child.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for service in reversed(self.services):
            service.stop()
        print("jobplatform: stopped", flush=True)


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0
