"""Nova v2.1 of the simulated region, driven by the real openstacksdk (and raw HTTP for fault shapes)."""

from __future__ import annotations

import pytest
import requests
from openstack import exceptions as os_exc

from tests.sim.conftest import connect

SERVER_ID = "00000000-0000-0000-0000-000000000000"


def nova(region, method, path, version=None, token=None, **kwargs):
    headers = {"X-Auth-Token": token or region.issue_token()}
    if version:
        headers["OpenStack-API-Version"] = f"compute {version}"
    return requests.request(method, region.nova_url + path, headers=headers, **kwargs)


def service_of(conn, host):
    return next(s for s in conn.compute.services() if s.host == host and s.binary == "nova-compute")


# ---- discovery and microversions ---------------------------------------------------------------


def test_version_document_advertises_the_maximum_microversion(region):
    versions = requests.get(region.nova_url.rsplit("/", 1)[0]).json()["versions"]
    current = next(v for v in versions if v["id"] == "v2.1")
    assert current["min_version"] == "2.1" and current["version"] == "2.96"


def test_requests_without_a_version_get_2_1_and_latest_gets_the_maximum(region):
    assert nova(region, "GET", "/servers").headers["OpenStack-API-Version"] == "compute 2.1"
    reply = nova(region, "GET", "/servers", version="latest")
    assert reply.headers["OpenStack-API-Version"] == "compute 2.96"
    legacy = requests.get(
        region.nova_url + "/servers",
        headers={"X-Auth-Token": region.issue_token(), "X-OpenStack-Nova-API-Version": "2.53"},
    )
    assert legacy.headers["X-OpenStack-Nova-API-Version"] == "2.53"


def test_unsupported_microversion_is_406_and_malformed_is_400(region):
    reply = nova(region, "GET", "/servers", version="2.200")
    assert reply.status_code == 406
    assert "maximum is 2.96" in reply.json()["computeFault"]["message"]
    reply = nova(region, "GET", "/servers", version="two")
    assert reply.status_code == 400
    assert reply.json()["badRequest"]["code"] == 400


def test_missing_or_bad_token_is_401(region):
    assert requests.get(region.nova_url + "/servers").status_code == 401
    assert nova(region, "GET", "/servers", token="bogus").status_code == 401


# ---- servers -------------------------------------------------------------------------------------


def test_boot_server_onto_a_chosen_host_with_metadata(region, conn):
    server = conn.compute.create_server(
        name="web",
        flavor_id="2",
        image_id="cirros",
        networks="none",
        availability_zone="nova:compute-003",
        metadata={"HA_Enabled": "True"},
    )
    shown = conn.compute.get_server(server.id)
    assert shown.compute_host == "compute-003"
    assert shown.hypervisor_hostname == "compute-003"
    assert shown.vm_state == "active" and shown.task_state is None and shown.power_state == 1
    assert shown.metadata == {"HA_Enabled": "True"}
    assert shown.is_locked is False
    assert region.server(server.id)["host"] == "compute-003"


def test_boot_onto_unknown_host_is_400_and_non_admin_may_not_force_a_host(
    region, conn, member_conn
):
    with pytest.raises(os_exc.BadRequestException):
        conn.compute.create_server(
            name="x", flavor_id="2", image_id="i", networks="none", availability_zone="nova:nowhere"
        )
    with pytest.raises(os_exc.ForbiddenException):
        member_conn.compute.create_server(
            name="x",
            flavor_id="2",
            image_id="i",
            networks="none",
            availability_zone="nova:compute-001",
        )


def test_list_filters_by_host_for_all_projects(region, conn, member_conn):
    mine = member_conn.compute.create_server(name="m", flavor_id="1", image_id="i", networks="none")
    ids = {region.boot_server("compute-002") for _ in range(3)}
    region.boot_server("compute-001")
    listed = {s.id for s in conn.compute.servers(all_projects=True, compute_host="compute-002")}
    assert ids <= listed and len(listed - ids) <= 1
    everyone = {s.id for s in conn.compute.servers(all_projects=True)}
    assert mine.id in everyone and len(everyone) == 5
    assert {s.id for s in member_conn.compute.servers()} == {mine.id}
    assert mine.id not in {s.id for s in conn.compute.servers()}


def test_member_asking_for_all_tenants_is_403(region):
    reply = nova(
        region, "GET", "/servers/detail?all_tenants=1", token=region.issue_token(admin=False)
    )
    assert reply.status_code == 403
    assert "get_all_tenants" in reply.json()["forbidden"]["message"]


