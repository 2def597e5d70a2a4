"""/api/schedules in-process (real FerretDB and Redis): create, read, change and delete,
the roles, 404/409/422 in the error envelope with nothing stored, the last job fired,
and a plugin's default schedule appearing disabled when the web app starts."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from jobplatform import db
from jobplatform.config import load_settings
from jobplatform.jobs.schedules import Schedule, ScheduleService
from jobplatform.plugins.hookspecs import hookimpl
from jobplatform.plugins.host import build_host
from jobplatform.plugins.manifest import load_manifest
from jobplatform.services import build_services
from jobplatform.web import create_app
from tests.api_app import JWT_SECRET, bearer, login, new_user
from tests.conftest import ADMIN_PASSWORD, ROOT


class NightlyPlugin:
    @hookimpl
    def default_schedules(self):
        return [
            {
                "name": "nightly-report",
                "job_type": "sendEmail",
                "data": {"recipient": "ops@example.com", "subject": "Nightly report"},
                "cron": "0 2 * * *",
                "timezone": "Europe/Berlin",
            }
        ]


@pytest.fixture(scope="module")
def app(private_redis, mongo_server, mongo_uri, tmp_path_factory):
    """The web app on a database of its own (no session reconciler fires these), with the
    installed plugins and one that declares a default schedule."""
    settings = load_settings(
        mongo_uri=f"{mongo_server}jp_schedules_api_{uuid.uuid4().hex[:8]}",
        redis_uri=private_redis(),  # no worker reads it
        jwt_secret=JWT_SECRET,
        admin_password=ADMIN_PASSWORD,
        data_dir=tmp_path_factory.mktemp("schedules-api"),
        plugins_file=ROOT / "plugins.toml",
        app_env="test",
    )
    host = build_host(load_manifest(settings.plugins_file), plugins={"nightly": NightlyPlugin()})
    services = build_services(settings, host=host)
    with TestClient(create_app(settings, services)) as client:
        client.headers.update(bearer(login(client, "admin", ADMIN_PASSWORD)["access_token"]))
        yield client
    services.jobs.stats.close()
    db.connect(load_settings(mongo_uri=mongo_uri))


def email_schedule(**fields) -> dict:
    return {
        "name": f"digest-{uuid.uuid4().hex[:8]}",
        "job_type": "sendEmail",
        "data": {"recipient": "a@example.com", "subject": "Digest"},
        "interval_seconds": 3600,
        **fields,
    }


def test_create_read_list_change_and_delete(app):
    created = app.post("/api/schedules", json=email_schedule(priority=5, max_attempts=2))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["enabled"] is True and body["created_by"] == "admin"
    assert body["next_run_at"].endswith("Z") and body["last_job"] is None
    assert (body["priority"], body["max_attempts"], body["interval_seconds"]) == (5, 2, 3600)

    read = app.get(f"/api/schedules/{body['id']}")
    assert read.status_code == 200 and read.json() == body
    listed = app.get("/api/schedules").json()["schedules"]
    assert body["id"] in [s["id"] for s in listed]

    changed = app.patch(
        f"/api/schedules/{body['id']}", json={"cron": "30 6 * * 1", "timezone": "Asia/Tokyo"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["cron"] == "30 6 * * 1" and changed.json()["interval_seconds"] is None
    assert changed.json()["next_run_at"] != body["next_run_at"]
    disabled = app.patch(f"/api/schedules/{body['id']}", json={"enabled": False})
    assert disabled.json()["enabled"] is False and disabled.json()["next_run_at"] is None

    assert app.delete(f"/api/schedules/{body['id']}").status_code == 204
    gone = app.get(f"/api/schedules/{body['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"cron": "61 * * * *", "interval_seconds": None}, "cron"),
        ({"cron": "0 9 * * *", "interval_seconds": None, "timezone": "Moon/Base"}, "timezone"),
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"interval_seconds": 0.5}, "interval_seconds"),
        ({"cron": "* * * * *"}, "cron"),
        ({"interval_seconds": None}, "interval_seconds"),
        ({"job_type": "noSuchType"}, "job_type"),
        ({"data": {"recipient": "not-an-address", "subject": "x"}}, "data.recipient"),
        ({"data": {"subject": "no recipient"}}, "data.recipient"),
        ({"max_attempts": 50}, "max_attempts"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_invalid_schedules_are_422_naming_the_field_and_nothing_is_stored(app, fields, field):
    before = Schedule.objects.count()
    response = app.post("/api/schedules", json=email_schedule(**fields))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["details"], error
    assert Schedule.objects.count() == before


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "x\\ud800", "job_type": "sendEmail", "interval_seconds": 5}',
        '{"name": "x", "job_type": "\\ud800", "interval_seconds": 5}',
        '{"name": "x", "job_type": "sendEmail", "cron": "\\ud800 * * * *"}',
        '{"name": "x", "job_type": "sendEmail", "cron": "*/0 * * * *"}',
        '{"name": "x", "job_type": "sendEmail", "cron": "0 0 * * *", "timezone": "\\u0000"}',
        '{"name": "x", "job_type": "sendEmail", "interval_seconds": 5, "timeout": NaN}',
        '{"name": "x", "job_type": "sendEmail", "interval_seconds": 5, "timeout": Infinity}',
        '{"name": "x", "job_type": "sendEmail", "interval_seconds": 99999999999999999999999}',
        '{"name": "x", "job_type": "sendEmail", "interval_seconds": 5, "priority": -1e400}',
        '{"name": "x", "job_type": "sendEmail", "interval_seconds": 5, "data": {"a": 1e999}}',
    ],
)
def test_hostile_input_is_a_422_in_the_envelope(app, body):
    before = Schedule.objects.count()
    response = app.post(
        "/api/schedules", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    assert Schedule.objects.count() == before


def test_invalid_change_is_422_and_changes_nothing(app):
    schedule = app.post("/api/schedules", json=email_schedule()).json()
    response = app.patch(f"/api/schedules/{schedule['id']}", json={"cron": "0 0 31 2 * *"})
    assert response.status_code == 422 and "cron" in response.json()["error"]["details"]
    assert app.get(f"/api/schedules/{schedule['id']}").json() == schedule
    missing = app.patch("/api/schedules/000000000000000000000000", json={"enabled": False})
    assert missing.status_code == 404


def test_a_name_in_use_is_409(app):
    fields = email_schedule()
    assert app.post("/api/schedules", json=fields).status_code == 201
    again = app.post("/api/schedules", json=fields)
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "conflict"
    assert Schedule.objects(name=fields["name"]).count() == 1


def test_viewers_read_and_operators_change(app):
    admin_token = app.headers["Authorization"].split()[1]
    viewer, password = new_user(app, admin_token, "viewer")
    operator, op_password = new_user(app, admin_token, "operator")
    as_viewer = bearer(login(app, viewer, password)["access_token"])
    as_operator = bearer(login(app, operator, op_password)["access_token"])
    fields = email_schedule()

    refused = app.post("/api/schedules", json=fields, headers=as_viewer)
    assert refused.status_code == 403 and Schedule.objects(name=fields["name"]).count() == 0
    made = app.post("/api/schedules", json=fields, headers=as_operator)
    assert made.status_code == 201 and made.json()["created_by"] == operator
    schedule_id = made.json()["id"]
    assert app.get("/api/schedules", headers=as_viewer).status_code == 200
    assert app.get(f"/api/schedules/{schedule_id}", headers=as_viewer).status_code == 200
    for method in ("patch", "delete"):
        kwargs = {"json": {"enabled": False}} if method == "patch" else {}
        answer = getattr(app, method)(f"/api/schedules/{schedule_id}", headers=as_viewer, **kwargs)
        assert answer.status_code == 403
    assert app.get(f"/api/schedules/{schedule_id}").json()["enabled"] is True
    assert app.delete(f"/api/schedules/{schedule_id}", headers=as_operator).status_code == 204


def test_the_answer_names_the_last_job_fired(app):
    schedule = app.post("/api/schedules", json=email_schedule(interval_seconds=60)).json()
    services = app.app.state.services
    stored = Schedule.objects.get(id=schedule["id"])
    [job] = [
        j
        for j in ScheduleService(services.jobs).fire_due(stored.next_run_at + timedelta(seconds=1))
        if j.created_by == f"schedule:{schedule['name']}"
    ]
    read = app.get(f"/api/schedules/{schedule['id']}").json()
    assert read["last_job"] == {"id": str(job.id), "state": "queued"}
    assert read["last_fired_at"] == stored.next_run_at.isoformat(timespec="milliseconds") + "Z"
    assert read["next_run_at"] > schedule["next_run_at"]
    assert app.get(f"/api/jobs/{job.id}").json()["data"] == schedule["data"]


def test_a_plugins_default_schedule_is_there_disabled(app):
    [nightly] = [
        s for s in app.get("/api/schedules").json()["schedules"] if s["name"] == "nightly-report"
    ]
    assert nightly["enabled"] is False and nightly["next_run_at"] is None
    assert nightly["created_by"] == "plugin:nightly"
    assert (nightly["cron"], nightly["timezone"]) == ("0 2 * * *", "Europe/Berlin")
    enabled = app.patch(f"/api/schedules/{nightly['id']}", json={"enabled": True}).json()
    assert enabled["enabled"] is True and enabled["next_run_at"] is not None
