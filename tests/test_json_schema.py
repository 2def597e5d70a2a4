"""Job data as JSON Schema (issue 15): the schema GET /api/job-types/NAME/schema serves
accepts exactly the data the platform's own validation accepts (`JobService.validate`,
the path every submission takes), for the shipped job types and for one synthetic job
type a cerberus rule; what it cannot express, its description names. The OpenAPI
document carries the schemas and the job submission body refers to them."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys

import jsonschema
import pytest
import referencing
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from jobplatform.jobs.errors import InvalidJobData
from tests.api_app import app_client, bearer, login, new_user
from tests.conftest import ADMIN_PASSWORD, ROOT
from tests.plugins.schema_rules import NAMED, RULES

sys.path.insert(0, str(ROOT / "plugins" / "_template"))  # the template is not installed
PLUGINS = "tests.plugins.testjobs,tests.plugins.schema_rules,jobplatform_plugin_template.plugin"
EMAIL = {"recipient": "a@example.com", "subject": "Hi"}

# The shipped job types: data the platform takes, data it refuses.
SHIPPED: dict[str, tuple[list, list]] = {
    "sendEmail": (
        [
            EMAIL,
            {**EMAIL, "recipient": ["a@example.com", "b@example.org"]},
            {**EMAIL, "cc": ["c@example.com"], "bcc": [], "reply_to": "r@example.com"},
            {**EMAIL, "body": "text", "html": "<p>x</p>", "variables": {"name": {"k": [1]}}},
        ],
        [
            {"subject": "Hi"},
            {"recipient": "a@example.com"},
            {**EMAIL, "subject": ""},
            {**EMAIL, "subject": "x" * 999},
            {**EMAIL, "recipient": "not-an-address"},
            {**EMAIL, "recipient": "a@example.com\n"},
            {**EMAIL, "recipient": "=?utf-8?q?x?=@example.com"},
            {**EMAIL, "recipient": []},
            {**EMAIL, "recipient": ["a@example.com", "bad"]},
            {**EMAIL, "recipient": None},
            {**EMAIL, "cc": ["c@example.com"] * 101},
            {**EMAIL, "colour": "red"},
            {**EMAIL, "body": 1},
            {**EMAIL, "variables": {"1st": "x"}},
            {**EMAIL, "variables": {"a": {"$gt": 1}}},
        ],
    ),
    "pluginTemplate": (
        [{"name": "Ann"}, {"name": "Ann", "shout": True}, {"name": "Ann", "shout": None}],
        [{}, {"name": ""}, {"name": "x" * 101}, {"name": "Ann", "shout": "yes"}, {"name": 1}],
    ),
    "test.noop": ([{}], [{"x": 1}]),
    "test.flaky": (
        [{"fail_times": 0}, {"fail_times": 3}],
        [{}, {"fail_times": -1}, {"fail_times": "1"}, {"fail_times": 2**63}, {"fail_times": None}]
        + [{"fail_times": True}],
    ),
    "test.hold": (
        [{"started": "a", "release": "b"}, {"started": "a", "release": "b", "done": "c"}],
        [{"started": "a"}, {"started": "a", "release": "b", "done": 1}],
    ),
    "test.touch": ([{"path": "p"}], [{}, {"path": None}]),
    "test.permanent": ([{}], [{"path": "p"}]),
}
SHIPPED_NAMED = {
    "sendEmail": ({**EMAIL, "subject": "Hi\r\nBcc: x@example.com"}, "subject: check_with"),
    "test.flaky": ({"fail_times": 1.0}, "(1.0, 1e3)"),
}


def cases(tables: dict[str, tuple[list, list]], prefix: str = "") -> list:
    return [
        pytest.param(
            f"{prefix}{name}", data, ok, id=f"{prefix}{name}-{index}-{'ok' if ok else 'no'}"
        )
        for name, (good, bad) in tables.items()
        for ok, documents in ((True, good), (False, bad))
        for index, data in enumerate(documents)
    ]


@pytest.fixture(scope="module")
def client(mongo_uri, private_redis, tmp_path_factory):
    queue_uri = private_redis()  # no worker reads it
    data_dir = tmp_path_factory.mktemp("json_schema")
    with app_client(mongo_uri, queue_uri, data_dir, extra_plugins=PLUGINS) as client:
        client.headers.update(bearer(login(client, "admin", ADMIN_PASSWORD)["access_token"]))
        yield client


@pytest.fixture(scope="module")
def served(client):
    """The served schema of a job type, fetched once."""
    fetched: dict[str, dict] = {}

    def schema(name: str) -> dict:
        if name not in fetched:
            response = client.get(f"/api/job-types/{name}/schema")
            assert response.status_code == 200, response.text
            fetched[name] = response.json()
            jsonschema.Draft202012Validator.check_schema(fetched[name])
        return fetched[name]

    return schema


def platform_takes(client, name: str, data: dict) -> bool:
    """Whether the platform's own validation, the one every submission goes through,
    takes `data`."""
    try:
        client.app.state.services.jobs.validate(name, data)
    except InvalidJobData:
        return False
    return True


def schema_takes(schema: dict, data: dict) -> bool:
    return _validator(json.dumps(schema)).is_valid(data)


@functools.cache
def _validator(schema: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(schema))


def as_sent(data: dict) -> dict:
    """`data` as the API reads it from a request body."""
    return json.loads(json.dumps(data))


@pytest.mark.parametrize(
    ("name", "data", "ok"),
    cases(SHIPPED) + cases({n: (good, bad) for n, (_, good, bad) in RULES.items()}, "rule."),
)
def test_the_served_schema_takes_what_the_platform_takes(client, served, name, data, ok):
    data = as_sent(data)
    assert platform_takes(client, name, data) is ok  # the table says what the platform does
    assert schema_takes(served(name), data) is ok


@pytest.mark.parametrize(
    ("name", "data", "ok", "words"),
    [
        pytest.param(f"rule.{name}", data, ok, words, id=name)
        for name, (_, data, ok, words) in NAMED.items()
    ]
    + [
        pytest.param(name, data, False, words, id=name)
        for name, (data, words) in SHIPPED_NAMED.items()
    ],
)
def test_what_the_schema_cannot_say_its_description_names(client, served, name, data, ok, words):
    data = as_sent(data)
    schema = served(name)
    assert platform_takes(client, name, data) is ok
    assert schema_takes(schema, data) is not ok
    assert words in schema["description"]


def test_every_job_type_has_a_valid_schema_agreeing_on_common_data(client, served):
    names = [t["name"] for t in client.get("/api/job-types").json()["job_types"]]
    assert {"sendEmail", "pluginTemplate", "test.noop"} <= set(names)
    for name in names:
        for data in ({}, {"unknown_field": 1}, {"$where": 1}):
            assert schema_takes(served(name), data) is platform_takes(client, name, data), (
                name,
                data,
            )


def test_labels_help_and_defaults_are_annotations(served):
    field = served("rule.meta")["properties"]["v"]
    assert (field["title"], field["description"]) == ("V", "a letter")
    assert served("pluginTemplate")["properties"]["shout"]["default"] is False
    subject = served("sendEmail")["properties"]["subject"]
    assert "check_with check_subject" in subject["description"]


def test_any_logged_in_user_reads_a_schema_and_a_stranger_does_not(client):
    token = login(client, "admin", ADMIN_PASSWORD)["access_token"]
    viewer, password = new_user(client, token, "viewer")
    viewer_token = login(client, viewer, password)["access_token"]
    response = client.get("/api/job-types/sendEmail/schema", headers=bearer(viewer_token))
    assert response.status_code == 200
    assert response.json()["properties"]["recipient"]["title"] == "To"
    anonymous = client.get("/api/job-types/sendEmail/schema", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert set(anonymous.json()["error"]) == {"code", "message", "details"}


def test_an_unknown_job_type_is_404_in_the_envelope(client):
    response = client.get("/api/job-types/sendFax/schema")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unknown_job_type"
    assert "sendEmail" in error["details"]["known"]


@pytest.fixture(scope="module")
def openapi(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_openapi_document_holds_each_job_types_data_schema(openapi, served):
    schemas = openapi["components"]["schemas"]
    for name in ("sendEmail", "pluginTemplate", "test.flaky", "rule.untyped"):
        own = served(name)
        component = schemas[f"JobData.{name}"]
        expected = {k: v for k, v in own.items() if k not in ("$schema", "$defs")}
        rebased = json.dumps(expected).replace("#/$defs/", "#/components/schemas/")
        assert component == json.loads(rebased)
    assert "JobDataValue" in schemas


def test_the_submission_body_refers_to_the_data_schemas_by_job_type(openapi):
    schemas = openapi["components"]["schemas"]
    body = openapi["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"] == "#/components/schemas/JobRequest"
    request = schemas["JobRequest"]
    mapping = request["discriminator"]["mapping"]
    assert request["discriminator"]["propertyName"] == "name"
    assert mapping["sendEmail"] == "#/components/schemas/JobRequest.sendEmail"
    assert {"$ref": mapping["sendEmail"]} in request["oneOf"]
    variant = schemas["JobRequest.sendEmail"]
    assert variant["properties"]["name"]["const"] == "sendEmail"
    assert variant["properties"]["data"]["$ref"] == "#/components/schemas/JobData.sendEmail"
    assert "delay" in variant["properties"] and "idempotency_key" in variant["properties"]
    batch = schemas["BatchRequest"]["properties"]["jobs"]["items"]
    assert batch["$ref"] == "#/components/schemas/JobRequest"


def test_a_client_validates_a_submission_with_the_openapi_document(openapi):
    """What a generated client in another language does: check the body against the
    document's JobRequest before sending it."""
    resource = referencing.Resource.from_contents(
        openapi, default_specification=referencing.jsonschema.DRAFT202012
    )
    registry = referencing.Registry().with_resource("urn:openapi", resource)
    validator = jsonschema.Draft202012Validator(
        {"$ref": "urn:openapi#/components/schemas/JobRequest"}, registry=registry
    )
    assert validator.is_valid({"name": "sendEmail", "data": EMAIL, "delay": 5})
    assert validator.is_valid({"name": "test.flaky", "data": {"fail_times": 2}})
    assert not validator.is_valid({"name": "sendEmail", "data": {**EMAIL, "recipient": "x"}})
    assert not validator.is_valid({"name": "test.flaky", "data": {"fail_times": -1}})
    assert not validator.is_valid({"name": "sendFax", "data": {}})
    assert not validator.is_valid({"name": "sendEmail", "data": EMAIL, "delay": -1})


