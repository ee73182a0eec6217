"""Instance failure (§7) and process failure (§8) flows on the simulated region."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from shared.db import session_scope, utcnow
from shared.models import Notification, RecoveryAttempt
from shared.recovery.lifecycle import Claim, claim
from shared.settings import get_settings
from tests.recover.scenario import (
    deliver,
    details,
    host_row,
    make_segment,
    notify,
    trigger_event,
    vmoves,
    wait_settled,
)

HOSTS = [f"compute-00{i}" for i in range(6)]


def vm_down(
    host: str, server_id: str, event: str = "LIFECYCLE", domain_event: str = "STOPPED_FAILED"
) -> str:
    return notify(
        host, "VM", {"event": event, "vir_domain_event": domain_event, "instance_uuid": server_id}
    )


def test_ha_enabled_instance_is_stopped_started_and_confirmed_active(cloud):
    region = cloud()
    make_segment("auto", HOSTS)
    server = region.boot_server("compute-001", metadata={"HA_Enabled": "True"})
    uuid = vm_down("compute-001", server)
    row = wait_settled(uuid)
    assert (row.status, row.message) == ("finished", None)
    assert region.server(server)["vm_state"] == "active"
    flow = details(uuid)
    assert [d["name"] for d in flow] == [
        "StopInstanceTask",
        "StartInstanceTask",
        "ConfirmInstanceActiveTask",
    ]
    assert all(d["state"] == "SUCCESS" for d in flow)
    stop = [e["message"] for e in flow[0]["progress_details"]]
    assert stop == [f"Stopping instance: {server}", f"Stopped instance: '{server}'"]
    assert ("nova", "POST", f"/v2.1/servers/{server}/action") in [r[:3] for r in region.request_log]
    assert vmoves(uuid) == []


def test_instance_without_ha_enabled_is_finished_without_action(cloud):
    region = cloud()
    make_segment("auto", HOSTS)
    server = region.boot_server("compute-001")
    uuid = vm_down("compute-001", server)
    row = wait_settled(uuid)
    assert row.status == "finished"
    assert not [r for r in region.request_log if r[1] == "POST" and server in r[2]]


def test_every_instance_is_recovered_when_process_all_instances(cloud):
    region = cloud(env={"VIGIL_INSTANCE_FAILURE__PROCESS_ALL_INSTANCES": "true"})
    make_segment("auto", HOSTS)
    server = region.boot_server("compute-001")
    uuid = vm_down("compute-001", server)
    assert wait_settled(uuid).status == "finished"
    assert [d["name"] for d in details(uuid)][-1] == "ConfirmInstanceActiveTask"


@pytest.mark.parametrize("state", ["paused", "rescued"])
def test_paused_or_rescued_instance_is_ignored(cloud, state):
    region = cloud()
    make_segment("auto", HOSTS)
    server = region.boot_server("compute-001", metadata={"HA_Enabled": "True"}, vm_state=state)
    uuid = vm_down("compute-001", server)
    row = wait_settled(uuid)
    assert row.status == "ignored" and state in row.message
    assert region.server(server)["vm_state"] == state


def test_guest_shutdown_is_not_recoverable_and_ignored(cloud):
    region = cloud()
    make_segment("auto", HOSTS)
    server = region.boot_server("compute-001", metadata={"HA_Enabled": "True"})
    uuid = vm_down("compute-001", server, domain_event="STOPPED_SHUTDOWN")
    assert wait_settled(uuid).status == "ignored"
    assert details(uuid) == []


def test_unknown_instance_ends_error_naming_nova_reply(cloud):
    cloud()
    make_segment("auto", HOSTS)
    missing = "0b6f7c9e-1d2e-4f3a-8b4c-5d6e7f8a9b0c"
    uuid = vm_down("compute-001", missing)
    row = wait_settled(uuid)
    assert row.status == "error"
    assert "404" in row.message and missing in row.message
    assert [d["state"] for d in details(uuid)] == ["FAILURE"]


def test_stopped_nova_compute_is_disabled_and_confirmed(cloud):
    region = cloud()
    make_segment("auto", HOSTS)
    region.stop_service("compute-002", "nova-compute")
    uuid = notify("compute-002", "PROCESS", {"event": "STOPPED", "process_name": "nova-compute"})
    row = wait_settled(uuid)
    assert (row.status, row.message) == ("finished", None)
    service = region.service("compute-002")
    assert service["status"] == "disabled"
    assert service["disabled_reason"] == "Masakari detected process failed."
    assert host_row("compute-002").on_maintenance is True
    assert [d["name"] for d in details(uuid)] == [
        "DisableComputeNodeTask",
        "ConfirmComputeNodeDisabledTask",
    ]


def test_other_stopped_process_only_puts_the_host_on_maintenance(cloud):
    region = cloud()
    make_segment("auto", HOSTS)
    uuid = notify("compute-003", "PROCESS", {"event": "STOPPED", "process_name": "libvirtd"})
    assert wait_settled(uuid).status == "finished"
    assert host_row("compute-003").on_maintenance is True
    assert region.service("compute-003")["status"] == "enabled"
    assert details(uuid) == []


def test_started_process_needs_nothing(cloud):
    cloud()
    make_segment("auto", HOSTS)
    uuid = notify("compute-004", "PROCESS", {"event": "STARTED", "process_name": "nova-compute"})
    assert wait_settled(uuid).status == "finished"
    assert host_row("compute-004").on_maintenance is False


def test_crashed_guest_is_started_again(cloud):
    region = cloud()
    make_segment("auto", HOSTS)
    server = region.boot_server("compute-001", metadata={"HA_Enabled": "True"})
    region.crash_server(server)
    uuid = vm_down("compute-001", server)
    row = wait_settled(uuid)
    assert (row.status, row.message) == ("finished", None)
    assert region.server(server)["vm_state"] == "active"
    assert region.server(server)["host"] == "compute-001"


def test_resume_after_a_succeeded_attempt_finishes_without_touching_the_server(
    cloud, recover_fn, monkeypatch
):
    region = cloud()
    monkeypatch.delenv("VIGIL_SINK")  # the test delivers the triggers
    get_settings.cache_clear()
    make_segment("auto", HOSTS)
    server = region.boot_server("compute-001", metadata={"HA_Enabled": "True"})
    uuid = vm_down("compute-001", server)
    assert isinstance(claim(uuid, "created"), Claim)
    # The worker ended its attempt successfully, then died before writing `finished`.
    with session_scope() as session:
        session.add(
            RecoveryAttempt(
                notification_uuid=uuid,
                number=1,
                kind="instance",
                outcome="succeeded",
                started_at=utcnow(),
                ended_at=utcnow(),
            )
        )
        session.execute(
            update(Notification)
            .where(Notification.notification_uuid == uuid)
            .values(attempt=1, lease_expires_at=utcnow() - dt.timedelta(minutes=1))
        )
    seen = len(region.request_log)
    assert deliver(recover_fn.url, trigger_event(uuid, "resume", "VM")).status_code == 200
    row = wait_settled(uuid)
    assert (row.status, row.message) == ("finished", None)
    assert [r for r in region.request_log[seen:] if r[:2] == ("nova", "POST")] == []
