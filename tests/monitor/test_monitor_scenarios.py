"""Acceptance of the monitor on the simulated region, driven by ticks over HTTP (monitoring.md)."""

from __future__ import annotations

import threading

from shared.locks import single_run
from tests.monitor.conftest import TIME_SCALE

STOPPED_NORMAL = {"event": "STOPPED", "cluster_status": "OFFLINE", "host_status": "NORMAL"}
STOPPED_UNKNOWN = {"event": "STOPPED", "cluster_status": "OFFLINE", "host_status": "UNKNOWN"}
STARTED = {"event": "STARTED", "cluster_status": "ONLINE", "host_status": "NORMAL"}
LEASE_DURATION = 40  # the sim's default, cloud seconds
INTERVAL_CLOUD_SECONDS = 1 * TIME_SCALE


def payloads(rig, host=None):
    return [n.payload for n in rig.notifications(host)]


def test_fenced_host_powered_off_is_reported_stopped_normal_once_then_started(monitor_rig):
    rig = monitor_rig()
    rig.run_ticks(2)
    off_at = rig.region.now()
    rig.region.power_off("compute-003")
    rig.ticks_until(lambda: rig.notifications())
    detected = rig.region.now()
    rig.run_ticks(3)

    assert payloads(rig) == [STOPPED_NORMAL]
    row = rig.notifications("compute-003")[0]
    assert row.type == "COMPUTE_HOST"
    assert (detected - off_at).total_seconds() <= LEASE_DURATION + INTERVAL_CLOUD_SECONDS
    assert rig.state("compute-003").fencing_evidence == "redfish:off"

    rig.region.power_on("compute-003")
    rig.ticks_until(lambda: len(rig.notifications()) == 2)
    assert payloads(rig, "compute-003") == [STOPPED_NORMAL, STARTED]


def test_without_fencing_evidence_stopped_is_unknown_then_normal_once_tainted(monitor_rig):
    rig = monitor_rig(env={"VIGIL_FENCING__DRIVER": "none"})
    rig.run_ticks(2)
    rig.region.power_off("compute-001")
    rig.ticks_until(lambda: rig.notifications())
    rig.run_ticks(2)
    assert payloads(rig) == [STOPPED_UNKNOWN]

    rig.region.taint_out_of_service("compute-001")
    rig.ticks_until(lambda: len(rig.notifications()) == 2)
    rig.run_ticks(2)
    assert payloads(rig) == [STOPPED_UNKNOWN, STOPPED_NORMAL]
    assert rig.samples("compute-001")[-1].fenced == "out-of-service-taint"


def test_host_flapping_every_sample_is_never_reported(monitor_rig):
    rig = monitor_rig(env={"VIGIL_HOST__MONITORING_SAMPLES": "2"})
    rig.run_ticks(2)
    for _ in range(4):
        rig.region.power_off("compute-002")
        rig.region.sleep(90)
        rig.tick()
        rig.region.power_on("compute-002")
        rig.region.sleep(30)
        rig.tick()
    verdicts = [s.verdict for s in rig.samples("compute-002")]
    assert "down" in verdicts and verdicts[-1] == "up"
    assert rig.notifications() == []


def test_more_than_half_of_a_segment_down_at_once_engages_the_brake(monitor_rig):
    names = [f"compute-{i:03d}" for i in range(8)]
    rig = monitor_rig(segments={"rack-a": names[:4], "rack-b": names[4:]})
    rig.run_ticks(2)
    for host in names[:3]:
        rig.region.power_off(host)
    rig.ticks_until(lambda: rig.sink.of_type("monitor.gate.brake"))
    rig.run_ticks(2)

    assert rig.notifications() == []
    event = rig.sink.of_type("monitor.gate.brake")[0]
    assert event["data"]["hosts"] == names[:3]
    assert all(s.verdict == "down" for s in rig.samples("compute-000")[-2:])


def test_kubernetes_api_unreachable_gives_no_samples_and_no_verdicts(monitor_rig):
    rig = monitor_rig()
    rig.run_ticks(1)
    before = len(rig.all_samples())
    rig.region.set_api_down("kubernetes")
    rig.region.power_off("compute-004")
    rig.run_ticks(3)

    assert len(rig.all_samples()) == before
    assert rig.notifications() == []
    reasons = [e["data"]["reason"] for e in rig.sink.of_type("monitor.gate.partition")]
    assert reasons and all("kubernetes unreachable" in r for r in reasons)


def test_two_ticks_delivered_at_once_run_one_cycle(monitor_rig):
    rig = monitor_rig()
    threads = [threading.Thread(target=rig.tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(rig.all_samples()) == 8
    assert len(rig.samples("compute-000")) == 1


def test_tick_while_another_cycle_holds_the_lock_does_nothing(monitor_rig):
    rig = monitor_rig()
    with single_run("monitor") as mine:
        assert mine
        rig.tick(structured=True)
    assert rig.all_samples() == []


def test_interval_shorter_than_the_tick_takes_several_samples_per_tick(monitor_rig):
    rig = monitor_rig()
    rig.tick()
    rig.region.sleep(2.2 * TIME_SCALE)
    rig.tick()
    assert len(rig.samples("compute-000")) == 3
