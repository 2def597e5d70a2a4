"""Real HTTP receivers on loopback for the webhook tests: a threaded `http.server` that
records every request and answers the statuses it is given, or holds each request
unanswered until the test lets it go."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jobplatform.devservices import free_port
from tests.helpers import wait_until


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Listener:
    """Answers each request with the next of `statuses` (then the last one for ever); with
    `hold=True` it reads each request and keeps the connection open without answering
    until `release()`."""

    def __init__(self, statuses: Iterable[int] = (200,), *, hold: bool = False):
        self.statuses = list(statuses)
        self.hold = hold
        self.requests: list[Received] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = listener._take(Received(self.path, dict(self.headers), body))
                if listener.hold:
                    listener.released.wait()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _take(self, request: Received) -> int:
        with self._lock:
            self.requests.append(request)
            index = min(len(self.requests), len(self.statuses)) - 1
            return self.statuses[index]

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        """Wait until `count` requests arrived; return them."""
        return wait_until(
            lambda: len(self.received()) >= count and self.received(),
            timeout=timeout,
            message=f"{count} webhook requests at {self.url}",
        )

    def release(self) -> None:
        self.released.set()

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
