"""The local broker and scheduler behave like the Knative objects they are read from, over HTTP."""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import time

import pytest
import requests
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent, from_http
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shared.deadletters import list_dead_letters, receive
from vigil.wiring import (
    MANIFESTS,
    LocalNetwork,
    Manifests,
    Router,
    Scheduler,
    WiringError,
    build_ticks,
    load_manifests,
    parse_delivery,
    parse_schedule,
)

TRIGGER_TYPE = "org.openstack.vigil.internal.recovery.requested"
BACKOFF = 0.05


class Endpoint:
    """A real HTTP endpoint that answers with scripted statuses and records what it got."""

    def __init__(self, statuses=(200,), handler=None):
        self.statuses = list(statuses)
        self.handler = handler
        self.received: list[tuple[float, dict, bytes]] = []
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        ).start()

    def _app(self, environ, start_response):
        request = Request(environ)
        headers, body = dict(request.headers), request.get_data()
        self.received.append((time.monotonic(), headers, body))
        if self.handler:
            status, reply = self.handler(headers, body)
            return Response(json.dumps(reply), status=status)(environ, start_response)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return Response(f"answer {status}", status=status)(environ, start_response)

    def events(self):
        return [from_http(h, b) for _, h, b in self.received]

    def stop(self):
        self._server.shutdown()


@pytest.fixture
def endpoints():
    started = []

    def start(*args, **kwargs):
        endpoint = Endpoint(*args, **kwargs)
        started.append(endpoint)
        return endpoint

    yield start
    for endpoint in started:
        endpoint.stop()


def fast(manifests: Manifests) -> Manifests:
    """The real manifests with the recover Trigger's back-off shortened for a quick test."""
    docs = copy.deepcopy(manifests.docs)
    for doc in docs:
        if doc["kind"] == "Trigger" and doc["metadata"]["name"] == "recover":
            doc["spec"]["delivery"].update(retry=3, backoffDelay=f"PT{BACKOFF}S")
    return Manifests(docs, manifests.files)


@pytest.fixture
def router_for(endpoints):
    routers = []

    def start(recover_statuses=(200,)):
        recover = endpoints(recover_statuses)
        dead_letters = endpoints(handler=lambda headers, body: receive(headers, body))
        services = {
            "recover": recover.url,
            "api": recover.url,
            "dead-letters": dead_letters.url,
            "monitor": recover.url,
            "purge": recover.url,
        }
        router = Router(fast(load_manifests()), services).start()
        routers.append(router)
        return router, recover

    yield start
    for router in routers:
        router.stop()


def trigger_event(event_id="n-1"):
    return CloudEvent(
        {
            "type": TRIGGER_TYPE,
            "source": "/vigil/api",
            "id": event_id,
            "subject": event_id,
            "datacontenttype": "application/json",
        },
        {"notification_uuid": event_id, "type": "COMPUTE_HOST", "reason": "created"},
    )


def publish(router, event, structured=False):
    headers, body = (to_structured if structured else to_binary)(event)
    return requests.post(router.broker_urls["vigil"], headers=headers, data=body, timeout=5)


def settled(router, count=1, timeout=10):
    assert router.wait_for(
        lambda records: len(records) >= count and all(r.outcome != "pending" for r in records),
        timeout,
    )
    return router.records


@pytest.mark.parametrize("structured", [False, True])
def test_event_of_the_recovery_type_is_accepted_and_delivered_to_recover(router_for, structured):
    router, recover = router_for()
    assert publish(router, trigger_event(), structured).status_code == 202
    [record] = settled(router)
    assert (record.trigger, record.outcome, record.attempts) == ("recover", "delivered", 1)
    [delivered] = recover.events()
    assert delivered["type"] == TRIGGER_TYPE and delivered["id"] == "n-1"
    assert delivered.get_data()["reason"] == "created"
    assert "knativearrivaltime" in delivered.get_attributes()


def test_event_no_trigger_matches_is_accepted_and_not_delivered(router_for):
    router, recover = router_for()
    catalogue = CloudEvent(
        {"type": "org.openstack.vigil.segment.create.end", "source": "/vigil/api"}, {"uuid": "x"}
    )
    assert publish(router, catalogue).status_code == 202
    time.sleep(0.3)
    assert router.records == [] and recover.received == []


def test_request_that_is_not_a_cloudevent_is_rejected_by_the_broker(router_for):
    router, _ = router_for()
    reply = requests.post(router.broker_urls["vigil"], json={"hello": 1}, timeout=5)
    assert reply.status_code == 400


def test_failing_subscriber_is_retried_with_exponential_backoff_until_it_succeeds(router_for):
    router, recover = router_for([503, 503, 200])
    publish(router, trigger_event())
    [record] = settled(router)
    assert (record.outcome, record.attempts) == ("delivered", 3)
    times = [t for t, _, _ in recover.received]
    assert times[1] - times[0] >= BACKOFF * 2
    assert times[2] - times[1] >= BACKOFF * 4


def test_event_that_exhausts_its_retries_is_stored_as_a_dead_letter(db, router_for):
    router, recover = router_for([500])
    publish(router, trigger_event("n-dead"))
    [record] = settled(router)
    assert (record.outcome, record.attempts) == ("dead-lettered", 4)  # retry 3 → 4 attempts
    [dead] = list_dead_letters()
    assert (dead.event_id, dead.event_type, dead.error_code) == ("n-dead", TRIGGER_TYPE, "500")
    assert dead.error_dest == recover.url
    assert dead.error_data == "answer 500"
    assert dead.data["notification_uuid"] == "n-dead"


