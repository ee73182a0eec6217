"""Suspicion, then proof, in one round (monitoring.md §4.1), on a region at 10× real time.

At 10× a tick every 0.6 real seconds is 6 cloud seconds apart, fine enough to tell the suspect
threshold (20 s) from the Lease grace (50 s) and Nova's service_down_time (60 s).
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.health import fencing
from shared.settings import Settings, get_settings
from tests.monitor.test_monitor_scenarios import STOPPED_NORMAL, STOPPED_UNKNOWN, payloads
from tests.monitor.test_network_probes import probe_env

SCALE = 10
SUSPECT = 20
GRACE = 50


def deciding_sample(rig, host, before):
    """The sample whose time the notification carries, and the samples before it."""
    (row,) = rig.notifications(host)
    after = rig.samples(host)[before:]
    deciding = next(s for s in after if s.sampled_at == row.generated_time)
    return deciding, after[: after.index(deciding)]


def power_reads(rig, host):
    return [r for r in rig.region.request_log if r[0] == "redfish" and host in r[2]]


def test_host_proven_off_is_reported_normal_in_the_round_its_lease_turns_suspect(monitor_rig):
    rig = monitor_rig(time_scale=SCALE)
    rig.run_ticks(2)
    before = len(rig.samples("compute-003"))
    rig.region.power_off("compute-003")
    rig.ticks_until(lambda: rig.notifications(), limit=40)
    rig.run_ticks(2)

    assert payloads(rig) == [STOPPED_NORMAL]
    deciding, earlier = deciding_sample(rig, "compute-003", before)
    # The first round that saw the Lease late reported it, long before grace or Nova.
    assert SUSPECT < deciding.lease_age < GRACE
    assert all(s.lease_age <= SUSPECT for s in earlier)
    assert deciding.nova_state == "up"
    assert deciding.fenced == "redfish:off"
    assert rig.state("compute-003").settled_state == "dead"


def test_kubelet_stopped_on_a_powered_host_is_never_reported(monitor_rig):
    rig = monitor_rig(time_scale=SCALE)
    rig.run_ticks(2)
    rig.region.stop_service("compute-002", "kubelet")
    rig.ticks_until(lambda: rig.samples("compute-002")[-1].lease_age > GRACE + 30, limit=60)

    assert power_reads(rig, "compute-002")  # suspected, and the BMC said on
    assert rig.notifications() == []
    assert "down" not in [s.verdict for s in rig.samples("compute-002")]


def test_power_controller_unreachable_falls_back_to_todays_rule(monitor_rig):
    rig = monitor_rig(time_scale=SCALE, redfish=False)
    rig.run_ticks(2)
    before = len(rig.samples("compute-001"))
    rig.region.power_off("compute-001")
    rig.ticks_until(lambda: rig.notifications(), limit=60)

    assert payloads(rig) == [STOPPED_UNKNOWN]
    deciding, earlier = deciding_sample(rig, "compute-001", before)
    assert deciding.lease_age > GRACE and deciding.nova_state == "down"
    assert "down" not in [s.verdict for s in earlier]
    assert any(s.lease_age > SUSPECT for s in earlier)  # suspected for a while, unproven


def test_a_silent_bmc_is_warned_about_once_and_again_when_it_answers(monitor_rig, caplog):
    rig = monitor_rig(time_scale=SCALE)
    caplog.set_level("INFO", logger="shared.health.fencing")
    power = fencing.PowerReader(get_settings())  # what one tick's rounds share

    def read_power() -> None:  # as each round does for a suspect
        fencing.Evidence(get_settings(), power).proof(["compute-001"], set())

    rig.region.set_api_down("redfish")
    for _ in range(3):
        read_power()
    rig.region.set_api_down("redfish", False)
    read_power()
    said = [
        (r.levelname, r.getMessage().split(":")[0])
        for r in caplog.records
        if r.getMessage().startswith("power check of compute-001")
    ]
    assert said == [
        ("WARNING", "power check of compute-001 failed (try 1)"),
        ("INFO", "power check of compute-001 failed (try 1)"),
        ("INFO", "power check of compute-001 failed (try 1)"),
        ("WARNING", "power check of compute-001 answers again"),
    ]


def test_management_network_cut_is_not_reported(monitor_rig, tmp_path):
    # A cut management network silences the kubelet and nova-compute; the BMC still says on.
    rig = monitor_rig(time_scale=SCALE, env_factory=lambda region: probe_env(region, tmp_path))
    rig.run_ticks(2)
    rig.region.cut_network("compute-004", "management")
    rig.region.stop_service("compute-004", "kubelet")
    rig.region.stop_service("compute-004", "nova-compute")
    rig.ticks_until(lambda: rig.samples("compute-004")[-1].nova_state == "down", limit=60)
    rig.run_ticks(3)

    assert rig.notifications() == []
    assert rig.samples("compute-004")[-1].networks == {
        "manage": "down",
        "tenant": "up",
        "storage": "up",
    }


def test_three_of_four_hosts_proven_off_at_once_are_held_by_the_brake(monitor_rig):
    names = [f"compute-{i:03d}" for i in range(8)]
    rig = monitor_rig(time_scale=SCALE, segments={"rack-a": names[:4], "rack-b": names[4:]})
    rig.run_ticks(2)
    for host in names[:3]:
        rig.region.power_off(host)
    rig.ticks_until(lambda: rig.sink.of_type("monitor.gate.brake"), limit=40)
    rig.run_ticks(2)

    assert rig.notifications() == []
    assert rig.sink.of_type("monitor.gate.brake")[0]["data"]["hosts"] == names[:3]
    first_down = next(s for s in rig.samples("compute-000") if s.verdict == "down")
    assert first_down.fenced == "redfish:off" and first_down.nova_state == "up"


def test_flapping_host_proven_off_again_is_held(monitor_rig):
    rig = monitor_rig(time_scale=SCALE, env={"VIGIL_SAFETY__FLAP_MAX_TRANSITIONS": "1"})
    rig.run_ticks(2)
    rig.region.power_off("compute-006")
    rig.ticks_until(lambda: rig.notifications(), limit=40)
    rig.region.power_on("compute-006")
    rig.ticks_until(lambda: rig.sink.of_type("monitor.gate.flap"), limit=40)
    rig.region.power_off("compute-006")
    rig.ticks_until(lambda: rig.state("compute-006").settled_state == "dead", limit=40)
    rig.run_ticks(2)

    assert payloads(rig) == [STOPPED_NORMAL]  # the STARTED and the second STOPPED are held
    assert rig.sink.of_type("monitor.gate.flap")[-1]["data"]["hosts"] == ["compute-006"]
    assert rig.state("compute-006").pending_transition == "STOPPED"


def without_node(host):
    """Hide one host's Node from the monitor, as a compute that runs no kubelet."""
    return {
        "VIGIL_KUBERNETES__MONITORING_NODE_LABELS": f"kubernetes.io/hostname notin ({host})",
        "VIGIL_HOST__NOVA_ONLY_HOSTS": "compute-00*",
    }


