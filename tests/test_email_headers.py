"""Nothing a caller sends can become an email header (issue 16, items 1 and 2).

Through the API: a line break (of any kind), a trailing newline or an RFC 2047 encoded
word in any header field, also through a template variable the subject uses, is a 422
naming the field, and nothing is stored. Through delivery to a real SMTP server on
loopback: data that got past validation (a job stored before these rules) fails
permanently and sends nothing, and a message with awkward but valid text arrives with
exactly the headers it should have.
"""

from __future__ import annotations

import base64
import json
import uuid
from email.header import decode_header, make_header

import pytest
from jobplatform_email.delivery import deliver

from jobplatform.jobs.models import Job
from jobplatform.plugins import PermanentError
from tests.api_app import app_client, bearer, login
from tests.conftest import ADMIN_PASSWORD

INJECTED_BCC = "victim@example.com"
LINE_BREAKS = {
    "lf": "\n",
    "cr": "\r",
    "crlf": "\r\n",
    "vt": "\v",
    "ff": "\f",
    "nel": "\x85",
    "line-sep": "\u2028",
    "para-sep": "\u2029",
}
ENCODED_WORDS = {
    "q-bcc": f"=?utf-8?q?Hello=0D=0ABcc:_{INJECTED_BCC}?=",
    "b-from": "=?utf-8?b?"
    + base64.b64encode(b"Hi\r\nFrom: evil@example.com\r\n\r\nnew body").decode()
    + "?=",
}


@pytest.fixture(scope="module")
def client(mongo_uri, private_redis, tmp_path_factory):
    queue_uri = private_redis()  # no worker reads it
    with app_client(mongo_uri, queue_uri, tmp_path_factory.mktemp("headers")) as client:
        client.headers.update(bearer(login(client, "admin", ADMIN_PASSWORD)["access_token"]))
        yield client


def email(**fields) -> dict:
    return {"recipient": "a@example.com", "subject": "Hi", **fields}


def refused(client, data: dict) -> dict[str, list[str]]:
    """Submit `data`; assert a 422 that stored nothing; return its details."""
    before = Job.objects.count()
    response = client.post(
        "/api/jobs",
        content=json.dumps({"name": "sendEmail", "data": data}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert Job.objects.count() == before
    return response.json()["error"]["details"]


@pytest.mark.parametrize("field", ["recipient", "reply_to"])
@pytest.mark.parametrize("where", ["trailing", "inside"])
@pytest.mark.parametrize("brk", LINE_BREAKS.values(), ids=LINE_BREAKS.keys())
def test_a_line_break_in_an_address_is_422(client, field, where, brk):
    address = "a@example.com" + brk if where == "trailing" else f"a@example.com{brk}Bcc: x@y.z"
    assert field in refused(client, email(**{field: address}))


@pytest.mark.parametrize("field", ["recipient", "cc", "bcc"])
def test_a_trailing_newline_in_an_address_list_is_422(client, field):
    assert field in refused(client, email(**{field: ["b@example.com", "a@example.com\n"]}))


@pytest.mark.parametrize("field", ["recipient", "reply_to"])
def test_an_encoded_word_in_an_address_is_422(client, field):
    assert field in refused(client, email(**{field: "=?utf-8?q?x=0D=0ABcc=3A_v?=@example.com"}))


@pytest.mark.parametrize("brk", LINE_BREAKS.values(), ids=LINE_BREAKS.keys())
def test_a_line_break_in_the_subject_is_422(client, brk):
    details = refused(client, email(subject=f"Hello{brk}Bcc: {INJECTED_BCC}"))
    assert "line breaks" in details["subject"][0]


def test_a_trailing_newline_in_the_subject_is_422(client):
    assert "subject" in refused(client, email(subject="Hello\n"))


@pytest.mark.parametrize("word", ENCODED_WORDS.values(), ids=ENCODED_WORDS.keys())
def test_an_encoded_word_in_the_subject_is_422(client, word):
    assert "encoded words" in refused(client, email(subject=word))["subject"][0]


@pytest.mark.parametrize(
    ("subject", "value"),
    [
        ("Hello $name", f"Ann\r\nBcc: {INJECTED_BCC}"),
        ("Hello $name", ENCODED_WORDS["q-bcc"]),
        ("=?utf-8?q?Hello$rest", f"=0D=0ABcc:_{INJECTED_BCC}?="),  # the word spans both
    ],
    ids=["line-break", "encoded-word", "split-encoded-word"],
)
def test_a_variable_that_breaks_the_subject_is_422(client, subject, value):
    name = subject.rpartition("$")[2]
    details = refused(client, email(subject=subject, variables={name: value}))
    assert "with its variables filled in" in details["subject"][0]


def test_a_multi_line_variable_used_only_in_the_body_is_accepted(client):
    data = email(subject="Hi $name", body="$address", variables={"name": "Ann", "address": "1\n2"})
    response = client.post("/api/jobs", json={"name": "sendEmail", "data": data})
    assert response.status_code == 201, response.text


def test_a_variable_name_with_a_trailing_newline_is_422(client):
    assert "variables" in refused(client, email(variables={"name\n": "x"}))


# Delivery, with data that never went through validation.


def send(smtp_server, data: dict, key: str = "key-1") -> dict:
    """The plugin's delivery, to the session's SMTP server on loopback."""
    _, port = smtp_server
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "username": "",
        "password": "",
        "sender": "jobs@example.com",
        "timeout": 10.0,
        "ca_file": "",
    }
    return deliver(data, settings, key)


def received(smtp_server, message_id: str):
    recorder, _ = smtp_server
    with recorder.lock:
        return [(rcpt, m) for rcpt, m in recorder.messages if m["Message-ID"] == message_id]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", ENCODED_WORDS["q-bcc"]),
        ("subject", ENCODED_WORDS["b-from"]),
        ("subject", f"Hello\nBcc: {INJECTED_BCC}"),
        ("subject", "Hello\u2028Bcc: x@example.com"),
        ("recipient", "a@example.com\nBcc: x@example.com"),
        ("reply_to", "r@example.com\n"),
        ("cc", ["c@example.com\r\nBcc: x@example.com"]),
        ("bcc", ["b@example.com\r\nRCPT TO:<x@example.com>"]),
    ],
)
def test_delivery_refuses_header_breaking_data_and_sends_nothing(smtp_server, field, value):
    recorder, _ = smtp_server
    before = len(recorder.messages)
    data = {"recipient": "a@example.com", "subject": "Hi", field: value}
    with pytest.raises(PermanentError, match=field):
        send(smtp_server, data)
    assert len(recorder.messages) == before