def test_limit_and_marker_page_through_newest_first(region):
    ids = [region.boot_server("compute-000") for _ in range(5)]
    page = nova(region, "GET", "/servers/detail?all_tenants=1&limit=2").json()
    assert [s["id"] for s in page["servers"]] == ids[::-1][:2]
    nxt = page["servers_links"][0]["href"]
    assert f"marker={ids[3]}" in nxt
    page2 = requests.get(nxt, headers={"X-Auth-Token": region.issue_token()}).json()
    assert [s["id"] for s in page2["servers"]] == ids[::-1][2:4]


def test_unknown_marker_and_bad_limit_are_400(region):
    assert nova(region, "GET", f"/servers?marker={SERVER_ID}").json()["badRequest"]["code"] == 400
    assert nova(region, "GET", "/servers?limit=abc").status_code == 400


def test_unknown_server_is_404_item_not_found(region):
    reply = nova(region, "GET", f"/servers/{SERVER_ID}")
    assert reply.status_code == 404
    assert reply.json()["itemNotFound"]["message"] == f"Instance {SERVER_ID} could not be found."


def test_malformed_action_body_is_400_never_500(region):
    sid = region.boot_server("compute-000")
    for body in (b"{", b"[]", b'{"nope": null}', b'{"os-resetState": {"state": "weird"}}'):
        reply = requests.post(
            f"{region.nova_url}/servers/{sid}/action",
            data=body,
            headers={"X-Auth-Token": region.issue_token(), "Content-Type": "application/json"},
        )
        assert reply.status_code == 400, body
        assert "badRequest" in reply.json()


def test_stop_start_lock_unlock_and_reset_state(region_factory):
    region = region_factory(hosts=1, time_scale=100, stop_latency=30, start_latency=30)
    conn = connect(region)
    sid = region.boot_server("compute-000")
    conn.compute.stop_server(sid)
    assert conn.compute.get_server(sid).task_state == "powering-off"
    conn.compute.wait_for_server(
        conn.compute.get_server(sid), status="SHUTOFF", interval=0.02, wait=5
    )
    with pytest.raises(os_exc.ConflictException):
        conn.compute.stop_server(sid)
    conn.compute.start_server(sid)
    conn.compute.wait_for_server(
        conn.compute.get_server(sid), status="ACTIVE", interval=0.02, wait=5
    )
    conn.compute.lock_server(sid)
    assert conn.compute.get_server(sid).is_locked is True
    conn.compute.unlock_server(sid)
    assert conn.compute.get_server(sid).is_locked is False
    conn.compute.reset_server_state(sid, "error")
    assert conn.compute.get_server(sid).vm_state == "error"


def test_locked_server_refuses_stop_for_its_non_admin_owner(region, member_conn):
    server = member_conn.compute.create_server(
        name="m", flavor_id="1", image_id="i", networks="none"
    )
    member_conn.compute.lock_server(server.id)
    with pytest.raises(os_exc.ConflictException):
        member_conn.compute.stop_server(server.id)


# ---- services and evacuation -------------------------------------------------------------------


def test_evacuate_is_refused_while_the_source_service_is_up(region, conn):
    sid = region.boot_server("compute-000")
    with pytest.raises(os_exc.ConflictException) as err:
        conn.compute.evacuate_server(sid)
    assert "still in use" in str(err.value)
    assert region.evacuation_count(sid) == 0


def test_evacuate_is_accepted_once_the_service_is_forced_down(region_factory):
    region = region_factory(hosts=3, time_scale=100, evacuation_latency=30)
    conn = connect(region)
    sid = region.boot_server("compute-000")
    region.power_off("compute-000")
    service = service_of(conn, "compute-000")
    assert service.state == "up"  # no heartbeat missed long enough yet
    updated = conn.compute.update_service_forced_down(service, "compute-000", "nova-compute", True)
    assert updated.is_forced_down is True and updated.state == "down"
    conn.compute.evacuate_server(sid)
    assert conn.compute.get_server(sid).task_state == "rebuilding"
    assert region.evacuation_count(sid) == 1
    region.sleep(31)
    moved = conn.compute.get_server(sid)
    assert moved.compute_host != "compute-000" and moved.task_state is None


def test_service_is_reported_down_after_service_down_time_without_heartbeats(region, conn):
    region.power_off("compute-001")
    region.sleep(75)
    service = service_of(conn, "compute-001")
    assert service.state == "down" and service.is_forced_down is False
    assert service_of(conn, "compute-002").state == "up"


