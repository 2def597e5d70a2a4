"""The delivery processor's parts that need no services: one endpoint gets at most its
slots of the sends in flight and a freed slot goes to a send waiting for it; a failed
attempt's error gives its status and latency back; a delivery's body is the job's id,
the event and the payload."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from jobplatform.webhooks.delivery import body, delivery_request
from jobplatform.webhooks.sender import (
    EndpointBusy,
    EndpointRefused,
    EndpointSlots,
    NoAnswer,
    attempt_outcome,
)


def test_an_endpoint_gets_at_most_its_slots_and_a_freed_one_goes_to_a_waiter():
    slots = EndpointSlots()
    first, second = slots.hold("e", 2, wait=0), slots.hold("e", 2, wait=0)
    first.__enter__()
    second.__enter__()
    with pytest.raises(EndpointBusy, match="2 sends to this endpoint already wait"):
        with slots.hold("e", 2, wait=0):
            pass
    with slots.hold("other", 2, wait=0):  # another endpoint is not held up
        pass

    waiting, got = threading.Event(), threading.Event()

    def send() -> None:
        waiting.set()
        with slots.hold("e", 2, wait=30):
            got.set()

    thread = threading.Thread(target=send)
    thread.start()
    waiting.wait(5)
    assert not got.is_set()
    first.__exit__(None, None, None)
    thread.join(30)
    assert got.is_set()
    second.__exit__(None, None, None)


def test_a_failed_attempt_gives_back_its_status_and_latency():
    refused = EndpointRefused(503, 12.5, "try later")
    assert str(refused) == "HTTP 503 in 12.5 ms: try later"
    assert attempt_outcome("EndpointRefused", str(refused)) == (503, 12.5)
    assert str(EndpointRefused(500, 3.0, "")) == "HTTP 500 in 3.0 ms"
    unanswered = NoAnswer(10003.2, httpx.ReadTimeout("timed out"))
    assert str(unanswered) == "no answer after 10003.2 ms: ReadTimeout: timed out"
    assert attempt_outcome("NoAnswer", str(unanswered)) == (None, 10003.2)
    assert attempt_outcome("NotSent", "the endpoint is disabled") == (None, None)
    assert attempt_outcome("RuntimeError", "HTTP 500 in 1.0 ms") == (None, None)
    assert attempt_outcome(None, None) == (None, None)


def test_a_delivery_body_is_the_job_id_the_event_and_the_payload():
    request = delivery_request("a" * 24, "job.dead", {"job_id": "j1", "error": "ö"})
    assert request["created_by"] == "webhook:" + "a" * 24 and request["name"] == "webhook.deliver"
    sent = body("6650f1c2aaaaaaaaaaaaaaaa", request["data"])
    assert json.loads(sent) == {
        "id": "6650f1c2aaaaaaaaaaaaaaaa",
        "event": "job.dead",
        "created_at": request["data"]["created_at"],
        "data": {"job_id": "j1", "error": "ö"},
    }
    assert sent == body("6650f1c2aaaaaaaaaaaaaaaa", request["data"])
