"""The plugin_template plugin loads in a plugin host, and its processor does its work."""

from __future__ import annotations

import logging

import pytest
from cerberus import Validator
from jobplatform_plugin_template import plugin

from jobplatform.plugins import JobContext, PermanentError
from jobplatform.plugins.host import build_host


def context(data: dict, settings: dict | None = None) -> JobContext:
    """A job context as a worker gives it, with the data normalised as the platform would."""
    validator = Validator(plugin.DATA_SCHEMA)
    assert validator.validate(data), validator.errors
    return JobContext(
        job_id="test",
        job_type="pluginTemplate",
        data=validator.document,
        attempt=1,
        max_attempts=3,
        idempotency_key="test",
        settings=settings or {"greeting": "Hello"},
        logger=logging.getLogger("test"),
    )


def run(data: dict, settings: dict | None = None) -> dict:
    """Run the processor once."""
    return plugin.greet(context(data, settings))


def test_plugin_loads_and_offers_its_job_type():
    host = build_host(entry_points=False, plugins={"plugin_template": plugin})

    record = host.plugins["plugin_template"]
    assert (record.status, record.error) == ("loaded", None)
    assert record.job_types == ["pluginTemplate"]
    assert host.job_type("pluginTemplate").retry.max_attempts == 3


def test_processor_greets_by_name_and_reports_on_its_attempt():
    ctx = context({"name": "Ada"})
    assert plugin.greet(ctx) == {"message": "Hello, Ada!"}
    assert run({"name": "Ada", "shout": True}, {"greeting": "Hi"}) == {"message": "HI, ADA!"}
    # what the admin app and GET /api/jobs/{id} will show for this attempt
    assert ctx.report.progress["done"] == ctx.report.progress["total"] == 1
    assert ctx.report.progress["message"] == "greeted"
    assert [line["message"] for line in ctx.report.lines()] == ["greeting Ada (attempt 1 of 3)"]


def test_schema_refuses_data_without_a_name():
    validator = Validator(plugin.DATA_SCHEMA)
    assert not validator.validate({"shout": True})
    assert validator.errors == {"name": ["required field"]}


def test_nobody_fails_permanently():
    with pytest.raises(PermanentError, match="nobody"):
        run({"name": "nobody"})