def test_permanent_client_error_is_dead_lettered_without_retries(db, router_for):
    router, recover = router_for([400])
    publish(router, trigger_event("n-bad"))
    [record] = settled(router)
    assert (record.outcome, record.attempts) == ("dead-lettered", 1)
    assert [d.error_code for d in list_dead_letters()] == ["400"]


def test_unreachable_subscriber_is_retried_then_dead_lettered(db, endpoints):
    dead_letters = endpoints(handler=lambda headers, body: receive(headers, body))
    closed = endpoints()
    closed.stop()
    router = Router(
        fast(load_manifests()), {"recover": closed.url, "dead-letters": dead_letters.url}
    ).start()
    try:
        publish(router, trigger_event("n-gone"))
        [record] = settled(router)
    finally:
        router.stop()
    assert (record.outcome, record.attempts) == ("dead-lettered", 4)
    [dead] = list_dead_letters()
    assert dead.error_code is None and dead.error_dest == closed.url


def test_delivery_spec_is_read_as_knative_applies_it():
    delivery = parse_delivery({"retry": 6, "backoffPolicy": "exponential", "backoffDelay": "PT1S"})
    assert [delivery.delay_before(n) for n in range(1, 7)] == [2, 4, 8, 16, 32, 64]
    linear = parse_delivery({"retry": 2, "backoffPolicy": "linear", "backoffDelay": "PT0.5S"})
    assert [linear.delay_before(n) for n in (1, 2)] == [0.5, 1.0]
    with pytest.raises(WiringError):
        parse_delivery({"backoffDelay": "P1S"})


# --- scheduler ----------------------------------------------------------------------------------

UTC = dt.UTC


@pytest.mark.parametrize(
    ("expression", "timezone", "after", "expected"),
    [
        ("* * * * *", None, "2026-01-01T10:00:30", "2026-01-01T10:01:00"),
        (
            "*/10 * * * * *",
            None,
            "2026-01-01T10:00:31",
            "2026-01-01T10:00:40",
        ),  # Quartz seconds first
        ("17 3 * * *", "Etc/UTC", "2026-01-01T10:00:00", "2026-01-02T03:17:00"),
        ("17 3 * * *", "Europe/Berlin", "2026-01-01T10:00:00", "2026-01-02T02:17:00"),
        ("CRON_TZ=Asia/Tokyo 0 0 * * *", None, "2026-01-01T10:00:00", "2026-01-01T15:00:00"),
        ("@daily", None, "2026-01-01T10:00:00", "2026-01-02T00:00:00"),
        ("@every 1m30s", None, "2026-01-01T10:00:00", "2026-01-01T10:01:30"),
    ],
)
def test_pingsource_schedule_gives_the_next_fire_time(expression, timezone, after, expected):
    schedule = parse_schedule(expression, timezone)
    moment = dt.datetime.fromisoformat(after).replace(tzinfo=UTC)
    assert schedule.next_after(moment) == dt.datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "expression",
    [
        "* * * *",
        "60 * * * *",
        "* * * * * * *",
        "@every",
        "@every 5 minutes",
        "@fortnightly",
        "TZ=Nowhere/City * * * * *",
    ],
)
def test_invalid_schedule_is_rejected(expression):
    with pytest.raises(WiringError):
        parse_schedule(expression)


def test_pingsources_resolve_to_their_services():
    network = LocalNetwork(
        {
            "monitor": "http://m",
            "recover": "http://r",
            "purge": "http://p",
            "api": "http://a",
            "dead-letters": "http://d",
        }
    )
    ticks = {t.name: t for t in build_ticks(load_manifests(MANIFESTS), network)}
    assert {n: t.sink for n, t in ticks.items()} == {
        "monitor-tick": "http://m",
        "sweep-tick": "http://r",
        "purge-tick": "http://p",
    }


def test_scheduler_sends_ping_events_to_the_sink_on_schedule(endpoints):
    monitor = endpoints()
    network = LocalNetwork({"monitor": monitor.url, "recover": monitor.url, "purge": monitor.url})
    ticks = build_ticks(load_manifests(MANIFESTS), network, {"monitor-tick": "@every 0.1s"})
    scheduler = Scheduler([t for t in ticks if t.name == "monitor-tick"]).start()
    try:
        deadline = time.monotonic() + 5
        while len(monitor.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.stop()
    events = monitor.events()
    assert len(events) >= 3
    assert events[0]["type"] == "dev.knative.sources.ping"
    assert events[0]["source"] == "/apis/v1/namespaces/vigil/pingsources/monitor-tick"
    assert events[0].get_data() == {"tick": "monitor"}
    assert len({e["id"] for e in events}) == len(events)


def test_broker_answers_404_for_a_broker_that_is_not_defined(router_for):
    router, _ = router_for()
    headers, body = to_binary(trigger_event())
    assert (
        requests.post(f"{router.url}/vigil", headers=headers, data=body, timeout=5).status_code
        == 404
    )
    assert (
        requests.post(
            f"{router.url}/vigil/other", headers=headers, data=body, timeout=5
        ).status_code
        == 404
    )
