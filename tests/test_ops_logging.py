"""Log formats and the rotating log file, in this process (no services needed)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from jobplatform.config import Settings
from jobplatform.logs import bind, configure_logging


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, put back as it was after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    for handler in root.handlers[:]:
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_production_writes_json_lines_with_bound_and_extra_fields(root_logger):
    out = io.StringIO()
    configure_logging(Settings(app_env="production", log_format="auto"), stream=out)
    log = logging.getLogger("jobplatform.test")
    with bind(request_id="req-1"):
        log.info("hello %s", "world", extra={"job_id": "j1"})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("it failed")
    log.info("outside")
    first, failed, outside = (
        json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")
    )
    assert first["message"] == "hello world" and first["level"] == "INFO"
    assert (first["request_id"], first["job_id"], first["logger"]) == (
        "req-1",
        "j1",
        "jobplatform.test",
    )
    assert "ValueError: boom" in failed["exception"]
    assert "request_id" not in outside


def test_development_text_is_readable_and_uncoloured_off_a_terminal(root_logger):
    out = io.StringIO()
    configure_logging(
        Settings(app_env="development", log_format="auto", log_level="WARNING"), stream=out
    )
    log = logging.getLogger("jobplatform.test")
    with bind(request_id="req-2"):
        log.info("too quiet to show")
        log.warning("disk almost full")
    [line] = out.getvalue().splitlines()
    assert "WARNING jobplatform.test  disk almost full  request_id=req-2" in line
    assert "\033[" not in line


def test_log_file_rotates_and_keeps_the_configured_backups(root_logger, tmp_path):
    path = tmp_path / "logs" / "app.log"
    configure_logging(
        Settings(log_format="text", log_file=path, log_file_max_mb=1, log_file_backups=2),
        stream=io.StringIO(),
    )
    log = logging.getLogger("jobplatform.test")
    for number in range(4000):  # about 4 MiB of lines
        log.info("line %05d %s", number, "x" * 1000)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["app.log", "app.log.1", "app.log.2"]
    for file in path.parent.iterdir():
        assert file.stat().st_size <= 2**20
    last = [json.loads(line) for line in path.read_text().splitlines()][-1]
    assert last["message"].startswith("line 03999 ")  # the file is JSON even with text console
