"""The dead-letter store keeps what Knative gave up on, in either HTTP binding mode."""

from __future__ import annotations

import base64
import json
import logging

import pytest
import requests
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from prometheus_client import REGISTRY

from shared.deadletters import list_dead_letters, receive
from shared.settings import get_settings
from tests.servers import serve_function


def _dead_event(event_id: str = "n-1") -> CloudEvent:
    return CloudEvent(
        {
            "type": "org.openstack.vigil.internal.recovery.requested",
            "source": "/vigil/api",
            "id": event_id,
            "subject": "6c1f0d3e-5a3b-4f0e-9d5e-2b8f0c9a7d11",
            "datacontenttype": "application/json",
            "knativeerrordest": "http://recover.vigil.svc.cluster.local",
            "knativeerrorcode": "503",
            "knativeerrordata": base64.b64encode(b"database unreachable").decode(),
        },
        {
            "notification_uuid": "6c1f0d3e-5a3b-4f0e-9d5e-2b8f0c9a7d11",
            "type": "COMPUTE_HOST",
            "reason": "created",
        },
    )


def test_binary_dead_letter_is_stored_with_its_error_and_listed(db):
    headers, body = to_binary(_dead_event())
    status, reply = receive(headers, body)
    assert status == 201
    [stored] = list_dead_letters()
    assert reply == {"dead_letter": {"id": stored.id}}  # the unauthenticated sink echoes nothing
    assert stored.error_code == "503"
    assert stored.event_type == "org.openstack.vigil.internal.recovery.requested"
    assert stored.error_dest == "http://recover.vigil.svc.cluster.local"
    assert stored.error_data == "database unreachable"
    assert stored.data["reason"] == "created"
    assert "knativeerrorcode" not in stored.attributes


def test_structured_dead_letter_is_stored(db):
    headers, body = to_structured(_dead_event("n-2"))
    status, _ = receive(headers, body)
    assert status == 201
    assert [d.event_id for d in list_dead_letters()] == ["n-2"]


def test_redelivered_dead_letter_is_stored_once(db):
    headers, body = to_binary(_dead_event("n-3"))
    assert receive(headers, body)[0] == 201
    assert receive(headers, body)[0] == 200
    assert len(list_dead_letters()) == 1


def test_request_that_is_not_a_cloudevent_is_400_and_stores_nothing(db):
    status, reply = receive({"content-type": "application/json"}, json.dumps({"x": 1}).encode())
    assert status == 400
    assert reply["badRequest"]["code"] == 400
    assert list_dead_letters() == []


def test_vigil_dead_letters_lists_what_was_stored(db, capsys):
    from vigil.cli import main

    headers, body = to_binary(_dead_event("n-cli"))
    receive(headers, body)
    assert main(["dead-letters", "--json", "--database-url", db]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["event_id"], listed["error_code"], listed["error_data"]) == (
        "n-cli",
        "503",
        "database unreachable",
    )
    assert main(["dead-letters", "--database-url", db, "--type", "org.example.other"]) == 0
    assert capsys.readouterr().out.strip() == "no dead letters"


def test_oversize_attributes_are_400_and_nothing_is_stored(db):
    event = _dead_event("x" * 256)
    status, reply = receive(*to_binary(event))
    assert (status, reply["badRequest"]["message"]) == (
        400,
        "CloudEvent attribute 'id' is longer than 255 characters",
    )
    assert list_dead_letters() == []


def test_listing_shows_stored_values_as_text_not_markup(db, capsys):
    from vigil.cli import main

    event = _dead_event("n-markup")
    event["type"] = "[/x] [bold]not markup[/bold]"
    assert receive(*to_binary(event))[0] == 201
    assert main(["dead-letters", "--database-url", db]) == 0
    assert "[/x]" in capsys.readouterr().out


@pytest.fixture
def sink(db):
    served = serve_function("deadletters", signature="http")
    yield served.url
    served.stop()


def _dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("vigil_dead_letters_dropped_total", {"reason": reason}) or 0.0


def test_the_sink_function_stores_a_dead_letter_and_answers_its_probe(sink):
    assert requests.get(f"{sink}/healthcheck", timeout=10).text == "OK"
    headers, body = to_binary(_dead_event("n-fn"))
    reply = requests.post(sink, headers=headers, data=body, timeout=10)
    assert reply.status_code == 201
    assert [d.event_id for d in list_dead_letters()] == ["n-fn"]


def test_a_dead_letter_over_the_size_bound_is_refused_logged_and_counted(sink, caplog):
    before = _dropped("too_large")
    event = _dead_event("n-big")
    event.data = {"blob": "x" * 70_000}  # over VIGIL_DEAD_LETTERS__MAX_EVENT_BYTES (64 KiB)
    headers, body = to_binary(event)
    with caplog.at_level(logging.WARNING, logger="shared.deadletters"):
        reply = requests.post(sink, headers=headers, data=body, timeout=10)
    assert reply.status_code == 413
    assert reply.json()["overLimit"]["code"] == 413
    assert list_dead_letters() == []
    assert _dropped("too_large") == before + 1
    assert "VIGIL_DEAD_LETTERS__MAX_EVENT_BYTES=65536" in caplog.text
    text = requests.get(f"{sink}/metrics", timeout=10).text
    assert 'vigil_dead_letters_dropped_total{reason="too_large"}' in text


def test_past_the_row_bound_the_oldest_dead_letter_makes_room(db, monkeypatch, caplog):
    monkeypatch.setenv("VIGIL_DEAD_LETTERS__MAX_ROWS", "3")
    get_settings.cache_clear()
    try:
        before = _dropped("evicted")
        with caplog.at_level(logging.WARNING, logger="shared.deadletters"):
            for n in range(5):
                assert receive(*to_binary(_dead_event(f"n-{n}")))[0] == 201
        assert [d.event_id for d in list_dead_letters()] == ["n-4", "n-3", "n-2"]
        assert _dropped("evicted") == before + 2
        assert "dropped the 1 oldest" in caplog.text
    finally:
        monkeypatch.delenv("VIGIL_DEAD_LETTERS__MAX_ROWS")
        get_settings.cache_clear()


def test_the_public_api_no_longer_takes_dead_letters(db):
    api = serve_function("api", signature="http")
    try:
        headers, body = to_binary(_dead_event("n-api"))
        reply = requests.post(f"{api.url}/dead-letters", headers=headers, data=body, timeout=10)
    finally:
        api.stop()
    assert reply.status_code == 300  # Masakari's version choices, as for any path outside /v1
    assert list_dead_letters() == []


def test_the_sink_function_answers_bad_input_with_a_400_fault_and_stores_nothing(sink):
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "e-nul",
        "ce-source": "/vigil/api",
        "ce-type": "org.openstack.vigil.internal.recovery.requested",
        "Content-Type": "application/json",
    }
    not_an_event = requests.post(sink, json={"not": "an event"}, timeout=10)
    nul = requests.post(sink, data=b'{"text": "\\u0000"}', headers=headers, timeout=10)
    assert (not_an_event.status_code, nul.status_code) == (400, 400)
    assert nul.json()["badRequest"]["code"] == 400
    assert requests.get(f"{sink}/anything", timeout=10).status_code == 405
    assert list_dead_letters() == []
