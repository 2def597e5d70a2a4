"""The dashboard's attempts chart over 1 h, 24 h or 7 d through NiceGUI's simulated `User`,
against the real app and FerretDB: the range toggle redraws the chart at that range's
resolution, and the choice survives a reload of the page and a visit to another one."""

from __future__ import annotations

from datetime import timedelta

from nicegui.testing import User

from jobplatform.jobs.attempt_series import floor
from jobplatform.jobs.models import utcnow
from jobplatform.jobs.stats import StatsRecorder
from tests.helpers import eventually
from tests.ui.test_ui_pages import account, log_in


def element(user: User, marker: str):
    [found] = user.find(marker=marker).elements
    return found


def shows(chart, buckets: int, label: str, outcome: int, n: int) -> bool:
    """The chart has `buckets` bars and the one labelled `label` counts `n` of the series
    `outcome` (0 succeeded, 1 failed attempts, 2 dead)."""
    labels = chart.options["xAxis"]["data"]
    return (
        len(labels) == buckets
        and label in labels
        and chart.options["series"][outcome]["data"][labels.index(label)] == n
    )


async def test_the_range_toggle_redraws_the_chart_and_is_remembered(user: User) -> None:
    now = utcnow()
    three_hours_ago, three_days_ago = now - timedelta(hours=3), now - timedelta(days=3)
    recorder = StatsRecorder()
    for _ in range(4):
        recorder.ended("sendEmail", "succeeded", three_hours_ago)
    for _ in range(2):
        recorder.ended("sendEmail", "dead", three_days_ago)
    recorder.close()
    quarter = floor(three_hours_ago, timedelta(minutes=15)).strftime("%H:%M")
    hour = floor(three_days_ago, timedelta(hours=1)).strftime("%m-%d %H:%M")

    await log_in(user, account("rhea", "viewer"))
    chart = element(user, "throughput-chart")
    await eventually(lambda: len(chart.options["xAxis"]["data"]) == 60, message="the last hour")

    element(user, "attempts-range").value = "24h"
    await user.should_see("Attempts per 15 minutes, last 24 hours")
    await eventually(lambda: shows(chart, 96, quarter, 0, 4), message="24 hours by quarter")

    await user.open("/")  # a reload keeps the choice
    assert element(user, "attempts-range").value == "24h"
    await user.should_see("Attempts per 15 minutes, last 24 hours")
    chart = element(user, "throughput-chart")
    await eventually(lambda: shows(chart, 96, quarter, 0, 4), message="24 hours after a reload")

    element(user, "attempts-range").value = "7d"
    await user.should_see("Attempts per hour, last 7 days")
    await eventually(lambda: shows(chart, 168, hour, 2, 2), message="7 days by hour")

    await user.open("/jobs")
    await user.open("/")
    assert element(user, "attempts-range").value == "7d"
    chart = element(user, "throughput-chart")
    await eventually(lambda: shows(chart, 168, hour, 2, 2), message="7 days after another page")
