"""A local SMTP server that accepts every message and stores it as an .eml file.

`make run` starts it when no SMTP server is configured, so the email job works on a
fresh machine: open var/mail/ to read what was sent.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller


class MailDirHandler:
    def __init__(self, directory: Path):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        with self.lock:
            self.count += 1
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{self.count:05d}.eml"
        header = f"X-Envelope-From: {envelope.mail_from}\r\n" + "".join(
            f"X-Envelope-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos
        )
        (self.directory / name).write_bytes(header.encode() + envelope.original_content)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(MailDirHandler(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
