"""VM moves (api.md §11) and the catalogue events of segment/host updates and deletes."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from shared.db import session_scope
from shared.models import Notification, VMove
from tests.api.conftest import add_host, add_segment

MISSING = "0d5d8c8f-3e3a-4a8f-9b0e-7a1c2d3e4f50"


def notification(type_="COMPUTE_HOST", tag="a") -> str:
    host = add_host(add_segment(f"seg-{type_}-{tag}"), f"host-{type_}-{tag}")
    row_uuid = str(uuid.uuid4())
    with session_scope() as session:
        session.add(
            Notification(
                notification_uuid=row_uuid,
                generated_time=dt.datetime(2026, 5, 1),
                type=type_,
                payload={},
                status="finished",
                source_host_uuid=host.uuid,
                failover_segment_uuid=host.failover_segment_id,
                created_at=dt.datetime(2026, 5, 1),
                deleted=0,
            )
        )
    return row_uuid


def vmove(notification_uuid: str, name: str, status: str = "succeeded", minute: int = 0) -> str:
    row_uuid = str(uuid.uuid4())
    with session_scope() as session:
        session.add(
            VMove(
                uuid=row_uuid,
                notification_uuid=notification_uuid,
                instance_uuid=str(uuid.uuid4()),
                instance_name=name,
                source_host="compute-000",
                dest_host="compute-001",
                start_time=dt.datetime(2026, 5, 1, 10, minute, 0, 123456),
                type="evacuation",
                status=status,
                created_at=dt.datetime(2026, 5, 1, 10, minute),
                deleted=0,
            )
        )
    return row_uuid


@pytest.fixture
def moves(api):
    n = notification()
    ids = [
        vmove(n, f"vm-{i}", status="failed" if i == 1 else "succeeded", minute=i) for i in range(3)
    ]
    return n, ids


def test_list_vmoves_with_filters_sort_and_paging(api, moves):
    n, ids = moves
    path = f"/v1/notifications/{n}/vmoves"
    listed = api.get(path).json()["vmoves"]
    assert [m["instance_name"] for m in listed] == ["vm-2", "vm-1", "vm-0"]
    assert set(listed[0]) == {
        "id",
        "uuid",
        "notification_uuid",
        "instance_uuid",
        "instance_name",
        "source_host",
        "dest_host",
        "start_time",
        "end_time",
        "type",
        "status",
        "message",
        "created_at",
        "updated_at",
        "deleted",
        "deleted_at",
    }
    assert listed[2]["start_time"] == "2026-05-01T10:00:00.123456"
    assert [m["instance_name"] for m in api.get(path + "?status=failed").json()["vmoves"]] == [
        "vm-1"
    ]
    assert len(api.get(path + "?type=evacuation").json()["vmoves"]) == 3
    assert [
        m["instance_name"]
        for m in api.get(path + "?sort_key=instance_name&sort_dir=asc&limit=2").json()["vmoves"]
    ] == ["vm-0", "vm-1"]
    page = api.get(path + f"?sort_key=instance_name&sort_dir=asc&marker={ids[1]}").json()["vmoves"]
    assert [m["instance_name"] for m in page] == ["vm-2"]
    assert api.get(path + "?sort_key=priority").status_code == 400


def test_show_vmove(api, moves):
    n, ids = moves
    r = api.get(f"/v1/notifications/{n}/vmoves/{ids[0]}")
    assert r.status_code == 200 and r.json()["vmove"]["instance_name"] == "vm-0"
    r = api.get(f"/v1/notifications/{n}/vmoves/{MISSING}")
    assert (
        r.status_code == 404
        and r.json()["itemNotFound"]["message"] == f"No vm move with id {MISSING}."
    )


def test_show_does_not_check_membership(api, moves):
    _, ids = moves
    other = notification(tag="b")
    r = api.get(f"/v1/notifications/{other}/vmoves/{ids[0]}")
    assert r.status_code == 200 and r.json()["vmove"]["uuid"] == ids[0]


@pytest.mark.parametrize("suffix", ["", f"/{MISSING}"])
def test_unknown_notification_is_404(api, suffix):
    r = api.get(f"/v1/notifications/{MISSING}/vmoves{suffix}")
    assert r.status_code == 404
    assert r.json()["itemNotFound"]["message"] == f"No notification with id {MISSING}."


@pytest.mark.parametrize("suffix", ["", f"/{MISSING}"])
def test_non_host_notification_has_no_vmoves(api, suffix):
    n = notification("VM")
    r = api.get(f"/v1/notifications/{n}/vmoves{suffix}")
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == f"This notification {n} without vm moves."


def test_vmoves_answer_at_every_microversion(api, moves):
    n, _ = moves
    for version in ("1.0", "1.2", "1.3", "1.4"):
        assert api.get(f"/v1/notifications/{n}/vmoves", version=version).status_code == 200


def test_update_and_delete_events(api, sink):
    segment = api.post(
        "/v1/segments",
        {"segment": {"name": "s", "recovery_method": "auto", "service_type": "COMPUTE"}},
    ).json()["segment"]
    api.put(f"/v1/segments/{segment['uuid']}", {"segment": {"description": "d"}})
    api.delete(f"/v1/segments/{segment['uuid']}")
    assert sink.types() == [
        "segment.create.start",
        "segment.create.end",
        "segment.update.start",
        "segment.update.end",
        "segment.delete.start",
        "segment.delete.end",
    ]
    assert sink.events[3].data["description"] == "d"
    assert all(e["subject"] == segment["uuid"] and e["source"] == "/vigil/api" for e in sink.events)


def test_rejected_requests_emit_nothing(api, sink):
    api.post("/v1/segments", {"segment": {}})
    api.put(f"/v1/segments/{MISSING}", {"segment": {"name": "x"}})
    assert sink.events == []
