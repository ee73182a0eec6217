"""Hosts (api.md §9) against the simulated region's Nova, and the 1.4 health extension."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.db import session_scope
from shared.models import HealthSample, HostMonitorState, Notification
from tests.api.conftest import use_region

UUID = "0d5d8c8f-3e3a-4a8f-9b0e-7a1c2d3e4f50"


@pytest.fixture
def nova(api, sim, monkeypatch):
    use_region(monkeypatch, sim)
    return sim


@pytest.fixture
def segment(api):
    r = api.post(
        "/v1/segments",
        {"segment": {"name": "seg-1", "recovery_method": "auto", "service_type": "COMPUTE"}},
    )
    return r.json()["segment"]


def host_body(name="compute-000", **kw):
    return {"host": {"name": name, "type": "COMPUTE", "control_attributes": "SSH", **kw}}


def create(api, segment, name="compute-000", **kw):
    r = api.post(f"/v1/segments/{segment['uuid']}/hosts", host_body(name, **kw))
    assert r.status_code == 201, r.text
    return r.json()["host"]


def message(r, fault="badRequest"):
    return r.json()[fault]["message"]


def test_create_host_checks_nova_and_returns_every_field(api, nova, segment, sink):
    h = create(api, segment, reserved="yes")
    assert set(h) == {
        "id",
        "uuid",
        "name",
        "type",
        "control_attributes",
        "reserved",
        "on_maintenance",
        "failover_segment_id",
        "failover_segment",
        "created_at",
        "updated_at",
        "deleted",
        "deleted_at",
    }
    assert h["reserved"] is True and h["on_maintenance"] is False
    assert h["failover_segment_id"] == segment["uuid"] and h["failover_segment"] == segment
    assert ("nova", "GET", "/v2.1/os-services", 200) in nova.request_log
    assert sink.types() == ["host.create.start", "host.create.end"]
    assert sink.events[1].data["failover_segment"]["uuid"] == segment["uuid"]


@pytest.mark.parametrize("name", ["compute-999", "COMPUTE-000", "compute-00"])
def test_host_without_compute_service_is_400(api, nova, segment, name):
    r = api.post(f"/v1/segments/{segment['uuid']}/hosts", host_body(name))
    assert r.status_code == 400
    assert message(r) == f"Compute service with name {name} could not be found."


def test_nova_unreachable_is_503(api, nova, segment):
    nova.set_api_down("nova")
    try:
        r = api.post(f"/v1/segments/{segment['uuid']}/hosts", host_body())
    finally:
        nova.set_api_down("nova", down=False)
    assert r.status_code == 503
    assert r.json()["serviceUnavailable"]["code"] == 503


def test_host_names_are_unique_across_segments(api, nova, segment):
    create(api, segment)
    other = api.post(
        "/v1/segments",
        {"segment": {"name": "seg-2", "recovery_method": "auto", "service_type": "COMPUTE"}},
    ).json()["segment"]
    r = api.post(f"/v1/segments/{other['uuid']}/hosts", host_body())
    assert r.status_code == 409
    assert message(r, "conflictingRequest") == "Host with name compute-000 already exists."


def test_create_under_unknown_segment_is_404(api, nova):
    r = api.post(f"/v1/segments/{UUID}/hosts", host_body())
    assert (
        r.status_code == 404
        and message(r, "itemNotFound") == f"No failover segment with id {UUID}."
    )
    r = api.get(f"/v1/segments/{UUID}/hosts")
    assert message(r, "itemNotFound") == f"No failover segment with id {UUID}."


@pytest.mark.parametrize("field", ["type", "control_attributes"])
def test_null_type_or_control_attributes_is_400(api, nova, segment, field):
    r = api.post(f"/v1/segments/{segment['uuid']}/hosts", host_body(**{field: None}))
    assert r.status_code == 400
    assert (
        message(r)
        == f"Invalid input for field/attribute {field}. Value: None. None is not of type 'string'"
    )


@pytest.mark.parametrize(
    "body, text",
    [
        (host_body(type="bad type"), "'bad type' does not match '^[a-zA-Z0-9]*$'"),
        (
            host_body(reserved="maybe"),
            "Invalid input for field/attribute reserved. Value: maybe. 'maybe' is not one of",
        ),
        (host_body(on_maintenance=2), "2 is not of type 'boolean', 'string'"),
        ({"host": {"name": "compute-000"}}, "'type' is a required property"),
        (
            {
                "host": {
                    "name": "compute-000",
                    "type": "C",
                    "control_attributes": "",
                    "failover_segment_id": "x",
                }
            },
            "Additional properties are not allowed ('failover_segment_id' was unexpected)",
        ),
    ],
)
def test_host_schema_errors(api, nova, segment, body, text):
    r = api.post(f"/v1/segments/{segment['uuid']}/hosts", body)
    assert r.status_code == 400 and text in message(r)


def test_get_host_404_texts(api, nova, segment):
    h = create(api, segment)
    base = f"/v1/segments/{segment['uuid']}/hosts"
    assert api.get(f"{base}/{h['uuid']}").json()["host"] == h
    assert message(api.get(f"{base}/nope"), "itemNotFound") == "No host with id nope."
    under = f"Host '{UUID}' under failover_segment '{segment['uuid']}' could not be found."
    assert message(api.get(f"{base}/{UUID}"), "itemNotFound") == under
    r = api.get(f"/v1/segments/{UUID}/hosts/{h['uuid']}")
    assert (
        message(r, "itemNotFound")
        == f"Host '{h['uuid']}' under failover_segment '{UUID}' could not be found."
    )
    for method in ("PUT", "DELETE"):
        r = api.request(method, f"{base}/nope", host_body() if method == "PUT" else None)
        assert (
            message(r, "itemNotFound")
            == f"Host 'nope' under failover_segment '{segment['uuid']}' could not be found."
        )


def test_update_and_rename_host(api, nova, segment):
    h = create(api, segment)
    path = f"/v1/segments/{segment['uuid']}/hosts/{h['uuid']}"
    r = api.put(path, {"host": {"on_maintenance": True, "name": "compute-001"}})
    assert r.status_code == 200
    assert r.json()["host"]["on_maintenance"] is True and r.json()["host"]["name"] == "compute-001"
    r = api.put(path, {"host": {"name": "compute-777"}})
    assert r.status_code == 400
    assert message(r) == "Compute service with name compute-777 could not be found."
    assert message(api.put(path, {"host": {}})) == (
        "Invalid input for field/attribute host. Value: {}. {} is not valid under any of the given schemas"
    )


def test_rename_to_taken_name_is_409(api, nova, segment):
    create(api, segment)
    h = create(api, segment, "compute-001")
    r = api.put(
        f"/v1/segments/{segment['uuid']}/hosts/{h['uuid']}", {"host": {"name": "compute-000"}}
    )
    assert (
        r.status_code == 409
        and message(r, "conflictingRequest") == "Host with name compute-000 already exists."
    )


def test_host_in_use_refuses_update_and_delete_for_every_host_of_segment(api, nova, segment):
    busy = create(api, segment)
    idle = create(api, segment, "compute-001")
    with session_scope() as session:
        session.add(
            Notification(
                notification_uuid=UUID,
                generated_time=dt.datetime(2026, 1, 1),
                type="COMPUTE_HOST",
                payload={},
                status="running",
                source_host_uuid=busy["uuid"],
                failover_segment_uuid=segment["uuid"],
                created_at=dt.datetime(2026, 1, 1),
                deleted=0,
            )
        )
    path = f"/v1/segments/{segment['uuid']}/hosts/{idle['uuid']}"
    r = api.put(path, {"host": {"reserved": True}})
    assert r.status_code == 409
    assert (
        message(r, "conflictingRequest")
        == f"Host {idle['uuid']} can't be updated as it is in-use to process notifications."
    )
    r = api.delete(path)
    assert (
        message(r, "conflictingRequest")
        == f"Host {idle['uuid']} can't be deleted as it is in-use to process notifications."
    )
    create(api, segment, "compute-002")


def test_delete_host_frees_its_name(api, nova, segment):
    h = create(api, segment)
    assert api.delete(f"/v1/segments/{segment['uuid']}/hosts/{h['uuid']}").status_code == 204
    assert api.get(f"/v1/segments/{segment['uuid']}/hosts/{h['uuid']}").status_code == 404
    create(api, segment)


def test_host_list_filters(api, nova, segment):
    create(api, segment, reserved=True)
    create(api, segment, "compute-001", on_maintenance=True)
    create(api, segment, "compute-002", type="OTHER")

    def names(query=""):
        r = api.get(f"/v1/segments/{segment['uuid']}/hosts{query}")
        assert r.status_code == 200, r.text
        return sorted(h["name"] for h in r.json()["hosts"])

    assert names() == ["compute-000", "compute-001", "compute-002"]
    assert names("?reserved=True") == ["compute-000"]
    assert names("?on_maintenance=1") == ["compute-001"]
    assert names("?reserved=false&on_maintenance=off") == ["compute-002"]
    assert names("?type=OTHER") == ["compute-002"]
    assert names("?name=compute-001") == ["compute-001"]
    assert names("?control_attributes=whatever") == names()
    r = api.get(f"/v1/segments/{segment['uuid']}/hosts?reserved=maybe")
    assert message(r) == (
        "Invalid value for reserved: Unrecognized value 'maybe', acceptable values are: "
        "'0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
    )
    r = api.get(f"/v1/segments/{segment['uuid']}/hosts?sort_key=name&sort_dir=asc&limit=1&marker=1")
    assert [h["name"] for h in r.json()["hosts"]] == ["compute-001"]


# ------------------------------------------------------------------ microversion 1.4


def test_host_health_needs_microversion_1_4(api, nova, segment):
    h = create(api, segment)
    path = f"/v1/segments/{segment['uuid']}/hosts/{h['uuid']}/health"
    for version in (None, "1.3"):
        r = api.get(path, version=version)
        assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/plain")
    r = api.get(path, version="1.4")
    assert r.status_code == 200
    assert r.json() == {
        "health": {
            "host_uuid": h["uuid"],
            "host_name": "compute-000",
            "settled_state": None,
            "settled_since": None,
            "last_reported": None,
            "last_reported_at": None,
            "fencing_evidence": None,
            "flapping_until": None,
            "samples": [],
        }
    }


def test_host_health_reports_settled_state_and_recent_samples(api, nova, segment):
    h = create(api, segment)
    start = dt.datetime(2026, 5, 1, 10, 0, 0)
    with session_scope() as session:
        session.add(
            HostMonitorState(
                host_name="compute-000",
                host_uuid=h["uuid"],
                settled_state="dead",
                settled_since=start,
                last_reported="STOPPED",
                last_reported_at=start,
                fencing_evidence="redfish:Off",
                transitions=[],
            )
        )
        for i in range(25):
            session.add(
                HealthSample(
                    host_name="compute-000",
                    host_uuid=h["uuid"],
                    sampled_at=start + dt.timedelta(seconds=i),
                    ready="False",
                    nova_state="down",
                    verdict="down",
                )
            )
    path = f"/v1/segments/{segment['uuid']}/hosts/{h['uuid']}/health"
    health = api.get(path, version="latest").json()["health"]
    assert health["settled_state"] == "dead" and health["fencing_evidence"] == "redfish:Off"
    assert health["settled_since"] == "2026-05-01T10:00:00.000000"
    assert len(health["samples"]) == 20
    assert health["samples"][0]["sampled_at"] == "2026-05-01T10:00:24.000000"
    assert health["samples"][0]["verdict"] == "down"
    assert len(api.get(path + "?limit=3", version="1.4").json()["health"]["samples"]) == 3
    r = api.get(path + "?limit=x", version="1.4")
    assert r.status_code == 400 and message(r) == "Invalid input received: limit must be an integer"
    r = api.get(f"/v1/segments/{segment['uuid']}/hosts/{UUID}/health", version="1.4")
    assert r.status_code == 404 and r.headers["OpenStack-API-Version"] == "instance-ha 1.4"


def test_slow_nova_is_503_after_the_upstream_timeout(api, nova, segment, monkeypatch):
    from shared.settings import get_settings

    monkeypatch.setenv("VIGIL_API_UPSTREAM_TIMEOUT", "0.3")
    get_settings.cache_clear()
    nova.inject_faults("nova", latency=1.5)
    try:
        r = api.post(f"/v1/segments/{segment['uuid']}/hosts", host_body())
    finally:
        nova.inject_faults("nova")
    assert r.status_code == 503


def test_unknown_segment_is_404_before_filter_errors(api, nova):
    r = api.get(f"/v1/segments/{UUID}/hosts?reserved=maybe")
    assert r.status_code == 404
