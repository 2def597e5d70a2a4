"""sendEmail on a real worker process: a 4xx reply is retried, a 5xx reply dies at once.

The worker sends to an aiosmtpd server of this module that defers or rejects messages
by subject; sendEmail is moved to a queue of its own through plugins.toml, so only this
module's worker serves it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from jobplatform import db
from jobplatform.config import load_settings
from jobplatform.services import Services, build_services
from tests.conftest import SmtpRecorder, smtp_on_loopback, start_worker, stop
from tests.helpers import wait_until


class Moody(SmtpRecorder):
    """Defers a message the first time (451) when its subject has [defer-once]; always
    rejects (554) one with [reject]; accepts the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.deferred: set[str] = set()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        subject = next(
            (
                line
                for line in envelope.content.decode().splitlines()
                if line.startswith("Subject: ")
            ),
            "",
        )
        if "[reject]" in subject:
            return "554 5.7.1 message rejected as spam"
        if "[defer-once]" in subject and subject not in self.deferred:
            self.deferred.add(subject)
            return "451 4.3.0 temporary local problem, try again"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Moody, int]]:
    recorder = Moody()
    with smtp_on_loopback(recorder) as port:
        yield recorder, port


@pytest.fixture(scope="module")
def services(smtp, platform_env, tmp_path_factory) -> Iterator[Services]:
    """A worker process for a private sendEmail queue, and the services to submit to it."""
    folder = tmp_path_factory.mktemp("email-retries")
    manifest = folder / "plugins.toml"
    manifest.write_text(
        f'[plugins.email.settings]\nhost = "127.0.0.1"\nport = {smtp[1]}\ntls = "none"\n\n'
        f'[job_types.sendEmail]\nqueue = "email-{uuid.uuid4().hex[:8]}"\n'
        "retry = { max_attempts = 3, initial_delay = 0.2, jitter = 0 }\n"
    )
    env = {**platform_env, "PLUGINS_FILE": str(manifest)}
    worker = start_worker(env, folder / "worker.log")
    settings = load_settings(
        mongo_uri=env["MONGO_URI"],
        redis_uri=env["REDIS_URI"],
        jwt_secret=env["JWT_SECRET"],
        plugins_file=manifest,
        data_dir=folder,
        app_env="test",
    )
    db.connect(settings)
    yield build_services(settings)
    stop(worker)


def run_to_end(services: Services, subject: str) -> dict:
    job = services.jobs.submit(
        "sendEmail", {"recipient": "ann@example.com", "subject": subject, "body": "hello"}
    )
    return wait_until(
        lambda: (
            (j := services.jobs.get(str(job.id))).state in ("succeeded", "dead") and j.describe()
        ),
        timeout=60,
        message="email job to finish",
    )


def test_4xx_reply_is_retried_and_then_delivered(services, smtp):
    recorder, _ = smtp
    subject = f"[defer-once] {uuid.uuid4().hex[:8]}"

    job = run_to_end(services, subject)

    assert (job["state"], job["attempt_count"]) == ("succeeded", 2)
    first, second = job["attempts"]
    assert first["outcome"] == "failed"
    assert first["error_type"] == "TemporaryDeliveryError"
    assert "451 4.3.0 temporary local problem" in first["error_message"]
    assert first["retry_delay"] == pytest.approx(0.2)
    assert second["outcome"] == "succeeded"
    assert len(recorder.with_subject(subject)) == 1
    assert job["result"]["accepted"] == ["ann@example.com"]


def test_5xx_reply_dies_without_a_retry(services, smtp):
    recorder, _ = smtp
    subject = f"[reject] {uuid.uuid4().hex[:8]}"

    job = run_to_end(services, subject)

    assert (job["state"], job["attempt_count"]) == ("dead", 1)
    [attempt] = job["attempts"]
    assert attempt["error_type"] == "PermanentError"
    assert "554 5.7.1 message rejected as spam" in job["error"]
    assert recorder.with_subject(subject) == []
