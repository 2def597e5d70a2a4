"""The sendEmail processor against real SMTP servers on loopback (aiosmtpd).

Each server mode the plugin supports: plain, STARTTLS and implicit TLS (with a
self-signed certificate made here and trusted through the `ca_file` setting), login,
several recipients, cc and bcc, HTML bodies, templates, and how 4xx and 5xx replies map
to retryable and permanent errors.
"""

from __future__ import annotations

import logging
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jobplatform_email.plugin
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from jobplatform_email.delivery import TemporaryDeliveryError

from jobplatform.devservices import free_port
from jobplatform.plugins import JobContext, PermanentError
from jobplatform.plugins.host import build_host
from jobplatform.plugins.manifest import Manifest, PluginEntry
from tests.conftest import SmtpRecorder, smtp_on_loopback

pytestmark = pytest.mark.services  # SMTP servers on loopback, and openssl for their certificate

USER, PASSWORD = "mailer", "s3cret-pass"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with the openssl CLI."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def server_tls(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def authenticate(server, session, envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # aiosmtpd then answers 535 itself


class Refusing(SmtpRecorder):
    """Refuses recipients at `refused.example` (550) and defers those at `busy.example` (450)."""

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such user"
        if address.endswith("@busy.example"):
            return "450 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def serve(handler: SmtpRecorder, **options: Any) -> Iterator[tuple[SmtpRecorder, int]]:
    with smtp_on_loopback(handler, **options) as port:
        yield handler, port


@pytest.fixture(scope="module")
def plain_server() -> Iterator[tuple[SmtpRecorder, int]]:
    yield from serve(Refusing())


@pytest.fixture(scope="module")
def starttls_server(server_tls) -> Iterator[tuple[SmtpRecorder, int]]:
    yield from serve(
        SmtpRecorder(),
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )


@pytest.fixture(scope="module")
def tls_server(server_tls) -> Iterator[tuple[SmtpRecorder, int]]:
    # The whole connection is TLS, which aiosmtpd's auth_require_tls does not count.
    yield from serve(
        SmtpRecorder(), ssl_context=server_tls, authenticator=authenticate, auth_require_tls=False
    )


def send(data: dict[str, Any], **settings: Any) -> dict[str, Any]:
    """Run the sendEmail processor once, with settings checked as plugins.toml's are."""
    manifest = Manifest(
        path=None, plugins={"email": PluginEntry("email", settings=settings)}, job_types={}
    )
    host = build_host(manifest, entry_points=False, plugins={"email": jobplatform_email.plugin})
    assert host.plugins["email"].error is None
    ctx = JobContext(
        job_id="job1",
        job_type="sendEmail",
        data=data,
        attempt=1,
        max_attempts=3,
        idempotency_key="key-1",
        settings=host.settings_of("sendEmail"),
        logger=logging.getLogger("test"),
    )
    return host.job_type("sendEmail").processor(ctx)


def test_plain_smtp_with_several_recipients_cc_and_bcc(plain_server):
    recorder, port = plain_server
    data = {
        "recipient": ["ann@example.com", "bob@example.com"],
        "cc": ["cy@example.com"],
        "bcc": ["hidden@example.com"],
        "reply_to": "help@example.com",
        "subject": "Team news",
        "body": "Hello team",
    }

    result = send(data, port=port, tls="none", sender="news@example.com")

    [(envelope, message)] = recorder.with_subject("Team news")
    assert envelope == [
        "ann@example.com",
        "bob@example.com",
        "cy@example.com",
        "hidden@example.com",
    ]
    assert message["To"] == "ann@example.com, bob@example.com"
    assert message["Cc"] == "cy@example.com"
    assert message["Reply-To"] == "help@example.com"
    assert message["From"] == "news@example.com"
    assert "hidden@example.com" not in message.as_string()
    assert result["accepted"] == envelope
    assert result["message_id"] == message["Message-ID"] == "<jobplatform.key-1@example.com>"