def test_host_without_a_node_proven_dead_by_the_bmc_is_reported_normal(monitor_rig):
    rig = monitor_rig(time_scale=SCALE, env=without_node("compute-007"))
    rig.run_ticks(2)
    before = len(rig.samples("compute-007"))
    rig.region.power_off("compute-007")
    rig.ticks_until(lambda: rig.notifications(), limit=60)
    rig.run_ticks(2)

    assert payloads(rig) == [STOPPED_NORMAL]
    deciding, earlier = deciding_sample(rig, "compute-007", before)
    assert deciding.ready is None and deciding.lease_age is None
    assert deciding.nova_state == "down" and deciding.fenced == "redfish:off"
    assert all(s.nova_state == "up" for s in earlier)


def test_host_without_a_node_whose_nova_compute_stops_is_unknown(monitor_rig):
    rig = monitor_rig(time_scale=SCALE, env=without_node("compute-005"))
    rig.run_ticks(2)
    rig.region.stop_service("compute-005", "nova-compute")
    rig.ticks_until(lambda: rig.notifications(), limit=60)
    assert payloads(rig) == [STOPPED_UNKNOWN]
    assert power_reads(rig, "compute-005")


def test_steady_healthy_hosts_are_stored_now_and_then_every_change_always(monitor_rig):
    rig = monitor_rig(time_scale=SCALE, env={"VIGIL_HOST__STEADY_SAMPLE_INTERVAL": "600"})
    rig.run_ticks(3)
    assert len(rig.samples("compute-000")) == 1
    rig.region.power_off("compute-000")
    rig.ticks_until(lambda: rig.notifications(), limit=40)
    rig.run_ticks(2)
    verdicts = [s.verdict for s in rig.samples("compute-000")]
    assert verdicts[0] == "up" and verdicts[1:] == ["down"] * (len(verdicts) - 1)
    assert len(verdicts) >= 4
    assert len(rig.samples("compute-001")) == 1


@pytest.mark.parametrize("suspect", [9, 50, 60])
def test_suspect_threshold_outside_renewal_and_grace_is_a_settings_error(suspect):
    with pytest.raises(ValidationError) as failure:
        Settings(kubernetes={"suspect_seconds": suspect, "lease_grace_seconds": 50})
    assert "suspect_seconds" in str(failure.value)
    assert "renewal period (10 s) and below lease_grace_seconds (50)" in str(failure.value)
