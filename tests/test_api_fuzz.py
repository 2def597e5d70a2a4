"""Hypothesis-generated input for `POST /api/jobs` and `GET /api/jobs` against the real
in-process app: whatever is sent, the answer is never a 5xx, and an error is always the
envelope (issue 16).

The job data is what an attacker would try: deep nesting, integers past 64 bits, NaN,
NUL and lone surrogates in keys and strings, encoded words and control characters in the
email fields, `$` and `.` keys. The body is written with `json.dumps` (surrogates become
`\\ud800` escapes, NaN the bare `NaN` Python's parser takes) and query strings are
percent-encoded by hand, invalid UTF-8 included, as any client could send them.
Bounded: 150 examples each, no deadline.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api_app import app_client, bearer, login
from tests.conftest import ADMIN_PASSWORD

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NASTY_TEXT = [
    "=?utf-8?q?Hello=0D=0ABcc:_victim@example.com?=",
    "=?utf-8?b?SGkNCkZyb206IGV2aWxAZXhhbXBsZS5jb20=?=",
    "a@example.com\n",
    "x\r\nBcc: victim@example.com",
    "\x00",
    "\ud800",
    "\udfff tail",
    "\u2028\u2029\x85\v\f",
    "$where",
    "a.b",
    "job:000000000000000000000000",
    "",
]
# Every code point, lone surrogates and controls included.
ANY_CHAR = st.characters(codec=None, categories=None)
text = st.text(ANY_CHAR, max_size=40) | st.sampled_from(NASTY_TEXT)
integers = st.integers() | st.sampled_from([2**63, 2**63 - 1, -(2**63), -(2**63) - 1, 10**400])
scalars = st.none() | st.booleans() | integers | st.floats() | text
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=25,
)


@st.composite
def deeply_nested(draw) -> object:
    value = draw(scalars)
    for _ in range(draw(st.integers(0, 300))):
        value = [value] if draw(st.booleans()) else {draw(text): value}
    return value


addresses = st.sampled_from(["a@example.com", "b@example.org"]) | text
email_data = st.fixed_dictionaries(
    {"recipient": addresses | st.lists(addresses, max_size=3), "subject": text},
    optional={
        "body": text,
        "cc": st.lists(addresses, max_size=3),
        "bcc": st.lists(addresses, max_size=3),
        "reply_to": addresses,
        "variables": st.dictionaries(text, json_values, max_size=3),
        "extra": json_values | deeply_nested(),
    },
)
datetimes = st.datetimes(timezones=st.none() | st.timezones()) | st.sampled_from(
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1))),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]
)
times = datetimes.map(datetime.isoformat) | text
jobs = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["sendEmail"]) | text,
        "data": email_data | st.dictionaries(text, json_values | deeply_nested(), max_size=4),
    },
    optional={
        "run_at": times,
        "delay": st.floats() | integers,
        "priority": integers,
        "idempotency_key": text,
        "max_attempts": integers,
        "timeout": st.floats(),
    },
)
list_params = st.dictionaries(
    st.sampled_from(["state", "name", "created_after", "created_before", "q", "order", "limit"])
    | st.sampled_from(["cursor", "state[$ne]"]),
    st.sampled_from(["dead", "newest", "oldest", "10", "0", "-1", str(2**64)]) | times,
    max_size=5,
)


@pytest.fixture(scope="module")
def client(mongo_uri, private_redis, tmp_path_factory):
    queue_uri = private_redis()  # no worker reads it
    with app_client(
        mongo_uri, queue_uri, tmp_path_factory.mktemp("fuzz"), api_rate_limit=0
    ) as client:
        client.headers.update(bearer(login(client, "admin", ADMIN_PASSWORD)["access_token"]))
        yield client


def assert_answered(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details"}


@FUZZ
@given(job=jobs)
def test_submitting_any_job_never_answers_5xx(client, job):
    response = client.post(
        "/api/jobs", content=json.dumps(job), headers={"Content-Type": "application/json"}
    )
    assert_answered(response)


@FUZZ
@given(params=list_params)
def test_listing_with_any_query_never_answers_5xx(client, params):
    query = "&".join(
        f"{quote(k, errors='surrogatepass')}={quote(v, errors='surrogatepass')}"
        for k, v in params.items()
    )
    assert_answered(client.get(f"/api/jobs?{query}"))