def test_starttls_with_login(starttls_server, certificate):
    recorder, port = starttls_server

    send(
        {"recipient": "ann@example.com", "subject": "Over STARTTLS", "body": "secret"},
        port=port,
        tls="starttls",
        username=USER,
        password=PASSWORD,
        ca_file=str(certificate[0]),
    )

    [(envelope, message)] = recorder.with_subject("Over STARTTLS")
    assert envelope == ["ann@example.com"]
    assert message.get_payload(decode=True).decode().strip() == "secret"


def test_implicit_tls_with_login(tls_server, certificate):
    recorder, port = tls_server

    send(
        {"recipient": "ann@example.com", "subject": "Over TLS", "body": "x"},
        port=port,
        tls="tls",
        username=USER,
        password=PASSWORD,
        ca_file=str(certificate[0]),
    )

    assert len(recorder.with_subject("Over TLS")) == 1


def test_wrong_password_fails_for_good(starttls_server, certificate):
    _, port = starttls_server

    with pytest.raises(PermanentError, match="535"):
        send(
            {"recipient": "ann@example.com", "subject": "Nope"},
            port=port,
            tls="starttls",
            username=USER,
            password="wrong",
            ca_file=str(certificate[0]),
        )


def test_untrusted_certificate_is_refused(tls_server):
    _, port = tls_server

    with pytest.raises(TemporaryDeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        send({"recipient": "ann@example.com", "subject": "Untrusted"}, port=port, tls="tls")


def test_starttls_required_by_server_but_not_used(starttls_server):
    _, port = starttls_server

    with pytest.raises(PermanentError, match="530"):
        send({"recipient": "ann@example.com", "subject": "Plain"}, port=port, tls="none")


def test_html_body_with_plain_alternative_and_templates(plain_server):
    recorder, port = plain_server
    data = {
        "recipient": "ann@example.com",
        "subject": "Hi $name, order $order",
        "body": "Dear $name, order $order has shipped.",
        "html": "<p>Dear <b>$name</b>, order $order has shipped.</p>",
        "variables": {"name": "Ann", "order": 42},
    }

    send(data, port=port, tls="none")

    [(_, message)] = recorder.with_subject("Hi Ann, order 42")
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.get_payload()
    assert plain.get_payload(decode=True).decode().strip() == "Dear Ann, order 42 has shipped."
    assert html.get_content_type() == "text/html"
    assert (
        html.get_payload(decode=True).decode().strip()
        == "<p>Dear <b>Ann</b>, order 42 has shipped.</p>"
    )


def test_template_with_a_missing_variable_fails_for_good(plain_server):
    _, port = plain_server

    with pytest.raises(PermanentError, match=r"body uses \$order, which variables does not "):
        send(
            {
                "recipient": "ann@example.com",
                "subject": "x",
                "body": "Order $order",
                "variables": {"name": "Ann"},
            },
            port=port,
            tls="none",
        )


def test_refused_recipient_among_accepted_ones_is_reported(plain_server):
    recorder, port = plain_server

    result = send(
        {"recipient": ["ann@example.com", "ghost@refused.example"], "subject": "Partly refused"},
        port=port,
        tls="none",
    )

    [(envelope, _)] = recorder.with_subject("Partly refused")
    assert envelope == ["ann@example.com"]
    assert result["accepted"] == ["ann@example.com"]
    assert result["refused"] == {"ghost@refused.example": "550 5.1.1 no such user"}


def test_every_recipient_refused_5xx_is_permanent_and_4xx_temporary(plain_server):
    _, port = plain_server

    with pytest.raises(PermanentError, match="every recipient was refused"):
        send({"recipient": "ghost@refused.example", "subject": "x"}, port=port, tls="none")
    with pytest.raises(TemporaryDeliveryError, match="450 4.2.1 mailbox busy"):
        send({"recipient": "ann@busy.example", "subject": "x"}, port=port, tls="none")


def test_unreachable_server_is_temporary():
    with pytest.raises(TemporaryDeliveryError, match="could not reach 127.0.0.1"):
        send({"recipient": "ann@example.com", "subject": "x"}, port=free_port(), tls="none")


def test_starttls_asked_of_a_server_without_it_fails_for_good(plain_server):
    _, port = plain_server

    with pytest.raises(PermanentError, match="STARTTLS extension not supported.*check the tls"):
        send({"recipient": "ann@example.com", "subject": "x"}, port=port, tls="starttls")
