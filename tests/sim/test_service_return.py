"""Nova 34's way back, as the region plays it: the provider's disabled trait follows the compute."""

from __future__ import annotations

from tests.sim.conftest import connect

HOST = "compute-003"


def _service(conn):
    return next(conn.compute.services(host=HOST, binary="nova-compute"))


def test_enabling_a_service_nova_counts_down_leaves_the_host_unschedulable(region):
    conn = connect(region)
    conn.compute.default_microversion = "2.53"
    service = _service(conn)
    conn.compute.update_service_forced_down(service, HOST, "nova-compute", True)
    conn.compute.disable_service(service, HOST, "nova-compute", disabled_reason="failed")
    region.stop_service(HOST, "nova-compute")
    region.start_service(HOST, "nova-compute")  # restarts with the service disabled: trait set
    conn.compute.enable_service(service, HOST, "nova-compute")  # still forced down: no RPC
    conn.compute.update_service_forced_down(service, HOST, "nova-compute", False)
    assert _service(conn).status == "enabled" and _service(conn).state == "up"
    assert region.model.schedule(1, only=HOST) is None  # "No valid host"
    region.stop_service(HOST, "nova-compute")
    region.start_service(HOST, "nova-compute")
    assert region.model.schedule(1, only=HOST) == HOST


def test_unforced_and_seen_up_before_enabling_the_host_is_schedulable_at_once(region):
    conn = connect(region)
    conn.compute.default_microversion = "2.53"
    service = _service(conn)
    conn.compute.update_service_forced_down(service, HOST, "nova-compute", True)
    conn.compute.disable_service(service, HOST, "nova-compute", disabled_reason="failed")
    region.stop_service(HOST, "nova-compute")
    region.start_service(HOST, "nova-compute")
    conn.compute.update_service_forced_down(service, HOST, "nova-compute", False)
    assert _service(conn).state == "up"
    conn.compute.enable_service(service, HOST, "nova-compute")
    assert region.model.schedule(1, only=HOST) == HOST
