"""openstacksdk's ``instance_ha`` proxy, unchanged, found through the sim's Keystone catalog."""

from __future__ import annotations

import datetime as dt

import openstack
import pytest
from openstack import exceptions as sdk_exc

from shared.db import session_scope
from shared.models import VMove
from tests.api.conftest import use_region


@pytest.fixture
def keystone(db, served, sim, monkeypatch, noauth):
    monkeypatch.setenv("VIGIL_AUTH_STRATEGY", "keystone")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", sim.clouds_yaml)
    use_region(monkeypatch, sim)
    return sim


def connect(**config):
    return openstack.connect(cloud="vigil-sim", **config).instance_ha


def test_every_proxy_method_at_default_versions(keystone):
    ha = connect()
    segment = ha.create_segment(
        name="seg-sdk", recovery_method="auto", service_type="COMPUTE", is_enabled=False
    )
    assert segment.name == "seg-sdk" and segment.is_enabled is False
    assert [s.name for s in ha.segments()] == ["seg-sdk"]
    assert [s.name for s in ha.segments(is_enabled=False)] == ["seg-sdk"]
    assert list(ha.segments(is_enabled=True)) == []
    assert ha.get_segment(segment.uuid).recovery_method == "auto"
    updated = ha.update_segment(segment.uuid, description="sdk", is_enabled=True)
    assert updated.description == "sdk" and updated.is_enabled is True

    host = ha.create_host(
        segment.uuid, name="compute-000", type="COMPUTE", control_attributes="SSH"
    )
    assert host.failover_segment_id == segment.uuid
    ha.create_host(
        segment.uuid, name="compute-001", type="COMPUTE", control_attributes="SSH", reserved=True
    )
    assert sorted(h.name for h in ha.hosts(segment.uuid)) == ["compute-000", "compute-001"]
    assert [h.name for h in ha.hosts(segment.uuid, reserved=True)] == ["compute-001"]
    assert ha.get_host(host.uuid, segment.uuid).name == "compute-000"
    assert ha.update_host(host.uuid, segment.uuid, on_maintenance=True).on_maintenance is True
    ha.update_host(host.uuid, segment.uuid, on_maintenance=False)

    notification = ha.create_notification(
        type="COMPUTE_HOST",
        hostname="compute-000",
        generated_time="2026-05-01T10:00:00",
        payload={"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"},
    )
    assert notification.status == "new"
    assert [n.notification_uuid for n in ha.notifications()] == [notification.notification_uuid]
    assert len(list(ha.notifications(generated_since="2026-05-01T09:00:00"))) == 1
    fetched = ha.get_notification(notification.notification_uuid)
    assert fetched.source_host_uuid == host.uuid and fetched.recovery_workflow_details is None

    with session_scope() as session:
        session.add(
            VMove(
                uuid="6c1f0d3e-5a3b-4f0e-9d5e-2b8f0c9a7d11",
                notification_uuid=notification.notification_uuid,
                instance_uuid="0d5d8c8f-3e3a-4a8f-9b0e-7a1c2d3e4f50",
                instance_name="vm-1",
                source_host="compute-000",
                dest_host="compute-001",
                type="evacuation",
                status="succeeded",
                created_at=dt.datetime(2026, 5, 1),
                deleted=0,
            )
        )
    moves = list(ha.vmoves(notification.notification_uuid))
    assert [m.server_name for m in moves] == ["vm-1"]
    move = ha.get_vmove(moves[0].uuid, notification.notification_uuid)
    assert (
        move.server_id == "0d5d8c8f-3e3a-4a8f-9b0e-7a1c2d3e4f50" and move.dest_host == "compute-001"
    )

    with pytest.raises(sdk_exc.ConflictException):
        ha.delete_segment(segment.uuid)
    with pytest.raises(sdk_exc.NotFoundException):
        ha.get_segment("0d5d8c8f-3e3a-4a8f-9b0e-7a1c2d3e4f50")


def test_host_delete_and_segment_delete(keystone):
    ha = connect()
    segment = ha.create_segment(
        name="seg-del", recovery_method="reserved_host", service_type="COMPUTE"
    )
    host = ha.create_host(segment.uuid, name="compute-002", type="COMPUTE", control_attributes="")
    ha.delete_host(host.uuid, segment.uuid, ignore_missing=False)
    assert list(ha.hosts(segment.uuid)) == []
    ha.delete_segment(segment.uuid, ignore_missing=False)
    assert list(ha.segments()) == []


def test_configured_microversion_returns_workflow_details(keystone):
    ha = connect(instance_ha_api_version="1.3")
    segment = ha.create_segment(name="seg-v13", recovery_method="auto", service_type="COMPUTE")
    ha.create_host(segment.uuid, name="compute-003", type="COMPUTE", control_attributes="")
    notification = ha.create_notification(
        type="PROCESS",
        hostname="compute-003",
        generated_time="2026-05-01T10:00:00",
        payload={"process_name": "nova-compute", "event": "STOPPED"},
    )
    assert ha.get_notification(notification.notification_uuid).recovery_workflow_details == []


def test_sdk_paging_uses_integer_markers(keystone):
    ha = connect()
    for i in range(5):
        ha.create_segment(name=f"seg-{i}", recovery_method="auto", service_type="COMPUTE")
    assert sorted(s.name for s in ha.segments(limit=2)) == [f"seg-{i}" for i in range(5)]
    assert sorted(s.name for s in ha.segments(paginated=True, limit=2)) == [
        f"seg-{i}" for i in range(5)
    ]


def test_endpoint_with_project_id(keystone, served):
    conn = openstack.connect(cloud="vigil-sim")
    project = conn.current_project_id
    ha = openstack.connect(
        cloud="vigil-sim", instance_ha_endpoint_override=f"{served.url}/v1/{project}"
    ).instance_ha
    segment = ha.create_segment(name="seg-project", recovery_method="auto", service_type="COMPUTE")
    assert [s.uuid for s in ha.segments()] == [segment.uuid]
    assert ha.get_segment(segment.uuid).name == "seg-project"
