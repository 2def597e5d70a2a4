"""SMTP delivery, and which SMTP failures are worth another attempt.

A temporary failure (connection refused, timeout, a 4xx reply) raises an ordinary error,
so the job's retry policy applies; a permanent one (a 5xx reply, every recipient
refused, a template that names a missing variable) raises `PermanentError`.
"""

from __future__ import annotations

import hashlib
import re
import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate
from string import Template
from typing import Any

from jobplatform.plugins import PermanentError
from jobplatform_email.headers import EMAIL_PATTERN, header_problem

# Characters a Message-ID's left part may hold as they are; other keys are hashed.
MESSAGE_KEY = re.compile(r"[A-Za-z0-9._-]{1,200}")


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


def _address(text: str, field: str) -> Address:
    """One address as a header object. The schema checked it at submission; this check
    again covers jobs stored before that (a permanent failure, never a sent header)."""
    if not isinstance(text, str) or not re.match(EMAIL_PATTERN, text):
        raise PermanentError(f"{field}: {text!r} is not a single email address")
    username, _, domain = text.rpartition("@")
    return Address(username=username, domain=domain)


def _addresses(value: str | list[str] | None, field: str) -> list[Address]:
    values = [value] if isinstance(value, str) else value or []
    return [_address(text, field) for text in values]


def _header_text(text: str, field: str) -> str:
    problem = header_problem(text)
    if problem:
        raise PermanentError(f"{field} {problem}")
    return text


def _message_id(message_key: str, domain: str) -> str:
    left = message_key if MESSAGE_KEY.fullmatch(message_key) else _digest(message_key)
    return f"<{left}@{domain}>"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def build_message(data: dict[str, Any], sender: str, message_key: str) -> EmailMessage:
    """The message, built with the email package's modern policy from header objects:
    addresses as `Address` parts, texts checked to hold no line break or encoded word, so
    nothing in the job's data can add a header or end the headers early."""
    variables = data.get("variables") or {}
    message = EmailMessage(policy=SMTP)
    from_address = _address(sender, "sender")
    message["From"] = from_address
    message["To"] = _addresses(data["recipient"], "recipient")
    if data.get("cc"):
        message["Cc"] = _addresses(data["cc"], "cc")
    if data.get("reply_to"):
        message["Reply-To"] = _address(data["reply_to"], "reply_to")
    message["Subject"] = _header_text(_render(data["subject"], variables, "subject"), "subject")
    message["Date"] = formatdate(localtime=False)
    # Stable across attempts, so a receiver can drop a duplicate after a worker crash.
    message["Message-ID"] = _message_id(message_key, from_address.domain or "localhost")
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
    fields = ("recipient", "cc", "bcc")
    envelope = [a.addr_spec for f in fields for a in _addresses(data.get(f), f)]
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