def test_evacuated_server_runs_before_2_95_and_stays_stopped_from_2_95(region):
    old, new = region.boot_server("compute-000"), region.boot_server("compute-000")
    region.stop_service("compute-000", "nova-compute")
    region.sleep(75)
    assert (
        nova(
            region, "POST", f"/servers/{old}/action", version="2.94", json={"evacuate": {}}
        ).status_code
        == 200
    )
    assert (
        nova(
            region, "POST", f"/servers/{new}/action", version="2.95", json={"evacuate": {}}
        ).status_code
        == 200
    )
    region.sleep(6)
    assert region.server(old)["vm_state"] == "active" and region.server(old)["power_state"] == 1
    assert (
        region.server(new)["vm_state"] == "stopped" and region.server(new)["host"] != "compute-000"
    )


def test_evacuate_honours_an_explicit_host_and_refuses_the_source_host(region, conn):
    sid = region.boot_server("compute-000")
    region.power_off("compute-000")
    conn.compute.update_service_forced_down(
        service_of(conn, "compute-000"), "compute-000", "nova-compute", True
    )
    reply = nova(
        region,
        "POST",
        f"/servers/{sid}/action",
        version="2.29",
        json={"evacuate": {"host": "compute-000"}},
    )
    assert reply.status_code == 400 and "badRequest" in reply.json()
    assert (
        nova(
            region,
            "POST",
            f"/servers/{sid}/action",
            version="2.29",
            json={"evacuate": {"host": "ghost"}},
        ).status_code
        == 404
    )
    conn.compute.evacuate_server(sid, host="compute-005")
    region.sleep(6)
    assert region.server(sid)["host"] == "compute-005"


def test_second_evacuate_while_rebuilding_is_409(region_factory):
    region = region_factory(hosts=3, time_scale=100, evacuation_latency=100)
    conn = connect(region)
    sid = region.boot_server("compute-000")
    conn.compute.update_service_forced_down(
        service_of(conn, "compute-000"), "compute-000", "nova-compute", True
    )
    conn.compute.evacuate_server(sid)
    reply = nova(region, "POST", f"/servers/{sid}/action", version="2.53", json={"evacuate": {}})
    assert reply.status_code == 409 and "conflictingRequest" in reply.json()
    assert region.evacuation_count(sid) == 1


def test_scheduler_skips_disabled_and_down_hosts(region_factory):
    region = region_factory(hosts=["a", "b", "c", "d"], time_scale=100)
    sid = region.boot_server("a")
    region.set_reserved("b")
    region.power_off("c")
    region.power_off("a")
    region.sleep(75)
    assert (
        nova(
            region, "POST", f"/servers/{sid}/action", version="2.53", json={"evacuate": {}}
        ).status_code
        == 200
    )
    region.sleep(6)
    assert region.server(sid)["host"] == "d"


def test_evacuation_without_capacity_ends_in_error_state(region_factory):
    region = region_factory(hosts=["a", "b"], time_scale=100, host_capacity=1)
    region.boot_server("b")
    sid = region.boot_server("a")
    region.power_off("a")
    region.sleep(75)
    assert (
        nova(
            region, "POST", f"/servers/{sid}/action", version="2.53", json={"evacuate": {}}
        ).status_code
        == 200
    )
    region.sleep(6)
    assert region.server(sid)["vm_state"] == "error" and region.server(sid)["host"] == "a"


def test_powered_off_host_stops_its_servers(region, conn):
    sid = region.boot_server("compute-004")
    region.power_off("compute-004")
    assert conn.compute.get_server(sid).power_state == 4


def test_disable_of_dead_but_up_compute_hangs_for_rpc_timeout(region_factory):
    region = region_factory(hosts=2, time_scale=200, rpc_response_timeout=60)
    region.stop_service("compute-000", "nova-compute")
    svc = region.service("compute-000")["id"]
    before = region.now()
    reply = nova(region, "PUT", f"/os-services/{svc}", version="2.53", json={"status": "disabled"})
    waited = (region.now() - before).total_seconds()
    assert reply.status_code == 200 and reply.json()["service"]["status"] == "disabled"
    assert waited >= 60


def test_disable_answers_at_once_when_forced_down_in_the_same_request(region_factory):
    region = region_factory(hosts=2, time_scale=20, rpc_response_timeout=60)
    region.stop_service("compute-000", "nova-compute")
    svc = region.service("compute-000")["id"]
    before = region.now()
    reply = nova(
        region,
        "PUT",
        f"/os-services/{svc}",
        version="2.53",
        json={"status": "disabled", "disabled_reason": "vigil", "forced_down": True},
    )
    assert reply.status_code == 200
    assert (region.now() - before).total_seconds() < 60
    assert reply.json()["service"]["disabled_reason"] == "vigil"


