"""The first job end to end: HTTP in, a real worker process, real SMTP out, history in MongoDB."""

from __future__ import annotations

import uuid
from datetime import datetime

from tests.helpers import wait_until


def test_email_job_is_delivered_and_recorded(api, worker, smtp_server):
    recorder, _ = smtp_server
    subject = f"Welcome {uuid.uuid4().hex[:8]}"
    response = api.post(
        "/api/jobs",
        json={
            "name": "sendEmail",
            "data": {"recipient": "new.user@example.com", "subject": subject, "body": "Hello!"},
        },
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    assert response.json()["state"] in ("queued", "running", "succeeded")

    job = wait_until(
        lambda: (j := api.get(f"/api/jobs/{job_id}").json())["state"] == "succeeded" and j,
        timeout=60,
        message="job to succeed",
    )

    delivered = recorder.with_subject(subject)
    assert len(delivered) == 1
    recipients, message = delivered[0]
    assert recipients == ["new.user@example.com"]
    assert message["To"] == "new.user@example.com"
    assert message.get_payload(decode=True).decode().strip() == "Hello!"

    assert job["attempt_count"] == 1
    [attempt] = job["attempts"]
    assert attempt["outcome"] == "succeeded"
    assert attempt["number"] == 1
    started = datetime.fromisoformat(attempt["started_at"].rstrip("Z"))
    finished = datetime.fromisoformat(attempt["finished_at"].rstrip("Z"))
    created = datetime.fromisoformat(job["created_at"].rstrip("Z"))
    assert created <= started <= finished
    assert job["result"]["accepted"] == ["new.user@example.com"]
    assert job["result"]["message_id"] == message["Message-ID"]

    listed = api.get("/api/jobs", params={"name": "sendEmail"}).json()["jobs"]
    assert job_id in [j["id"] for j in listed]
