"""Notifications (api.md §10): creation order, duplicates under concurrency, reads, events."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from shared import errors
from shared.db import session_scope
from shared.models import Notification, RecoveryProgress
from shared.notifications import create_notification
from shared.settings import get_settings
from tests.api.conftest import add_host, add_segment

NOW = "2026-05-01T10:00:00.000000"


def body(hostname="compute-0", type_="COMPUTE_HOST", payload=None, generated_time=NOW):
    return {
        "notification": {
            "type": type_,
            "hostname": hostname,
            "generated_time": generated_time,
            "payload": payload
            if payload is not None
            else {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"},
        }
    }


@pytest.fixture
def host(api):
    segment = add_segment()
    return add_host(segment, "compute-0")


def count() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Notification))


def test_create_notification_is_202_and_stored_new(api, host, sink):
    r = api.post("/v1/notifications", body())
    assert r.status_code == 202
    n = r.json()["notification"]
    assert n["status"] == "new"
    assert n["source_host_uuid"] == host.uuid
    assert n["failover_segment_uuid"] == host.failover_segment_id
    assert n["generated_time"] == NOW
    assert n["payload"] == {
        "event": "STOPPED",
        "host_status": "NORMAL",
        "cluster_status": "OFFLINE",
    }
    assert "hostname" not in n and isinstance(n["id"], int)
    assert n["deleted"] is False and n["deleted_at"] is None and n["updated_at"] is None
    assert sink.types() == [
        "notification.create.start",
        "notification.create.end",
        "internal.recovery.requested",
    ]
    trigger = sink.events[-1]
    assert trigger["id"] == n["notification_uuid"] and trigger["subject"] == n["notification_uuid"]
    assert trigger.data == {
        "notification_uuid": n["notification_uuid"],
        "type": "COMPUTE_HOST",
        "reason": "created",
    }
    end = sink.events[1]
    assert end.data["id"] == n["id"] and end.data["fault"] is None
    assert "id" not in sink.events[0].data


def test_offset_generated_time_is_stored_as_naive_utc(api, host):
    r = api.post("/v1/notifications", body(generated_time="2026-05-01 12:00:00+02:00"))
    assert r.status_code == 202
    assert r.json()["notification"]["generated_time"] == "2026-05-01T10:00:00.000000"


def test_unknown_host_is_400(api, host):
    r = api.post("/v1/notifications", body(hostname="nowhere"))
    assert r.status_code == 400
    assert r.json() == {
        "badRequest": {"code": 400, "message": "Host with name nowhere could not be found."}
    }
    assert r.headers["Content-Type"] == "application/json; charset=UTF-8"


def test_host_on_maintenance_is_409(api):
    add_host(add_segment(), "compute-0", on_maintenance=True)
    r = api.post("/v1/notifications", body())
    assert r.status_code == 409
    assert r.json()["conflictingRequest"]["message"] == (
        "Notification received from host compute-0 of type 'COMPUTE_HOST' is ignored as the "
        "host is already under maintenance."
    )


def test_duplicate_notification_within_window_is_409(api, host):
    assert api.post("/v1/notifications", body()).status_code == 202
    reordered = {"cluster_status": "OFFLINE", "host_status": "NORMAL", "event": "STOPPED"}
    later = (dt.datetime.fromisoformat(NOW) + dt.timedelta(seconds=179)).isoformat()
    r = api.post("/v1/notifications", body(payload=reordered, generated_time=later))
    assert r.status_code == 409
    assert r.json()["conflictingRequest"]["message"] == (
        "Notification received from host compute-0 of type COMPUTE_HOST is duplicate."
    )


def test_replayed_older_notification_is_duplicate(api, host):
    assert api.post("/v1/notifications", body()).status_code == 202
    older = (dt.datetime.fromisoformat(NOW) - dt.timedelta(hours=5)).isoformat()
    assert api.post("/v1/notifications", body(generated_time=older)).status_code == 409


def test_same_report_outside_window_or_other_payload_is_accepted(api, host):
    assert api.post("/v1/notifications", body()).status_code == 202
    later = (dt.datetime.fromisoformat(NOW) + dt.timedelta(seconds=181)).isoformat()
    assert api.post("/v1/notifications", body(generated_time=later)).status_code == 202
    assert api.post("/v1/notifications", body(payload={"event": "STARTED"})).status_code == 202
    assert count() == 3


def test_duplicate_window_follows_setting(api, host, monkeypatch):
    monkeypatch.setenv("VIGIL_DUPLICATE_NOTIFICATION_DETECTION_INTERVAL", "0")
    get_settings.cache_clear()
    assert api.post("/v1/notifications", body()).status_code == 202
    later = (dt.datetime.fromisoformat(NOW) + dt.timedelta(seconds=1)).isoformat()
    assert api.post("/v1/notifications", body(generated_time=later)).status_code == 202


def test_two_identical_posts_at_once_accept_exactly_one(api, host):
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def post():
        barrier.wait()
        codes.append(api.post("/v1/notifications", body()).status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [202] + [409] * 7
    assert count() == 1


def test_failed_trigger_publication_still_202_and_row_stays_new(api, host, sink):
    sink.status = 500
    r = api.post("/v1/notifications", body())
    assert r.status_code == 202
    with session_scope() as session:
        assert session.scalar(select(Notification.status)) == "new"


def test_no_sink_configured_still_202(api, host):
    assert api.post("/v1/notifications", body()).status_code == 202
    assert count() == 1


def test_monitor_path_without_http_shares_validation_and_duplicates(api, host, sink):
    created = create_notification(body()["notification"], source="monitor")
    assert created["status"] == "new"
    assert sink.events[0]["source"] == "/vigil/monitor"
    with pytest.raises(errors.VigilError) as dup:
        create_notification(body()["notification"], source="monitor")
    assert dup.value.code == 409
    with pytest.raises(errors.VigilError) as bad:
        create_notification(
            {
                "type": "PROCESS",
                "hostname": "compute-0",
                "generated_time": NOW,
                "payload": {"process_name": "nova-compute", "event": "stopped"},
            }
        )
    assert bad.value.code == 400
    assert "'stopped' is not one of ('STARTED', 'STOPPED')" in bad.value.message


@pytest.mark.parametrize(
    "payload_type, payload, message",
    [
        (
            "PROCESS",
            {"process_name": "nova-compute", "event": "stopped"},
            "'stopped' is not one of ('STARTED', 'STOPPED')",
        ),
        (
            "COMPUTE_HOST",
            {"event": "STOPPED", "extra": "x"},
            "Additional properties are not allowed ('extra' was unexpected)",
        ),
        ("COMPUTE_HOST", {"host_status": "NORMAL"}, "'event' is a required property"),
        (
            "VM",
            {"instance_uuid": "nope", "vir_domain_event": "STOPPED_FAILED", "event": "LIFECYCLE"},
            "'nope' is not a 'uuid'",
        ),
        ("COMPUTE_HOST", {"event": 1}, "1 is not of type 'string'"),
    ],
)
def test_per_type_payload_errors_are_400(api, host, payload_type, payload, message):
    r = api.post("/v1/notifications", body(type_=payload_type, payload=payload))
    assert r.status_code == 400
    assert message in r.json()["badRequest"]["message"]
    assert count() == 0


def test_vm_and_process_notifications_are_accepted(api, host):
    vm = {
        "instance_uuid": "0d5d8c8f3e3a4a8f9b0e7a1c2d3e4f50",
        "vir_domain_event": "STOPPED_FAILED",
        "event": "LIFECYCLE",
    }
    assert api.post("/v1/notifications", body(type_="VM", payload=vm)).status_code == 202
    process = {"process_name": "nova-compute", "event": "STOPPED"}
    assert api.post("/v1/notifications", body(type_="PROCESS", payload=process)).status_code == 202


@pytest.mark.parametrize(
    "envelope, message",
    [
        (
            {
                "notification": {
                    "type": "COMPUTE_HOST",
                    "hostname": "compute-0",
                    "generated_time": NOW,
                }
            },
            "'payload' is a required property",
        ),
        (
            {
                "notification": {
                    "type": "BAD",
                    "hostname": "compute-0",
                    "generated_time": NOW,
                    "payload": {},
                }
            },
            "Invalid input for field/attribute type. Value: BAD. 'BAD' is not one of ('COMPUTE_HOST', 'VM', 'PROCESS')",
        ),
        (
            {
                "notification": {
                    "type": "VM",
                    "hostname": "bad host",
                    "generated_time": NOW,
                    "payload": {},
                }
            },
            "Invalid input for field/attribute hostname. Value: bad host. 'bad host' does not match '^[a-zA-Z0-9-._]*$'",
        ),
        (
            {
                "notification": {
                    "type": "VM",
                    "hostname": "h",
                    "generated_time": "yesterday",
                    "payload": {},
                }
            },
            "Invalid input for field/attribute generated_time. Value: yesterday. 'yesterday' is not a 'date-time'",
        ),
        (
            {
                "notification": {
                    "type": "VM",
                    "hostname": "h",
                    "generated_time": NOW,
                    "payload": {"k": 1},
                }
            },
            "Invalid input for field/attribute k. Value: 1. 1 is not of type 'string'",
        ),
        (
            {
                "notification": {
                    "type": "VM",
                    "hostname": "h",
                    "generated_time": NOW,
                    "payload": {"k": "x" * 256},
                }
            },
            "is too long",
        ),
        (
            {
                "notification": {
                    "type": "VM",
                    "hostname": "h",
                    "generated_time": NOW,
                    "payload": {},
                },
                "x": 1,
            },
            "Additional properties are not allowed ('x' was unexpected)",
        ),
    ],
)
def test_envelope_schema_errors_are_400(api, envelope, message):
    r = api.post("/v1/notifications", envelope)
    assert r.status_code == 400
    assert message in r.json()["badRequest"]["message"]


def test_get_notification_and_workflow_details_by_version(api, host):
    n = api.post("/v1/notifications", body()).json()["notification"]
    with session_scope() as session:
        session.add(
            RecoveryProgress(
                notification_uuid=n["notification_uuid"],
                attempt=1,
                run=0,
                step_name="DisableComputeServiceTask",
                state="SUCCESS",
                progress=1.0,
                details=[
                    {
                        "timestamp": "2026-05-01 10:00:00.123456",
                        "message": "Disabled compute service on host: 'compute-0'",
                        "progress": 1.0,
                    }
                ],
                created_at=dt.datetime(2026, 5, 1),
            )
        )
    plain = api.get(f"/v1/notifications/{n['notification_uuid']}").json()["notification"]
    assert "recovery_workflow_details" not in plain
    detailed = api.get(f"/v1/notifications/{n['notification_uuid']}", version="1.1").json()[
        "notification"
    ]
    assert detailed["recovery_workflow_details"] == [
        {
            "name": "DisableComputeServiceTask",
            "progress": 1.0,
            "state": "SUCCESS",
            "progress_details": [
                {
                    "timestamp": "2026-05-01 10:00:00.123456",
                    "message": "Disabled compute service on host: 'compute-0'",
                    "progress": "1.0",
                }
            ],
        }
    ]
    listed = api.get("/v1/notifications", version="1.3").json()["notifications"]
    assert "recovery_workflow_details" not in listed[0]


def test_unknown_notification_is_404(api):
    r = api.get("/v1/notifications/0d5d8c8f-3e3a-4a8f-9b0e-7a1c2d3e4f50")
    assert r.status_code == 404
    assert (
        r.json()["itemNotFound"]["message"]
        == "No notification with id 0d5d8c8f-3e3a-4a8f-9b0e-7a1c2d3e4f50."
    )


@pytest.mark.parametrize(
    "method, path, action",
    [
        ("PUT", "/v1/notifications/x", "update"),
        ("DELETE", "/v1/notifications/x", "delete"),
        ("POST", "/v1/notifications/x/action", "action"),
    ],
)
def test_notification_write_methods_are_405(api, method, path, action):
    r = api.request(method, path, {} if method != "DELETE" else None)
    assert r.status_code == 405
    assert r.json()["badMethod"]["message"] == (
        f"The request method: '{method}' with action: '{action}' is not allowed on this resource"
    )


def test_notification_list_filters(api, host):
    first = api.post("/v1/notifications", body()).json()["notification"]
    api.post(
        "/v1/notifications",
        body(
            type_="PROCESS",
            payload={"process_name": "p", "event": "STOPPED"},
            generated_time="2026-05-02T00:00:00",
        ),
    )

    def names(query):
        r = api.get("/v1/notifications" + query)
        assert r.status_code == 200, r.text
        return [n["type"] for n in r.json()["notifications"]]

    assert names("?type=PROCESS") == ["PROCESS"]
    assert names("?status=new&sort_key=generated_time&sort_dir=asc") == ["COMPUTE_HOST", "PROCESS"]
    assert names(f"?source_host_uuid={first['source_host_uuid']}&sort_key=type") == [
        "PROCESS",
        "COMPUTE_HOST",
    ]
    assert names("?generated-since=2026-05-01T12:00:00") == ["PROCESS"]
    r = api.get("/v1/notifications?generated-since=notatime")
    assert (
        r.status_code == 400
        and r.json()["badRequest"]["message"] == "Invalid generated-since value"
    )
    r = api.get("/v1/notifications?sort_key=uuid")
    assert r.status_code == 400
    assert (
        r.json()["badRequest"]["message"] == "InvalidSortKey('Sort key supplied is invalid: uuid')"
    )


def test_nul_in_payload_and_earliest_time_are_not_server_errors(api, host):
    r = api.post(
        "/v1/notifications",
        body(
            type_="VM",
            payload={
                "instance_uuid": "0d5d8c8f3e3a4a8f9b0e7a1c2d3e4f50",
                "vir_domain_event": "x\u0000",
                "event": "E",
            },
        ),
    )
    assert r.status_code == 400
    r = api.post("/v1/notifications", body(generated_time="0001-01-01T00:00:00"))
    assert r.status_code == 202


def test_notification_put_with_any_body_is_405(api):
    r = api.request(
        "PUT", "/v1/notifications/x", data="{broken", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 405


class HeldSink:
    """An event sink that keeps every request waiting until released."""

    def __init__(self) -> None:
        from cloudevents.http import from_http
        from werkzeug.serving import make_server
        from werkzeug.wrappers import Request, Response

        self.received: list = []
        self.first = threading.Event()
        self.release = threading.Event()

        @Request.application
        def app(request):
            self.received.append(from_http(dict(request.headers), request.get_data()))
            self.first.set()
            self.release.wait(120)
            return Response("", status=202)

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()


def test_slow_sink_neither_delays_the_reply_nor_holds_the_host_lock(api, host, monkeypatch):
    """Events leave after the commit, from the background sender: while the sink sits on the
    first one, the POST has answered, the row is committed and the host row is unlocked."""
    from sqlalchemy import text

    from shared.db import get_engine
    from shared.events import flush

    held = HeldSink()
    monkeypatch.setenv("K_SINK", held.url)
    monkeypatch.setenv("VIGIL_PUBLISH_TIMEOUT", "100")
    get_settings.cache_clear()
    replies: list = []
    poster = threading.Thread(target=lambda: replies.append(api.post("/v1/notifications", body())))
    try:
        poster.start()
        assert held.first.wait(60), "no event reached the sink"
        poster.join(60)
        assert not poster.is_alive(), "the POST waited for the sink"
        assert replies[0].status_code == 202
        with get_engine().connect() as conn:
            conn.execute(text("SET lock_timeout = '200ms'"))
            locked = conn.execute(
                text("SELECT name FROM hosts WHERE uuid = :u FOR UPDATE"), {"u": host.uuid}
            ).scalar_one()
            conn.rollback()
        assert locked == "compute-0"
        assert count() == 1
    finally:
        held.release.set()
        assert flush(60)
        held.stop()
    assert [e["type"].rsplit("vigil.", 1)[-1] for e in held.received] == [
        "notification.create.start",
        "notification.create.end",
        "internal.recovery.requested",
    ]
