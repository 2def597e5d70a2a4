"""Logging in, tokens, roles, users and API tokens through the API, and what it refuses."""

from __future__ import annotations

import json
import uuid

import jwt
import pytest

from jobplatform.auth.tokens import issue_access_token
from tests.api_app import JWT_SECRET, app_client, bearer, login, new_user
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import wait_until, within_one_rate_window

EMAIL = {"name": "sendEmail", "data": {"recipient": "a@example.com", "subject": "Hi"}}


@pytest.fixture(scope="module")
def client(mongo_uri, private_redis, tmp_path_factory):
    redis_db = private_redis()
    with app_client(
        mongo_uri,
        redis_db,
        tmp_path_factory.mktemp("auth"),
        login_rate_limit_ip=0,
        login_lockout_after=3,
        login_lockout_seconds=1,
        login_lockout_max_seconds=60,
    ) as client:
        yield client


@pytest.fixture(scope="module")
def admin(client) -> str:
    return login(client, "admin", ADMIN_PASSWORD)["access_token"]


@pytest.fixture(scope="module")
def tokens(client, admin) -> dict[str, str]:
    """An access token for a fresh user of each role."""
    return {
        role: login(client, *new_user(client, admin, role))["access_token"]
        for role in ("operator", "viewer")
    } | {"admin": admin}


def test_login_gives_access_and_refresh_tokens_that_work(client):
    body = login(client, "admin", ADMIN_PASSWORD)
    assert body["role"] == "admin" and body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert client.get("/api/jobs", headers=bearer(body["access_token"])).status_code == 200


def test_wrong_password_is_401_without_saying_which_part_was_wrong(client):
    response = client.post("/api/login", json={"username": "admin", "password": "nope"})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "invalid username or password"
    unknown = client.post("/api/login", json={"username": "nobody", "password": "nope"})
    assert unknown.json()["error"]["message"] == "invalid username or password"