KEYS = st.sampled_from(["v", "w", "a", "b", "k", "c", "ab", "Ab", "$x", "a.b", "", "x"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.sampled_from([0, 1, -1, 5, 10, 11])
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
    | st.sampled_from(["", "a", "b", "ab", "abc", "abc\n", "root", "1 2", "aB", "\u0661 2"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)


@settings(
    max_examples=int(os.environ.get("JSON_SCHEMA_EXAMPLES", 600)),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(sorted(RULES)),
    data=st.fixed_dictionaries({}, optional={"v": VALUES, "w": VALUES})
    | st.dictionaries(KEYS, VALUES, max_size=3),
)
def test_on_any_data_the_schema_and_the_platform_agree(client, served, name, data):
    """Beyond the tables: random data of every JSON kind (whole numbers written as floats,
    lone surrogates and integers beyond 64 bits left out: the descriptions name those)."""
    try:
        platform = platform_takes(client, f"rule.{name}", data)
    except TypeError:  # cerberus's contains and forbidden fail on a list holding a list
        reject()
    assert schema_takes(served(f"rule.{name}"), data) is platform


ECMA_CHECK = """
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const answers = cases.map(([pattern, texts]) => {
  try { const re = new RegExp(pattern, 'u'); return texts.map((t) => re.test(t)); }
  catch (e) { return String(e); }
});
process.stdout.write(JSON.stringify(answers));
"""


def patterns(schema) -> list[str]:
    if isinstance(schema, dict):
        own = [schema["pattern"]] if isinstance(schema.get("pattern"), str) else []
        return own + [p for value in schema.values() for p in patterns(value)]
    if isinstance(schema, list):
        return [p for value in schema for p in patterns(value)]
    return []


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node, an ECMA-262 engine")
def test_the_patterns_mean_the_same_to_an_ecma_262_engine(client, served):
    """JSON Schema's patterns are ECMA-262 (`u` flag): each served pattern compiles in
    node, and matches there what Python's re (so the platform) matches."""
    names = [t["name"] for t in client.get("/api/job-types").json()["job_types"]]
    texts = ["", "a", "abc", "abc\n", "abc\n\n", "Abc", "a\nb", "a\rb", "1 2", "1\ufeff2"]
    texts += ["\u0661\u00a02", "aB", "a@example.com", "a@example.com\n", "=?x?q?y?=@b.c"]
    found = sorted({p for name in names for p in patterns(served(name))})
    assert len(found) >= 8
    cases = [[pattern, texts] for pattern in found]
    answer = subprocess.run(
        ["node", "-e", ECMA_CHECK], input=json.dumps(cases), capture_output=True, text=True
    )
    assert answer.returncode == 0, answer.stderr
    for pattern, matched in zip(found, json.loads(answer.stdout), strict=True):
        assert matched == [re.search(pattern, t) is not None for t in texts], pattern
