"""Schemathesis against the OpenAPI document: generated requests to every /api operation
find no 5xx and no response that breaks the document (status, content type, schema).

It runs against a web process of its own, on a database of its own, as an admin API
token, so generated requests that create users or change passwords touch nothing else.
Bounded: a few examples per operation, no deadline.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_app import bearer
from tests.conftest import ADMIN_PASSWORD, start_web, stop


@pytest.fixture(scope="module")
def fuzz_web(platform_env, mongo_server, private_redis, tmp_path_factory) -> Iterator[str]:
    env = {
        **platform_env,
        "MONGO_URI": f"{mongo_server}fuzz_{uuid.uuid4().hex[:8]}",
        "REDIS_URI": private_redis(),
        "LOGIN_RATE_LIMIT_IP": "0",
    }
    process, url = start_web(env, tmp_path_factory.mktemp("fuzz") / "web.log")
    yield url
    stop(process)


@pytest.fixture(scope="module")
def fuzz_token(fuzz_web) -> str:
    login = httpx.post(
        f"{fuzz_web}/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()
    created = httpx.post(
        f"{fuzz_web}/api/tokens",
        headers=bearer(login["access_token"]),
        json={"name": "schemathesis", "role": "admin"},
    )
    assert created.status_code == 201, created.text
    return created.json()["token"]


@pytest.fixture(scope="module")
def api_schema(fuzz_web):
    return schemathesis.openapi.from_url(f"{fuzz_web}/api/openapi.json").include(
        path_regex="^/api/"
    )


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_generated_requests_get_documented_answers(api_schema, fuzz_token):
    """(Schemathesis's own pytest plugin does not run under this pytest, so the operations
    are walked here, each with its own bounded Hypothesis run.)"""
    failures, operations = {}, 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case):
            case.call_and_validate(headers=bearer(fuzz_token), checks=CHECKS)

        try:
            call()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported below
            failures[operation.label] = str(exc)[:2000]
    assert operations >= 15
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
