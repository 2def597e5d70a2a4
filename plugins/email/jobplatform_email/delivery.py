"""SMTP delivery, and which SMTP failures are worth another attempt.

A temporary failure (connection refused, timeout, a 4xx reply) raises an ordinary error,
so the job's retry policy applies; a permanent one (a 5xx reply, every recipient
refused, a template that names a missing variable) raises `PermanentError`.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from string import Template
from typing import Any

from jobplatform.plugins import PermanentError

EMAIL_PATTERN = r"^[^@\s<>,;\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$"


class TemporaryDeliveryError(Exception):
    """The server said try again later (4xx) or could not be reached."""


def _render(text: str | None, variables: dict[str, Any], field: str) -> str | None:
    if text is None:
        return None
    try:
        return Template(text).substitute({k: str(v) for k, v in variables.items()})
    except KeyError as exc:
        raise PermanentError(
            f"{field} uses ${exc.args[0]}, which variables does not define"
        ) from None
    except ValueError as exc:
        raise PermanentError(f"{field} is not a valid template: {exc}") from None


def build_message(data: dict[str, Any], sender: str, message_key: str) -> EmailMessage:
    variables = data.get("variables") or {}
    recipients = data["recipient"]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients) if isinstance(recipients, list) else recipients
    if data.get("cc"):
        message["Cc"] = ", ".join(data["cc"])
    if data.get("reply_to"):
        message["Reply-To"] = data["reply_to"]
    message["Subject"] = _render(data["subject"], variables, "subject")
    message["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2] or "localhost"
    # Stable across attempts, so a receiver can drop a duplicate after a worker crash.
    message["Message-ID"] = f"<{message_key}@{domain}>"
    body = _render(data.get("body"), variables, "body")
    html = _render(data.get("html"), variables, "html")
    message.set_content(body if body is not None else "")
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def _connect(settings: dict[str, Any]) -> smtplib.SMTP:
    context = ssl.create_default_context(cafile=settings["ca_file"] or None)
    host, port, timeout = settings["host"], settings["port"], settings["timeout"]
    if settings["tls"] == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
        if settings["tls"] == "starttls":
            client.starttls(context=context)
    if settings["username"]:
        client.login(settings["username"], settings["password"])
    return client


def deliver(data: dict[str, Any], settings: dict[str, Any], message_key: str) -> dict[str, Any]:
    """Send one message; return its Message-ID and the accepted and refused recipients."""
    message = build_message(data, settings["sender"], f"jobplatform.{message_key}")
    to = data["recipient"] if isinstance(data["recipient"], list) else [data["recipient"]]
    envelope = [*to, *(data.get("cc") or []), *(data.get("bcc") or [])]
    try:
        client = _connect(settings)
        try:
            refused = client.send_message(message, from_addr=settings["sender"], to_addrs=envelope)
        finally:
            try:
                client.quit()
            except smtplib.SMTPException:
                client.close()
    except smtplib.SMTPRecipientsRefused as exc:
        codes = {code for code, _ in exc.recipients.values()}
        detail = "; ".join(
            f"{r}: {c} {m.decode(errors='replace')}" for r, (c, m) in exc.recipients.items()
        )
        if all(code >= 500 for code in codes):
            raise PermanentError(f"every recipient was refused: {detail}") from None
        raise TemporaryDeliveryError(f"recipients refused for now: {detail}") from None
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        if exc.smtp_code >= 500:
            raise PermanentError(
                f"SMTP server refused the message: {exc.smtp_code} {text}"
            ) from None
        raise TemporaryDeliveryError(
            f"SMTP server deferred the message: {exc.smtp_code} {text}"
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise PermanentError(
            f"{settings['host']}:{settings['port']}: {exc}; check the tls "
            "setting (and username) in plugins.toml"
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise TemporaryDeliveryError(
            f"could not reach {settings['host']}:{settings['port']}: {type(exc).__name__}: {exc}"
        ) from None
    refused_map = {r: f"{c} {m.decode(errors='replace')}" for r, (c, m) in refused.items()}
    return {
        "message_id": message["Message-ID"],
        "accepted": [r for r in envelope if r not in refused_map],
        "refused": refused_map,
    }
