"""What a processor reports (jobplatform/plugins/report.py), without services: ctx.progress
refuses bad numbers, ctx.log keeps lines within their caps with a note of what it
dropped, and only what changed since the last stored write is pending."""

from __future__ import annotations

import logging
import math
import re

import pytest

from jobplatform.plugins import JobContext
from jobplatform.plugins.report import LOG_CHARS, LOG_LINE_CHARS, LOG_LINES


def context(attempt: int = 1) -> JobContext:
    return JobContext(
        job_id="j1",
        job_type="t",
        data={},
        attempt=attempt,
        max_attempts=3,
        idempotency_key="k",
        settings={},
        logger=logging.LoggerAdapter(logging.getLogger("tests.report"), {"job_id": "j1"}),
    )


def messages(ctx: JobContext) -> list[str]:
    return [line["message"] for line in ctx.report.lines()]


def test_progress_is_kept_as_given_with_its_attempt():
    ctx = context(attempt=2)
    ctx.progress(3, 10, "copying")
    assert {k: v for k, v in ctx.report.progress.items() if k != "at"} == {
        "done": 3,
        "total": 10,
        "message": "copying",
        "attempt": 2,
    }
    assert type(ctx.report.progress["done"]) is int

    ctx.progress(0.5)
    assert ctx.report.progress["done"] == 0.5
    assert ctx.report.progress["total"] is None
    ctx.progress(0, 0)  # nothing to do is done
    ctx.progress(7, message="x" * 1000)
    assert len(ctx.report.progress["message"]) <= 500


@pytest.mark.parametrize(
    ("done", "total", "error", "says"),
    [
        (-1, None, ValueError, "done must be 0 or more, not -1"),
        (1, -5, ValueError, "total must be 0 or more, not -5"),
        (11, 10, ValueError, "done (11) must not be more than total (10)"),
        (math.nan, None, ValueError, "done must be a finite number"),
        (1, math.inf, ValueError, "total must be a finite number"),
        (2**70, None, ValueError, "done must be below 2**63"),
        ("3", None, TypeError, "done must be a number, not str"),
        (True, None, TypeError, "done must be a number, not bool"),
        (1, "10", TypeError, "total must be a number, not str"),
    ],
)
def test_bad_progress_is_refused_and_changes_nothing(done, total, error, says):
    ctx = context()
    ctx.progress(1, 10)
    before = ctx.report.progress

    with pytest.raises(error, match="^" + re.escape(f"progress: {says}")):
        ctx.progress(done, total)

    assert ctx.report.progress is before


def test_log_lines_keep_level_time_and_message_formatted_like_logging(caplog):
    ctx = context()
    with caplog.at_level(logging.DEBUG, logger="tests.report"):
        ctx.log.debug("read %d rows from %s", 12, "a.csv")
        ctx.log.warning("%(n)s left", {"n": 3})
        ctx.log.error("bad format %d", "not a number")  # logged anyway, never raised
        try:
            raise KeyError("missing")
        except KeyError:
            ctx.log.exception("could not go on")

    lines = ctx.report.lines()
    assert [line["level"] for line in lines] == ["debug", "warning", "error", "error"]
    assert lines[0]["message"] == "read 12 rows from a.csv"
    assert lines[1]["message"] == "3 left"
    assert lines[2]["message"].startswith("bad format %d")
    assert lines[3]["message"].startswith("could not go on\nTraceback")
    assert "KeyError: 'missing'" in lines[3]["message"]
    assert all(line["at"] is not None for line in lines)
    # the worker's log has them too, with the job's fields
    assert "read 12 rows from a.csv" in caplog.messages
    assert all(r.job_id == "j1" for r in caplog.records if r.name == "tests.report")


def test_an_attempt_keeps_its_last_lines_after_a_note_of_the_dropped():
    ctx = context()
    for n in range(LOG_LINES + 50):
        ctx.log.info("line %d", n)

    kept = messages(ctx)

    assert len(kept) == LOG_LINES + 1
    assert kept[0] == (
        f"50 earlier lines dropped (an attempt keeps its last {LOG_LINES} lines, "
        f"{LOG_CHARS:,} characters in all)"
    )
    assert kept[1] == "line 50"
    assert kept[-1] == f"line {LOG_LINES + 49}"


def test_a_long_line_is_cut_and_all_lines_stay_within_their_characters():
    ctx = context()
    ctx.log.info("z" * 5000)
    [line] = messages(ctx)
    assert len(line) <= LOG_LINE_CHARS
    assert line.startswith("z" * 1900)
    assert line.endswith("more characters cut)")

    for _ in range(60):
        ctx.log.info("w" * LOG_LINE_CHARS)
    kept = messages(ctx)
    assert sum(len(m) for m in kept[1:]) <= LOG_CHARS
    assert kept[0].startswith(f"{61 - (len(kept) - 1)} earlier lines dropped")


def test_text_mongodb_cannot_store_is_replaced():
    ctx = context()
    ctx.log.info("half a pair \ud800 here")
    ctx.progress(1, message="\udfff")
    assert messages(ctx) == ["half a pair ? here"]
    assert ctx.report.progress["message"] == "?"


def test_only_what_changed_since_the_last_write_is_pending():
    ctx = context()
    assert ctx.report.pending()[1] == {}

    ctx.progress(1, 4)
    ctx.log.info("one")
    version, fields = ctx.report.pending()
    assert set(fields) == {"progress", "live_log"}
    assert [line["message"] for line in fields["live_log"]] == ["one"]
    ctx.report.written(version)
    assert ctx.report.pending()[1] == {}

    ctx.progress(2, 4)
    version, fields = ctx.report.pending()
    assert set(fields) == {"progress"}
    ctx.log.info("two")  # after the snapshot: still pending once that one is stored
    ctx.report.written(version)
    assert set(ctx.report.pending()[1]) == {"live_log"}