def test_delivery_refuses_a_subject_a_variable_breaks(smtp_server):
    data = {"recipient": "a@example.com", "subject": "Hi $x", "variables": {"x": "\nBcc: v@e.com"}}
    with pytest.raises(PermanentError, match="subject"):
        send(smtp_server, data)


EXPECTED_HEADERS = [
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "Content-Type",
    "Content-Transfer-Encoding",
    "MIME-Version",
]


def test_a_delivered_message_has_exactly_its_own_headers(smtp_server):
    """Valid but awkward text: non-ASCII, a long subject that must be folded, `=?` without
    a closing `?=`, header-like lines in the body, and an idempotency key holding an
    encoded word (it goes into the Message-ID)."""
    subject = f"Grüße {uuid.uuid4().hex} =? " + "long words " * 20
    data = {
        "recipient": ["ann@example.com", "bob@example.com"],
        "cc": ["cy@example.com"],
        "bcc": ["hidden@example.com"],
        "reply_to": "help@example.com",
        "subject": subject,
        "body": f"Hello\r\nBcc: {INJECTED_BCC}\r\n\r\nFrom: evil@example.com\n",
    }
    key = f"=?utf-8?q?=0D=0ABcc:_{INJECTED_BCC}?="
    result = send(smtp_server, data, key=key)
    [(rcpt, message)] = received(smtp_server, result["message_id"])
    assert list(message.keys()) == EXPECTED_HEADERS
    assert str(make_header(decode_header(message["Subject"]))) == subject
    assert rcpt == ["ann@example.com", "bob@example.com", "cy@example.com", "hidden@example.com"]
    assert message["To"] == "ann@example.com, bob@example.com"
    assert message["From"] == "jobs@example.com"
    assert message["Message-ID"] == result["message_id"]
    assert INJECTED_BCC not in message["Message-ID"]
    assert f"Bcc: {INJECTED_BCC}" in message.get_payload(decode=True).decode()


def test_a_plain_idempotency_key_stays_readable_in_the_message_id(smtp_server):
    result = send(smtp_server, {"recipient": "a@example.com", "subject": "Hi"}, key="order-7")
    assert result["message_id"] == "<jobplatform.order-7@example.com>"