def test_clearing_forced_down_is_refused_until_the_evacuated_compute_restarts(region, conn):
    sid = region.boot_server("compute-000")
    region.power_off("compute-000")
    service = service_of(conn, "compute-000")
    conn.compute.update_service_forced_down(service, "compute-000", "nova-compute", True)
    conn.compute.evacuate_server(sid)
    region.sleep(6)
    with pytest.raises(os_exc.BadRequestException):
        conn.compute.update_service_forced_down(service, "compute-000", "nova-compute", False)
    region.power_on("compute-000")
    cleared = conn.compute.update_service_forced_down(service, "compute-000", "nova-compute", False)
    assert cleared.is_forced_down is False and cleared.state == "up"


def test_old_force_down_form_before_2_53(region):
    reply = nova(
        region,
        "PUT",
        "/os-services/force-down",
        version="2.11",
        json={"host": "compute-001", "binary": "nova-compute", "forced_down": True},
    )
    assert reply.status_code == 200
    assert reply.json()["service"] == {
        "host": "compute-001",
        "binary": "nova-compute",
        "forced_down": True,
    }
    listed = nova(region, "GET", "/os-services?binary=nova-compute", version="2.11").json()[
        "services"
    ]
    row = next(s for s in listed if s["host"] == "compute-001")
    assert row["forced_down"] is True and row["state"] == "down" and isinstance(row["id"], int)


def test_service_update_validation_is_400(region):
    svc = region.service("compute-000")["id"]
    assert nova(region, "PUT", f"/os-services/{svc}", version="2.53", json={}).status_code == 400
    assert (
        nova(
            region,
            "PUT",
            f"/os-services/{svc}",
            version="2.53",
            json={"status": "enabled", "disabled_reason": "x"},
        ).status_code
        == 400
    )
    assert (
        nova(
            region, "PUT", "/os-services/not-a-uuid", version="2.53", json={"status": "enabled"}
        ).status_code
        == 400
    )
    assert (
        nova(
            region, "PUT", f"/os-services/{SERVER_ID}", version="2.53", json={"status": "enabled"}
        ).status_code
        == 404
    )


def test_member_may_not_list_services(region, member_conn):
    with pytest.raises(os_exc.ForbiddenException):
        list(member_conn.compute.services())


def test_crashed_guest_is_recorded_stopped_while_its_host_stays_up(region, conn):
    sid = region.boot_server("compute-006")
    region.crash_server(sid)
    shown = conn.compute.get_server(sid)
    assert shown.status == "SHUTOFF" and shown.power_state == 4
    assert service_of(conn, "compute-006").state == "up"


def test_hypervisors_report_state_and_pattern_search(region, conn):
    region.power_off("compute-001")
    conn.compute.update_service_forced_down(
        service_of(conn, "compute-001"), "compute-001", "nova-compute", True
    )
    states = {h.name: h.state for h in conn.compute.hypervisors(details=True)}
    assert states["compute-001"] == "down" and states["compute-002"] == "up"
    reply = nova(
        region,
        "GET",
        "/os-hypervisors?hypervisor_hostname_pattern=nothing-like-this",
        version="2.53",
    )
    assert reply.status_code == 404 and "itemNotFound" in reply.json()


def test_evacuations_are_listed_as_migrations(region, conn):
    sid = region.boot_server("compute-000")
    conn.compute.update_service_forced_down(
        service_of(conn, "compute-000"), "compute-000", "nova-compute", True
    )
    conn.compute.evacuate_server(sid)
    region.sleep(6)
    rows = nova(region, "GET", "/os-migrations?migration_type=evacuation", version="2.59").json()[
        "migrations"
    ]
    assert [(m["instance_uuid"], m["source_compute"], m["status"]) for m in rows] == [
        (sid, "compute-000", "done")
    ]
    region.stop_service("compute-000", "nova-compute")
    region.start_service(
        "compute-000", "nova-compute"
    )  # the restarted compute cleans up: done → completed
    rows = nova(region, "GET", "/os-migrations", version="2.59").json()["migrations"]
    assert rows[0]["status"] == "completed"


def test_hosts_by_list_pattern_and_added_later_appear_everywhere(region_factory):
    region = region_factory(hosts=2, host_pattern="rack1-node{:02d}", time_scale=100)
    assert region.hosts == ["rack1-node00", "rack1-node01"]
    region.add_host("late-comer")
    conn = connect(region)
    assert "late-comer" in {s.host for s in conn.compute.services()}
    assert "late-comer" in {h.name for h in conn.compute.hypervisors()}
    assert (
        requests.get(f"{region.kubernetes_url}/api/v1/nodes/late-comer").json()["metadata"]["name"]
        == "late-comer"
    )
    assert region.boot_server("late-comer")
