"""GET /api/stats?range=1h|24h|7d on an app in this process, with a database of its own:
counters written through the stats recorder for past times appear in each range's bucket
of that time; the default range answers what it did before; a bad range is a 422."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from jobplatform.jobs.attempt_series import floor
from jobplatform.jobs.models import utcnow
from jobplatform.jobs.stats import StatsRecorder
from tests.api_app import app_client, bearer, login
from tests.conftest import ADMIN_PASSWORD


@pytest.fixture(scope="module")
def client(mongo_server, private_redis, tmp_path_factory):
    mongo = f"{mongo_server}api_stats_{uuid.uuid4().hex[:8]}"
    with app_client(mongo, private_redis(), tmp_path_factory.mktemp("data")) as client:
        client.headers.update(bearer(login(client, "admin", ADMIN_PASSWORD)["access_token"]))
        yield client


def bucket(answer: dict, start) -> dict:
    [found] = [b for b in answer["attempts"]["buckets"] if b["start"] == start]
    return found


def iso(at) -> str:
    return at.isoformat(timespec="minutes") + "Z"


def test_each_range_answers_its_buckets_and_the_default_is_the_last_hour(client):
    now = utcnow()
    times = {"hour": now - timedelta(minutes=20), "day": now - timedelta(hours=20)}
    times["week"] = now - timedelta(days=5)
    recorder = StatsRecorder()
    for outcome, n in (("succeeded", 3), ("failed", 2), ("dead", 1)):
        for at in times.values():
            for _ in range(n):
                recorder.ended("sendEmail", outcome, at)
    recorder.close()
    written = {"succeeded": 3, "failed": 2, "dead": 1, "cancelled": 0}

    default = client.get("/api/stats").json()
    assert default["attempts"]["range"] == "1h" and default["attempts"]["bucket_seconds"] == 60
    assert len(default["last_hour"]["minutes"]) == 60  # what clients read before ranges
    minute = floor(times["hour"], timedelta(minutes=1))
    assert bucket(default, iso(minute)) == {"start": iso(minute), **written}
    assert default["last_hour"]["totals"] == default["attempts"]["totals"] == written

    day = client.get("/api/stats", params={"range": "24h"}).json()
    assert (day["attempts"]["bucket_seconds"], len(day["attempts"]["buckets"])) == (900, 96)
    for at in (times["hour"], times["day"]):
        quarter = floor(at, timedelta(minutes=15))
        assert bucket(day, iso(quarter)) == {"start": iso(quarter), **written}
    assert day["last_hour"] == default["last_hour"]

    week = client.get("/api/stats", params={"range": "7d"}).json()
    assert (week["attempts"]["bucket_seconds"], len(week["attempts"]["buckets"])) == (3600, 168)
    for at in times.values():
        hour = floor(at, timedelta(hours=1))
        assert bucket(week, iso(hour)) == {"start": iso(hour), **written}
    assert week["attempts"]["totals"] == {o: 3 * n for o, n in written.items()}
    assert week["attempts"]["failure_rate"] == 0.4


@pytest.mark.parametrize("bad", ["2w", "", "1H", "24 h", "7d" * 40, "\u00e9t\u00e9"])
def test_an_unknown_range_is_refused_in_the_envelope(client, bad):
    response = client.get("/api/stats", params={"range": bad})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert "use one of 1h, 24h, 7d" in error["message"]
    assert list(error["details"]) == ["range"]
