"""The way back (opt-in): a recovered host returns to service once it is healthy again."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from sqlalchemy import select, update

from shared.db import session_scope
from shared.health.restore import return_recovered_hosts
from shared.models import Host, HostMonitorState, Notification
from shared.settings import get_settings
from tests.recover.broker import Broker
from tests.recover.conftest import FAST
from tests.servers import serve_function

HOST = "compute-001"
REASON = "Masakari detected host failed."
WAY_BACK = {"VIGIL_HOST_RETURN__ENABLED": "true", "VIGIL_HOST_RETURN__HOLD_SECONDS": "0"}


def utc(seconds_ago: float = 0) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=seconds_ago)


def recovered(region, host: str = HOST, alive_for: float = 3600) -> str:
    """The state a finished recovery leaves: Nova forced down and disabled with Vigil's reason,
    the host on maintenance, its COMPUTE_HOST notification finished; then the host came back
    and has settled alive for ``alive_for`` seconds."""
    model = region.model
    model.set_service(model.host(host), status="disabled", reason=REASON, forced_down=True)
    with session_scope() as session:
        row = session.scalar(select(Host).where(Host.name == host))
        row.on_maintenance = True
        row.updated_at = utc(7200)
        session.add(
            Notification(
                notification_uuid=str(uuid.uuid4()),
                generated_time=utc(7300),
                type="COMPUTE_HOST",
                payload={"event": "STOPPED", "host_status": "NORMAL"},
                status="finished",
                source_host_uuid=row.uuid,
                failover_segment_uuid=row.failover_segment_id,
                created_at=utc(7300),
                updated_at=utc(7100),
            )
        )
        session.merge(
            HostMonitorState(host_name=host, settled_state="alive", settled_since=utc(alive_for))
        )
        return row.uuid


def on_maintenance(host: str = HOST) -> bool:
    with session_scope() as session:
        return session.scalar(select(Host.on_maintenance).where(Host.name == host))


def back_in_service(region, host: str = HOST) -> bool:
    """Unforced, enabled and off maintenance: what an operator would have cleared by hand."""
    service = region.service(host)
    return (service["forced_down"], service["status"], on_maintenance(host)) == (
        False,
        "enabled",
        False,
    )


def test_a_recovered_healthy_host_is_returned_to_service(monitor_rig, caplog):
    caplog.set_level("WARNING", logger="shared.health.restore")
    rig = monitor_rig(hosts=4, env=WAY_BACK)
    host_uuid = recovered(rig.region)
    assert rig.region.model.schedule(1, only=HOST) is None
    assert return_recovered_hosts(get_settings()) == [HOST]
    assert back_in_service(rig.region)
    assert rig.region.model.schedule(1, only=HOST) == HOST  # schedulable again
    assert (
        f"host {HOST} returned to service: forced_down cleared, compute service enabled, "
        "on_maintenance cleared"
    ) in caplog.messages
    ends = [e for e in rig.sink.of_type("host.update.end") if e["data"]["uuid"] == host_uuid]
    assert [e["data"]["on_maintenance"] for e in ends] == [False]
    assert return_recovered_hosts(get_settings()) == []  # once


def test_the_way_back_never_fires_when_the_setting_is_off(monitor_rig):
    rig = monitor_rig(hosts=4, env={"VIGIL_HOST_RETURN__HOLD_SECONDS": "0"})
    recovered(rig.region)
    assert return_recovered_hosts(get_settings()) == []
    assert on_maintenance() and rig.region.service(HOST)["forced_down"] is True


def test_the_way_back_never_fires_for_a_stale_lease(monitor_rig):
    rig = monitor_rig(hosts=4, env=WAY_BACK)
    recovered(rig.region)
    rig.region.stop_service(HOST, "kubelet")
    rig.region.sleep(60)  # past the Lease grace; the stored state still says alive
    assert return_recovered_hosts(get_settings()) == []
    assert on_maintenance() and rig.region.service(HOST)["forced_down"] is True


def test_the_way_back_never_fires_for_a_host_still_powered_off(monitor_rig):
    rig = monitor_rig(hosts=4, env=WAY_BACK)
    recovered(rig.region)
    rig.region.power_off(HOST)
    assert return_recovered_hosts(get_settings()) == []
    assert on_maintenance() and rig.region.service(HOST)["forced_down"] is True


def test_the_way_back_never_fires_for_a_flapping_host_or_before_the_hold(monitor_rig):
    rig = monitor_rig(hosts=4, env={**WAY_BACK, "VIGIL_HOST_RETURN__HOLD_SECONDS": "600"})
    recovered(rig.region, alive_for=300)
    recovered(rig.region, host="compute-002")
    with session_scope() as session:
        session.execute(
            update(HostMonitorState)
            .where(HostMonitorState.host_name == "compute-002")
            .values(flapping_until=utc(-600))
        )
    assert return_recovered_hosts(get_settings()) == []
    assert on_maintenance() and on_maintenance("compute-002")


NO_NODE = {
    **WAY_BACK,
    "VIGIL_KUBERNETES__MONITORING_NODE_LABELS": f"kubernetes.io/hostname notin ({HOST})",
    "VIGIL_HOST__NOVA_ONLY_HOSTS": HOST,
}


@pytest.mark.parametrize(
    "kubernetes",
    [{}, {"VIGIL_KUBERNETES__KUBECONFIG": ""}],
    ids=["node-not-selected", "no-kubernetes-at-all"],
)
def test_a_recovered_host_without_a_node_returns_once_its_bmc_says_on_and_nova_up(
    monitor_rig, kubernetes
):
    rig = monitor_rig(hosts=4, env={**NO_NODE, **kubernetes})
    recovered(rig.region)
    rig.region.power_off(HOST)
    assert return_recovered_hosts(get_settings()) == []  # the BMC says off
    assert on_maintenance() and rig.region.service(HOST)["forced_down"] is True
    rig.region.power_on(HOST)
    assert return_recovered_hosts(get_settings()) == [HOST]
    assert back_in_service(rig.region)


def test_a_host_without_a_node_and_outside_nova_only_hosts_never_returns(monitor_rig):
    rig = monitor_rig(hosts=4, env={**NO_NODE, "VIGIL_HOST__NOVA_ONLY_HOSTS": ""})
    recovered(rig.region)
    assert return_recovered_hosts(get_settings()) == []
    assert on_maintenance() and rig.region.service(HOST)["forced_down"] is True


def test_a_host_changed_by_the_operator_after_its_recovery_is_left_alone(monitor_rig):
    rig = monitor_rig(hosts=4, env=WAY_BACK)
    recovered(rig.region)
    with session_scope() as session:
        session.execute(update(Host).where(Host.name == HOST).values(updated_at=utc()))
    assert return_recovered_hosts(get_settings()) == []
    assert on_maintenance()


def test_a_service_the_operator_disabled_stays_disabled(monitor_rig):
    rig = monitor_rig(hosts=4, env=WAY_BACK)
    recovered(rig.region)
    model = rig.region.model
    model.set_service(model.host(HOST), status="disabled", reason="replacing a DIMM")
    assert return_recovered_hosts(get_settings()) == [HOST]
    service = rig.region.service(HOST)
    assert (service["forced_down"], service["status"]) == (False, "disabled")


@pytest.mark.slow
def test_after_a_real_recovery_nova_refusing_to_unforce_is_retried_until_compute_restarts(
    monitor_rig, caplog
):
    """Power off, recovery, power back on without nova-compute: Nova keeps the host forced
    down (it has completed evacuations) and each round retries; once nova-compute runs, the host
    is back, schedulable, in Nova 34's order."""
    caplog.set_level("INFO", logger="shared.health.restore")
    recover = serve_function("recover")
    broker = Broker(target=recover.url).start()
    try:
        rig = monitor_rig(
            hosts=4,
            servers_per_host=2,
            env={**FAST, **WAY_BACK, "VIGIL_SINK": broker.url},
        )
        rig.run_ticks(2)
        rig.region.power_off(HOST)
        rig.ticks_until(lambda: rig.notifications())
        (row,) = rig.notifications()
        deadline = time.monotonic() + 60
        while rig.notifications()[0].status != "finished" and time.monotonic() < deadline:
            time.sleep(0.3)
        assert rig.notifications()[0].status == "finished"
        assert on_maintenance() and rig.region.service(HOST)["forced_down"] is True

        rig.region.stop_service(HOST, "nova-compute")
        rig.region.power_on(HOST)
        refused = "Nova keeps it forced down until nova-compute restarts"
        rig.ticks_until(lambda: any(refused in m for m in caplog.messages))
        rig.tick()
        assert on_maintenance() and rig.region.service(HOST)["forced_down"] is True
        assert rig.notifications()[0].status == "finished"  # nothing new, nothing failed

        rig.region.start_service(HOST, "nova-compute")
        rig.ticks_until(lambda: not on_maintenance())
        service = rig.region.service(HOST)
        assert (service["forced_down"], service["status"]) == (False, "enabled")
        assert rig.region.model.schedule(1, only=HOST) == HOST
        assert len(rig.notifications()) == 1
    finally:
        broker.stop()
        recover.stop()