def test_refresh_rotates_and_the_old_refresh_token_is_refused(client):
    first = login(client, "admin", ADMIN_PASSWORD)
    response = client.post("/api/token/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200, response.text
    second = response.json()
    assert client.get("/api/jobs", headers=bearer(second["access_token"])).status_code == 200
    reused = client.post("/api/token/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    assert "already used" in reused.json()["error"]["message"]


def test_logout_stops_the_access_and_the_refresh_token_at_once(client):
    session = login(client, "admin", ADMIN_PASSWORD)
    headers = bearer(session["access_token"])
    assert client.post("/api/logout", headers=headers).status_code == 204
    after = client.get("/api/jobs", headers=headers)
    assert after.status_code == 401
    assert "log in again" in after.json()["error"]["message"]
    refresh = client.post("/api/token/refresh", json={"refresh_token": session["refresh_token"]})
    assert refresh.status_code == 401


def _claims(client, token: str) -> dict:
    return jwt.decode(token, JWT_SECRET, algorithms=["HS256"])


@pytest.mark.parametrize("forgery", ["expired", "tampered", "alg_none", "wrong_key", "garbage"])
def test_forged_or_expired_tokens_are_401(client, tokens, forgery):
    claims = _claims(client, tokens["viewer"])
    if forgery == "expired":
        token = issue_access_token(JWT_SECRET, claims["sub"], "viewer", -30, claims["sid"])
    elif forgery == "tampered":  # a viewer's token claiming admin, signature kept
        header, _, signature = tokens["viewer"].split(".")
        payload = jwt.utils.base64url_encode(
            json.dumps({**claims, "sub": "admin", "role": "admin"}).encode()
        ).decode()
        token = f"{header}.{payload}.{signature}"
    elif forgery == "alg_none":
        token = jwt.encode({**claims, "sub": "admin", "role": "admin"}, None, algorithm="none")
    elif forgery == "wrong_key":
        token = jwt.encode(
            {**claims, "sub": "admin"}, "another-secret-" + "y" * 40, algorithm="HS256"
        )
    else:
        token = "not.a.jwt"
    response = client.get("/api/jobs", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    if forgery == "expired":
        assert "expired" in response.json()["error"]["message"]


def test_missing_token_is_401_saying_how_to_send_one(client):
    response = client.get("/api/jobs")
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["error"]["message"]


OPERATOR_ACTIONS = [
    ("POST", "/api/jobs", EMAIL),
    ("POST", "/api/jobs/batch", {"jobs": [EMAIL]}),
    ("POST", "/api/jobs/retry", {"state": "dead", "name": "noSuchType"}),
    ("POST", "/api/jobs/000000000000000000000000/retry", None),
    ("POST", "/api/jobs/000000000000000000000000/cancel", None),
    ("DELETE", "/api/jobs/000000000000000000000000", None),
]
ADMIN_ACTIONS = [
    ("GET", "/api/users", None),
    (
        "POST",
        "/api/users",
        {"username": "x" + uuid.uuid4().hex[:6], "password": "p" * 12, "role": "viewer"},
    ),
    ("GET", "/api/tokens", None),
    ("POST", "/api/tokens", {"name": "t-" + uuid.uuid4().hex[:6], "role": "viewer"}),
]
READ_ACTIONS = [("GET", "/api/jobs", None), ("GET", "/api/jobs/000000000000000000000000", None)]
MATRIX = (
    [(role, a, True) for role in ("viewer", "operator", "admin") for a in READ_ACTIONS]
    + [("viewer", a, False) for a in OPERATOR_ACTIONS]
    + [(role, a, True) for role in ("operator", "admin") for a in OPERATOR_ACTIONS]
    + [(role, a, False) for role in ("viewer", "operator") for a in ADMIN_ACTIONS]
    + [("admin", a, True) for a in ADMIN_ACTIONS]
)


@pytest.mark.parametrize(
    ("role", "action", "allowed"), MATRIX, ids=[f"{r}-{a[0]}-{a[1]}" for r, a, _ in MATRIX]
)
def test_each_role_is_allowed_or_refused(client, tokens, role, action, allowed):
    method, path, body = action
    response = client.request(method, path, headers=bearer(tokens[role]), json=body)
    if allowed:
        assert response.status_code in (200, 201, 204, 404), response.text
    else:
        assert response.status_code == 403, response.text
        assert f"role '{role}' may not do this" in response.json()["error"]["message"]


def test_disabled_user_is_stopped_at_once_and_cannot_log_in(client, admin):
    username, password = new_user(client, admin, "operator")
    session = login(client, username, password)
    assert client.get("/api/jobs", headers=bearer(session["access_token"])).status_code == 200

    change = client.patch(f"/api/users/{username}", headers=bearer(admin), json={"disabled": True})
    assert change.status_code == 200 and change.json()["disabled"] is True

    assert client.get("/api/jobs", headers=bearer(session["access_token"])).status_code == 401
    assert (
        client.post("/api/login", json={"username": username, "password": password}).status_code
        == 401
    )
    refresh = client.post("/api/token/refresh", json={"refresh_token": session["refresh_token"]})
    assert refresh.status_code == 401


def test_api_token_is_shown_once_works_with_its_role_and_stops_when_revoked(client, admin):
    name = "ci-" + uuid.uuid4().hex[:6]
    created = client.post(
        "/api/tokens", headers=bearer(admin), json={"name": name, "role": "viewer"}
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith(created.json()["prefix"])

    listed = [
        t for t in client.get("/api/tokens", headers=bearer(admin)).json() if t["name"] == name
    ]
    assert listed and "token" not in listed[0] and listed[0]["revoked"] is False
    assert client.get("/api/jobs", headers=bearer(token)).status_code == 200
    assert client.post("/api/jobs", headers=bearer(token), json=EMAIL).status_code == 403

    revoked = client.delete(f"/api/tokens/{created.json()['id']}", headers=bearer(admin))
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    after = client.get("/api/jobs", headers=bearer(token))
    assert after.status_code == 401
    assert "revoked" in after.json()["error"]["message"]


def test_api_token_stops_while_its_creator_is_disabled(client, admin):
    creator, password = new_user(client, admin, "admin")
    creator_token = login(client, creator, password)["access_token"]
    token = client.post(
        "/api/tokens",
        headers=bearer(creator_token),
        json={"name": "svc-" + uuid.uuid4().hex[:6], "role": "operator"},
    ).json()["token"]
    assert client.get("/api/jobs", headers=bearer(token)).status_code == 200
    client.patch(f"/api/users/{creator}", headers=bearer(admin), json={"disabled": True})
    assert client.get("/api/jobs", headers=bearer(token)).status_code == 401
    client.patch(f"/api/users/{creator}", headers=bearer(admin), json={"disabled": False})
    assert client.get("/api/jobs", headers=bearer(token)).status_code == 200


def test_duplicate_user_and_active_token_name_are_409(client, admin):
    username, _ = new_user(client, admin, "viewer")
    again = client.post(
        "/api/users",
        headers=bearer(admin),
        json={"username": username, "password": "p" * 12, "role": "viewer"},
    )
    assert again.status_code == 409
    assert "already exists" in again.json()["error"]["message"]
    name = "dup-" + uuid.uuid4().hex[:6]
    client.post("/api/tokens", headers=bearer(admin), json={"name": name, "role": "viewer"})
    second = client.post(
        "/api/tokens", headers=bearer(admin), json={"name": name, "role": "viewer"}
    )
    assert second.status_code == 409


def test_a_token_name_of_only_spaces_is_refused_and_nothing_is_stored(client, admin):
    before = client.get("/api/tokens", headers=bearer(admin)).json()
    answer = client.post(
        "/api/tokens", headers=bearer(admin), json={"name": "   ", "role": "viewer"}
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["details"] == {"name": ["1 to 100 characters, not only spaces"]}
    assert client.get("/api/tokens", headers=bearer(admin)).json() == before


def test_user_changes_are_validated_and_unknown_ones_are_404(client, admin):
    short = client.post(
        "/api/users",
        headers=bearer(admin),
        json={"username": "shorty", "password": "short", "role": "viewer"},
    )
    assert short.status_code == 422
    assert "password" in short.json()["error"]["details"]
    assert (
        client.patch(
            "/api/users/nobody-here", headers=bearer(admin), json={"role": "viewer"}
        ).status_code
        == 404
    )
    assert (
        client.delete("/api/tokens/000000000000000000000000", headers=bearer(admin)).status_code
        == 404
    )
    myself = client.patch("/api/users/admin", headers=bearer(admin), json={"disabled": True})
    assert myself.status_code == 409


def test_new_password_ends_sessions_and_the_new_one_works(client, admin):
    username, password = new_user(client, admin, "viewer")
    session = login(client, username, password)
    changed = client.patch(
        f"/api/users/{username}", headers=bearer(admin), json={"password": "brand-new-password"}
    )
    assert changed.status_code == 200
    assert client.get("/api/jobs", headers=bearer(session["access_token"])).status_code == 401
    assert login(client, username, "brand-new-password")["role"] == "viewer"


def _try(client, username: str, password: str):
    return client.post("/api/login", json={"username": username, "password": password})


def test_failed_logins_lock_the_username_and_the_lockout_grows(client, admin):
    username, password = new_user(client, admin, "viewer")
    assert [_try(client, username, "wrong").status_code for _ in range(2)] == [401, 401]
    third = _try(client, username, "wrong")
    assert third.status_code == 429
    assert third.headers["retry-after"] == "1"
    assert "locked for 1 seconds" in third.json()["error"]["message"]

    locked = _try(client, username, password)  # even the right password waits
    assert locked.status_code == 429
    assert "try again in" in locked.json()["error"]["message"]

    wait_until(
        lambda: _try(client, username, "still wrong").status_code == 401,
        timeout=10,
        message="the first lockout to end",
    )
    _try(client, username, "wrong")
    second_lockout = _try(client, username, "wrong")
    assert second_lockout.status_code == 429
    assert "locked for 2 seconds" in second_lockout.json()["error"]["message"]
    wait_until(
        lambda: _try(client, username, password).status_code == 200,
        timeout=10,
        message="the second lockout to end",
    )


def test_per_username_and_per_address_login_limits(mongo_uri, private_redis, tmp_path):
    redis_db = private_redis()
    with app_client(
        mongo_uri,
        redis_db,
        tmp_path,
        login_rate_limit_ip=6,
        login_rate_limit_user=3,
        login_lockout_after=100,
    ) as client:
        within_one_rate_window()
        codes = [_try(client, "someone", "wrong").status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        limited = _try(client, "someone", "wrong")
        assert "for 'someone'" in limited.json()["error"]["message"]
        assert 1 <= int(limited.headers["retry-after"]) <= 61
        others = [_try(client, f"other{i}", "wrong").status_code for i in range(3)]
        assert others[-1] == 429  # the address has used its 6 attempts this minute
        assert "from this address" in _try(client, "x", "y").json()["error"]["message"]


def test_api_rate_limit_per_token(mongo_uri, private_redis, tmp_path):
    redis_db = private_redis()
    with app_client(mongo_uri, redis_db, tmp_path, api_rate_limit=5) as client:
        within_one_rate_window()
        first = login(client, "admin", ADMIN_PASSWORD)["access_token"]
        codes = [client.get("/api/jobs", headers=bearer(first)).status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        limited = client.get("/api/jobs", headers=bearer(first))
        assert "limit is 5 a minute" in limited.json()["error"]["message"]
        assert int(limited.headers["retry-after"]) >= 1
        second = login(client, "admin", ADMIN_PASSWORD)["access_token"]
        assert client.get("/api/jobs", headers=bearer(second)).status_code == 200


def test_a_new_role_applies_to_open_sessions_at_once(client, admin):
    username, password = new_user(client, admin, "operator")
    token = login(client, username, password)["access_token"]
    assert (
        client.post(
            "/api/jobs/retry", headers=bearer(token), json={"name": "noSuchType"}
        ).status_code
        == 200
    )
    client.patch(f"/api/users/{username}", headers=bearer(admin), json={"role": "viewer"})
    refused = client.post("/api/jobs/retry", headers=bearer(token), json={"name": "noSuchType"})
    assert refused.status_code == 403
    assert client.get("/api/jobs", headers=bearer(token)).status_code == 200


def test_without_redis_the_lockout_lives_in_a_file_under_data_dir(mongo_uri, tmp_path):
    username = "memory-" + uuid.uuid4().hex[:6]
    with app_client(
        mongo_uri, None, tmp_path, login_lockout_after=2, login_lockout_seconds=30
    ) as client:
        codes = [_try(client, username, "wrong").status_code for _ in range(3)]
        assert codes == [401, 429, 429]
        assert 29 <= int(_try(client, username, "x").headers["retry-after"]) <= 30
    assert (tmp_path / "limits.sqlite3").exists()
    with app_client(  # another web process on this machine, or this one restarted
        mongo_uri, None, tmp_path, login_lockout_after=2, login_lockout_seconds=30
    ) as client:
        assert _try(client, username, "wrong").status_code == 429
