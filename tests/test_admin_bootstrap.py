"""The first admin: processes starting together on an empty history (a web process and
API processes) create exactly one, and none of them fails to start."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from jobplatform import db
from jobplatform.auth.passwords import verify_password
from jobplatform.auth.users import User, ensure_admin
from jobplatform.config import load_settings


@pytest.fixture
def empty_history(mongo_server, mongo_uri):
    db.connect(load_settings(mongo_uri=f"{mongo_server}admin_{uuid.uuid4().hex[:8]}"))
    yield
    db.connect(load_settings(mongo_uri=mongo_uri))  # give the session's database back


def test_starts_at_the_same_time_create_one_admin_and_show_its_password_once(empty_history):
    # Each start looks for the admin, hashes a new password (deliberately slow), then
    # inserts: started together, all find none and all try to insert.
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: ensure_admin(None), range(4)))
    shown = [password for password in answers if password]
    assert len(shown) == 1
    [admin] = User.objects(username="admin")
    assert verify_password(shown[0], admin.password_hash)
