"""Host failure recovery for every recovery method, on the simulated region (recovery.md §5-6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.recover.scenario import (
    attempts,
    deliver,
    details,
    host_down,
    host_row,
    make_segment,
    notification,
    trigger_event,
    vmoves,
    wait_settled,
)

FAILED = "compute-000"


def boot_mixed(region, host: str, count: int = 20) -> tuple[list[str], list[str]]:
    """``count`` servers on ``host``, every other one HA_Enabled."""
    ha, plain = [], []
    for i in range(count):
        if i % 2 == 0:
            ha.append(region.boot_server(host, name=f"ha-{i}", metadata={"HA_Enabled": "True"}))
        else:
            plain.append(region.boot_server(host, name=f"plain-{i}"))
    return ha, plain


def auto_host_failure(region) -> tuple[list[str], list[str], str]:
    """An `auto` segment of six hosts; FAILED carries 20 mixed servers, loses power and is reported."""
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    ha, plain = boot_mixed(region, FAILED)
    region.power_off(FAILED)
    return ha, plain, host_down(FAILED)


def assert_recovered(region, servers: list[str], healthy: set[str]) -> None:
    for server_id in servers:
        server = region.server(server_id)
        assert server["host"] in healthy, server
        assert server["vm_state"] == "active", server
        assert server["locked"] is False, server
        assert region.evacuation_count(server_id) == 1, server


def step_names(uuid: str) -> list[str]:
    return [d["name"] for d in details(uuid)]


def test_auto_evacuates_every_server_ha_enabled_first_and_finishes(cloud):
    region = cloud()
    ha, plain, uuid = auto_host_failure(region)
    row = wait_settled(uuid)
    assert (row.status, row.message) == ("finished", None)
    assert_recovered(region, ha + plain, {f"compute-00{i}" for i in range(1, 6)})
    moves = vmoves(uuid)
    assert set(m.instance_uuid for m in moves[:10]) == set(ha)  # HA-enabled first
    assert sorted(m.instance_uuid for m in moves) == sorted(ha + plain)
    assert {m.status for m in moves} == {"succeeded"}
    assert all(m.dest_host == region.server(m.instance_uuid)["host"] for m in moves)
    assert all(m.start_time and m.end_time and m.type == "evacuation" for m in moves)
    assert step_names(uuid) == [
        "DisableComputeServiceTask",
        "PrepareHAEnabledInstancesTask",
        "EvacuateInstancesTask",
    ]
    flow = {d["name"]: d for d in details(uuid)}
    assert all(d["state"] == "SUCCESS" and d["progress"] == 1.0 for d in flow.values())
    messages = [e["message"] for e in flow["PrepareHAEnabledInstancesTask"]["progress_details"]]
    assert messages[0] == "Preparing instances for evacuation"
    assert f"Total instances running on failed host '{FAILED}' is 20" in messages
    assert "Total HA Enabled instances count: '10'" in messages
    assert "Total Non-HA Enabled instances count: '10'" in messages
    assert (
        messages[-1]
        == f"Instances to be evacuated are: '{','.join(m.instance_uuid for m in moves)}'"
    )
    disable = [e["message"] for e in flow["DisableComputeServiceTask"]["progress_details"]]
    assert disable[0] == f"Disabling compute service on host: '{FAILED}'"
    assert disable[-1] == f"Disabled compute service on host: '{FAILED}'"
    assert (
        flow["EvacuateInstancesTask"]["progress_details"][-1]["message"]
        == "Evacuation process completed!"
    )
    service = region.service(FAILED)
    assert service["status"] == "disabled" and service["forced_down"] is True
    assert service["disabled_reason"] == "Masakari detected host failed."
    assert host_row(FAILED).on_maintenance is True


def test_hypervisors_named_by_fqdn_are_recovered_and_recorded_by_hypervisor_name(cloud):
    # libvirt reports the node's FQDN as hypervisor_hostname; the service host stays short.
    region = cloud(hypervisor_domain="compute.example.org")
    ha, plain, uuid = auto_host_failure(region)
    row = wait_settled(uuid)
    assert (row.status, row.message) == ("finished", None)
    assert_recovered(region, ha + plain, {f"compute-00{i}" for i in range(1, 6)})
    for move in vmoves(uuid):
        assert move.status == "succeeded"
        assert move.dest_host == region.server(move.instance_uuid)["host"] + ".compute.example.org"


def test_force_down_happens_before_disable_so_nova_never_hangs(cloud):
    """Disabling a service Nova still thinks is up hangs for rpc_response_timeout (30 real s
    here, beyond Vigil's 5 s Nova timeout): finishing at all shows force-down came first."""
    region = cloud(rpc_response_timeout=6000)
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    server = region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    row = wait_settled(uuid)
    assert (row.status, row.message) == ("finished", None)
    assert region.server(server)["host"] != FAILED


def test_only_ha_enabled_servers_move_when_evacuate_all_instances_is_off(cloud):
    region = cloud(env={"VIGIL_HOST_FAILURE__EVACUATE_ALL_INSTANCES": "false"})
    ha, plain, uuid = auto_host_failure(region)
    assert wait_settled(uuid).status == "finished"
    assert_recovered(region, ha, {f"compute-00{i}" for i in range(1, 6)})
    assert all(
        region.server(s)["host"] == FAILED and region.evacuation_count(s) == 0 for s in plain
    )
    assert sorted(m.instance_uuid for m in vmoves(uuid)) == sorted(ha)


def test_servers_in_error_state_are_left_when_ignore_instances_in_error_state(cloud):
    region = cloud(env={"VIGIL_HOST_FAILURE__IGNORE_INSTANCES_IN_ERROR_STATE": "true"})
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    good = region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    broken = region.boot_server(FAILED, metadata={"HA_Enabled": "True"}, vm_state="error")
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "finished"
    assert [m.instance_uuid for m in vmoves(uuid)] == [good]
    assert region.evacuation_count(broken) == 0


def test_stopped_and_error_servers_keep_their_state_on_the_new_host(cloud):
    region = cloud()
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    stopped = region.boot_server(FAILED, metadata={"HA_Enabled": "True"}, vm_state="stopped")
    broken = region.boot_server(FAILED, metadata={"HA_Enabled": "True"}, vm_state="error")
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "finished", notification(uuid).message
    assert region.server(stopped)["vm_state"] == "stopped"
    assert region.server(broken)["vm_state"] == "error"
    assert region.server(stopped)["host"] != FAILED and region.server(broken)["host"] != FAILED


def test_priority_metadata_orders_evacuations_inside_each_group(cloud):
    region = cloud(env={"VIGIL_HOST_FAILURE__INSTANCE_PRIORITY_METADATA_KEY": "restart_priority"})
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    low = region.boot_server(FAILED, metadata={"HA_Enabled": "True", "restart_priority": "10"})
    high = region.boot_server(FAILED, metadata={"HA_Enabled": "True", "restart_priority": "900"})
    default = region.boot_server(FAILED, metadata={"HA_Enabled": "True", "restart_priority": "n/a"})
    plain_high = region.boot_server(FAILED, metadata={"restart_priority": "1000"})
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "finished"
    moves = vmoves(uuid)
    assert [m.instance_uuid for m in moves] == [high, default, low, plain_high]
    assert [m.priority for m in moves] == [900, 500, 10, 1000]


def test_nothing_to_evacuate_finishes_without_vmoves(cloud):
    region = cloud()
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "finished"
    assert vmoves(uuid) == []


@pytest.mark.parametrize("method", ["reserved_host", "rh_priority"])
def test_reserved_host_methods_move_everything_to_the_reserved_host(cloud, method):
    region = cloud(env={"VIGIL_HOST_FAILURE__ADD_RESERVED_HOST_TO_AGGREGATE": "true"})
    region.set_reserved("compute-005")
    aggregate = region.add_aggregate("az-a", [FAILED, "compute-001"])
    make_segment(method, ["compute-000", "compute-001", "compute-002"], reserved=["compute-005"])
    ha, plain = boot_mixed(region, FAILED)
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    row = wait_settled(uuid)
    assert (row.status, row.message) == ("finished", None)
    assert_recovered(region, ha + plain, {"compute-005"})
    assert region.service("compute-005")["status"] == "enabled"
    assert host_row("compute-005").reserved is False
    assert ("nova", "POST", f"/v2.1/os-aggregates/{aggregate}/action") in [
        r[:3] for r in region.request_log
    ]
    assert {m.dest_host for m in vmoves(uuid)} == {"compute-005"}
    assert [(a.kind, a.reserved_host_name, a.outcome) for a in attempts(uuid)] == [
        ("reserved_host", "compute-005", "succeeded")
    ]


def test_auto_priority_uses_nova_scheduling_when_it_works(cloud):
    region = cloud()
    region.set_reserved("compute-005")
    make_segment("auto_priority", [f"compute-00{i}" for i in range(5)], reserved=["compute-005"])
    ha, plain = boot_mixed(region, FAILED)
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "finished"
    assert_recovered(region, ha + plain, {f"compute-00{i}" for i in range(1, 5)})
    assert host_row("compute-005").reserved is True
    assert [a.kind for a in attempts(uuid)] == ["auto"]


def test_reserved_host_method_without_reserved_host_is_error(cloud):
    region = cloud()
    make_segment("reserved_host", [f"compute-00{i}" for i in range(6)])
    boot_mixed(region, FAILED, 2)
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    row = wait_settled(uuid)
    assert (row.status, row.message) == ("error", "No reserved_hosts available for evacuation.")


def test_rh_priority_without_reserved_host_falls_back_to_auto_and_finishes(cloud):
    region = cloud()
    make_segment("rh_priority", [f"compute-00{i}" for i in range(6)])
    ha, plain = boot_mixed(region, FAILED, 6)
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "finished"
    assert_recovered(region, ha + plain, {f"compute-00{i}" for i in range(1, 6)})
    assert step_names(uuid) == [
        "DisableComputeServiceTask",
        "PrepareHAEnabledInstancesTask",
        "EvacuateInstancesTask",
    ]


@pytest.mark.parametrize("ignore_error", ["false", "true"])
def test_auto_priority_falls_back_to_reserved_host_and_ends_finished(cloud, ignore_error):
    """Every other host is full, so Nova's scheduler fails; the reserved host then takes them.

    The failed auto attempt leaves the servers in error: ignore_instances_in_error_state judges
    a server by the state it had before Vigil touched it, so the fallback still moves them.
    """
    region = cloud(
        host_capacity=4,
        hosts=3,
        env={"VIGIL_HOST_FAILURE__IGNORE_INSTANCES_IN_ERROR_STATE": ignore_error},
    )
    region.set_reserved("compute-002")
    for _ in range(4):
        region.boot_server("compute-001")
    make_segment("auto_priority", ["compute-000", "compute-001"], reserved=["compute-002"])
    ha, plain = boot_mixed(region, FAILED, 4)
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    row = wait_settled(uuid)
    assert (row.status, row.message) == ("finished", None)
    for server_id in ha + plain:
        assert region.server(server_id)["host"] == "compute-002"
        assert region.server(server_id)["vm_state"] == "active"
    flow = details(uuid)
    assert [d["name"] for d in flow] == [
        "DisableComputeServiceTask",
        "PrepareHAEnabledInstancesTask",
        "EvacuateInstancesTask",
        "DisableComputeServiceTask",
        "PrepareHAEnabledInstancesTask",
        "EvacuateInstancesTask",
    ]
    assert [d["state"] for d in flow] == [
        "REVERTED",
        "REVERTED",
        "FAILURE",
        "SUCCESS",
        "SUCCESS",
        "SUCCESS",
    ]
    first, second = attempts(uuid)
    assert (first.kind, first.outcome, second.kind, second.outcome) == (
        "auto",
        "failed",
        "reserved_host",
        "succeeded",
    )
    assert {m.status for m in vmoves(uuid) if m.attempt == 1} == {"failed"}
    assert {m.status for m in vmoves(uuid) if m.attempt == 2} == {"succeeded"}


def test_structured_and_binary_deliveries_both_run_the_attempt(cloud, recover_fn, monkeypatch):
    region = cloud()
    monkeypatch.delenv("VIGIL_SINK")  # no broker: this test delivers the triggers itself
    from shared.settings import get_settings

    get_settings.cache_clear()
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    server = region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    assert notification(uuid).status == "new"
    assert deliver(recover_fn.url, trigger_event(uuid), "structured").status_code == 200
    assert notification(uuid).status == "finished"
    assert deliver(recover_fn.url, trigger_event(uuid), "binary").status_code == 200
    assert region.evacuation_count(server) == 1


def redfish(region) -> dict[str, str]:
    return {
        "VIGIL_FENCING__DRIVER": "redfish",
        "VIGIL_FENCING__REDFISH_URL_TEMPLATE": region.redfish_url_template,
        "VIGIL_FENCING__RETRY_INTERVAL": "0.05",
    }


def test_redfish_confirms_power_off_before_forcing_down(cloud):
    region = cloud(env=redfish)
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    server = region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "finished"
    disable = [e["message"] for e in details(uuid)[0]["progress_details"]]
    bmc = f"redfish {region.redfish_url_template.format(host=FAILED)}"
    assert f"Host '{FAILED}' is powered off ({bmc} reports Off)" in disable
    assert region.server(server)["host"] != FAILED


@pytest.mark.parametrize(
    "mode",
    [
        {},
        {
            "VIGIL_HOST_FAILURE__FORCE_DOWN_AFTER_FENCING": "false",
            "VIGIL_WAIT_PERIOD_AFTER_SERVICE_UPDATE": "1",
        },
    ],
    ids=["force-down", "fixed-wait"],
)
def test_a_host_still_powered_on_is_fenced_by_redfish_before_evacuation(cloud, mode, caplog):
    caplog.set_level("WARNING", logger="shared.recovery.host_tasks")
    region = cloud(env=lambda r: {**redfish(r), **mode})
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    server = region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.stop_service(FAILED, "nova-compute")  # the host runs on, its compute service is gone
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "finished"
    disable = [e["message"] for e in details(uuid)[0]["progress_details"]]
    bmc = f"redfish {region.redfish_url_template.format(host=FAILED)}"
    assert f"Host '{FAILED}' was still powered on: sent ForceOff through {bmc}" in disable
    assert region.server(server)["host"] != FAILED and region.evacuation_count(server) == 1
    assert f"host {FAILED} powered off by Vigil through {bmc}: Off confirmed" in caplog.messages


def ipmi(region) -> dict[str, str]:
    """Every host's IPMI BMC from a BMC map, its login from a Secret-style folder."""
    addresses = region.start_ipmi(logins={FAILED: ["fence", "fence-pw"]})
    secret = Path(region.workdir) / "bmc-secret"
    secret.mkdir()
    (secret / "username").write_text("fence")
    (secret / "password").write_text("fence-pw")
    bmc_map = Path(region.workdir) / "bmc-map.yaml"
    bmc_map.write_text(
        json.dumps({"hosts": {FAILED: {"address": addresses[FAILED], "credentials": str(secret)}}})
    )
    return {
        "VIGIL_FENCING__DRIVER": "ipmi",
        "VIGIL_FENCING__BMC_MAP_FILE": str(bmc_map),
        "VIGIL_FENCING__RETRY_INTERVAL": "0.05",
    }


def test_a_host_still_powered_on_is_fenced_by_ipmi_before_evacuation(cloud, caplog):
    caplog.set_level("WARNING", logger="shared.recovery.host_tasks")
    region = cloud(env=ipmi)
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    server = region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.stop_service(FAILED, "nova-compute")
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "finished"
    assert region.power_state(FAILED) == "off"
    bmc = f"ipmi {region.ipmi_addresses[FAILED]}"
    disable = [e["message"] for e in details(uuid)[0]["progress_details"]]
    assert f"Host '{FAILED}' was still powered on: sent ForceOff through {bmc}" in disable
    assert f"host {FAILED} powered off by Vigil through {bmc}: Off confirmed" in caplog.messages
    assert region.server(server)["host"] != FAILED


def test_unreachable_fencing_fails_before_anything_is_forced_down(cloud):
    region = cloud(
        env=lambda r: {
            **redfish(r),
            "VIGIL_FENCING__REDFISH_URL_TEMPLATE": "http://127.0.0.1:9/redfish/v1/Systems/{host}",
            "VIGIL_FENCING__TIMEOUT": "0.5",
        }
    )
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    server = region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    row = wait_settled(uuid)
    assert row.status == "error" and "Fencing of host 'compute-000' failed" in row.message
    assert region.service(FAILED)["forced_down"] is False
    assert region.evacuation_count(server) == 0


def test_fixed_wait_mode_disables_then_waits(cloud):
    region = cloud(
        env={
            "VIGIL_HOST_FAILURE__FORCE_DOWN_AFTER_FENCING": "false",
            "VIGIL_WAIT_PERIOD_AFTER_SERVICE_UPDATE": "1",
        }
    )
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    server = region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.power_off(FAILED)
    region.sleep(120)  # Nova notices the dead service (service_down_time 60)
    uuid = host_down(FAILED)
    row = wait_settled(uuid)
    assert (row.status, row.message) == ("finished", None)
    disable = [e["message"] for e in details(uuid)[0]["progress_details"]]
    assert any("force_down_after_fencing is off" in m for m in disable)
    assert region.service(FAILED)["forced_down"] is False
    assert region.server(server)["host"] != FAILED


def test_nova_below_force_down_microversion_falls_back_to_the_fixed_wait(cloud):
    region = cloud(max_microversion="2.10", env={"VIGIL_WAIT_PERIOD_AFTER_SERVICE_UPDATE": "1"})
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    server = region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.power_off(FAILED)
    region.sleep(120)
    uuid = host_down(FAILED)
    row = wait_settled(uuid)
    assert (row.status, row.message) == ("finished", None)
    disable = [e["message"] for e in details(uuid)[0]["progress_details"]]
    assert any("below microversion 2.11" in m for m in disable)
    assert region.service(FAILED)["status"] == "disabled"
    assert region.server(server)["host"] != FAILED


def test_the_failed_hosts_servers_are_listed_page_by_page(cloud):
    region = cloud(env={"VIGIL_NOVA_PAGE_SIZE": "7"})
    ha, plain, uuid = auto_host_failure(region)
    assert wait_settled(uuid).status == "finished"
    pages = [r for r in region.request_log if r[:3] == ("nova", "GET", "/v2.1/servers/detail")]
    assert len(pages) >= 3  # 20 servers, 7 per page
    assert sorted(m.instance_uuid for m in vmoves(uuid)) == sorted(ha + plain)


def test_a_failing_reserved_host_makes_way_for_the_next_one_and_the_notification_finishes(cloud):
    region = cloud()
    region.set_reserved("compute-004")
    region.set_reserved("compute-005")
    make_segment(
        "reserved_host", ["compute-000", "compute-001"], reserved=["compute-004", "compute-005"]
    )
    region.power_off("compute-005")  # the newest reserved host is claimed first, and is dead
    ha, plain = boot_mixed(region, FAILED, 4)
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    row = wait_settled(uuid)
    assert (row.status, row.message) == ("finished", None)
    assert all(region.server(s)["host"] == "compute-004" for s in ha + plain)
    assert [(a.kind, a.reserved_host_name, a.outcome) for a in attempts(uuid)] == [
        ("reserved_host", "compute-005", "failed"),
        ("reserved_host", "compute-004", "succeeded"),
    ]
    assert [(d["name"], d["state"]) for d in details(uuid)] == [
        ("DisableComputeServiceTask", "REVERTED"),
        ("PrepareHAEnabledInstancesTask", "REVERTED"),
        ("EvacuateInstancesTask", "FAILURE"),
        ("PrepareHAEnabledInstancesTask", "SUCCESS"),
        ("EvacuateInstancesTask", "SUCCESS"),
    ]
    assert {m.status for m in vmoves(uuid) if m.attempt == 2} == {"succeeded"}
    assert host_row("compute-004").reserved is False and host_row("compute-005").reserved is False


def test_progress_reads_back_through_the_api_in_masakaris_format(cloud, monkeypatch):
    """GET /v1/notifications/{id} at 1.1 returns the rows recovery wrote (recovery.md §14)."""
    import re

    import requests

    from shared.settings import get_settings
    from tests.servers import serve_function

    region = cloud()
    monkeypatch.setenv("VIGIL_AUTH_STRATEGY", "noauth")
    get_settings.cache_clear()
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "finished"
    api = serve_function("api")
    try:
        reply = requests.get(
            f"{api.url}/v1/notifications/{uuid}",
            headers={"OpenStack-API-Version": "instance-ha 1.1"},
            timeout=10,
        )
    finally:
        api.stop()
    assert reply.status_code == 200, reply.text
    flow = reply.json()["notification"]["recovery_workflow_details"]
    assert [d["name"] for d in flow] == [
        "DisableComputeServiceTask",
        "PrepareHAEnabledInstancesTask",
        "EvacuateInstancesTask",
    ]
    entry = flow[0]["progress_details"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", entry["timestamp"])
    assert (
        entry["progress"] == "0.0" and flow[0]["progress"] == 1.0 and flow[0]["state"] == "SUCCESS"
    )


def test_nova_between_2_11_and_2_52_is_forced_down_through_the_legacy_call(cloud):
    region = cloud(max_microversion="2.30")
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    server = region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "finished", notification(uuid).message
    assert ("nova", "PUT", "/v2.1/os-services/force-down") in [r[:3] for r in region.request_log]
    service = region.service(FAILED)
    assert service["forced_down"] is True and service["status"] == "disabled"
    assert region.server(server)["host"] != FAILED
