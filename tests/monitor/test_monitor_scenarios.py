"""Acceptance of the monitor on the simulated region, driven by ticks over HTTP (monitoring.md)."""

from __future__ import annotations

import threading

import pytest
import requests

from shared.locks import single_run
from tests.monitor.conftest import TIME_SCALE

STOPPED_NORMAL = {"event": "STOPPED", "cluster_status": "OFFLINE", "host_status": "NORMAL"}
STOPPED_UNKNOWN = {"event": "STOPPED", "cluster_status": "OFFLINE", "host_status": "UNKNOWN"}
STARTED = {"event": "STARTED", "cluster_status": "ONLINE", "host_status": "NORMAL"}
LEASE_DURATION = 40  # cloud seconds, the sim's default


def payloads(rig, host=None):
    return [n.payload for n in rig.notifications(host)]


def test_fenced_host_powered_off_is_reported_stopped_normal_once_then_started(monitor_rig):
    # Lease grace = the Lease duration and Nova quicker than both, so the Lease decides.
    rig = monitor_rig(
        env={"VIGIL_KUBERNETES__LEASE_GRACE_SECONDS": str(LEASE_DURATION)},
        service_down_time=20,
        lease_duration=LEASE_DURATION,
    )
    rig.run_ticks(2)
    before = len(rig.samples("compute-003"))
    rig.region.power_off("compute-003")
    rig.ticks_until(lambda: rig.notifications())
    rig.run_ticks(2)

    assert payloads(rig) == [STOPPED_NORMAL]
    row = rig.notifications("compute-003")[0]
    assert row.type == "COMPUTE_HOST"
    # Reported by the first sample taken after the Lease ran out: within the Lease duration
    # plus one sampling interval of the power-off.
    after = rig.samples("compute-003")[before:]
    deciding = next(s for s in after if s.verdict == "down")
    assert deciding.sampled_at == row.generated_time
    assert deciding.lease_age > LEASE_DURATION
    earlier = after[: after.index(deciding)]
    assert all(s.lease_age <= LEASE_DURATION for s in earlier)
    assert deciding.fenced == "redfish:off"
    assert rig.state("compute-003").fencing_evidence == "redfish:off"

    rig.region.power_on("compute-003")
    rig.ticks_until(lambda: len(rig.notifications()) == 2)
    assert payloads(rig, "compute-003") == [STOPPED_NORMAL, STARTED]


def test_without_fencing_evidence_stopped_is_unknown_then_normal_once_tainted(monitor_rig):
    rig = monitor_rig(env={"VIGIL_FENCING__DRIVER": "taint"})
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
    for _ in range(3):
        # Ticks about one interval apart, so each takes exactly one sample.
        rig.region.power_off("compute-002")
        rig.region.sleep(75)
        rig.tick(spaced=False)
        rig.region.power_on("compute-002")
        rig.region.sleep(60)
        rig.tick(spaced=False)
    verdicts = [s.verdict for s in rig.samples("compute-002")]
    assert verdicts[2:] == ["down", "up"] * 3
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

    # The brake releases by itself once the share drops; the held report then goes out.
    rig.region.power_on("compute-000")
    rig.region.power_on("compute-001")
    rig.ticks_until(lambda: rig.notifications())
    assert payloads(rig) == [STOPPED_NORMAL]
    assert rig.notifications("compute-002")


@pytest.mark.parametrize("api", ["kubernetes", "nova"])
def test_monitoring_api_unreachable_gives_no_samples_and_no_verdicts(monitor_rig, api):
    rig = monitor_rig()
    rig.run_ticks(1)
    before = len(rig.all_samples())
    rig.region.set_api_down(api)
    rig.region.power_off("compute-004")
    rig.run_ticks(3)

    assert len(rig.all_samples()) == before
    assert rig.notifications() == []
    reasons = [e["data"]["reason"] for e in rig.sink.of_type("monitor.gate.partition")]
    assert len(reasons) == 3 and all(f"{api} unreachable" in r for r in reasons)


def test_more_than_half_of_the_healthy_hosts_dropping_at_once_holds_verdicts(monitor_rig):
    rig = monitor_rig(env={"VIGIL_SAFETY__PARTITION_HOLD_CYCLES": "2"})
    rig.run_ticks(2)
    before = len(rig.all_samples())
    victims = [f"compute-{i:03d}" for i in range(5)]
    for host in victims:
        rig.region.power_off(host)
    rig.ticks_until(lambda: rig.sink.of_type("monitor.gate.partition"))
    rig.run_ticks(2)
    holds = rig.sink.of_type("monitor.gate.partition")
    assert len(holds) == 3  # the round that saw the drop, then two held rounds
    assert holds[0]["data"]["hosts"] == victims
    assert "5 of 8 healthy hosts dropped" in holds[0]["data"]["reason"]
    dropped_rounds = len(rig.all_samples()) - before
    rig.tick()
    assert len(rig.all_samples()) - before == dropped_rounds + 8
    assert rig.notifications() == []  # judged again: 5 of 8 dead engages the brake instead
    assert rig.sink.of_type("monitor.gate.brake")


def test_two_ticks_delivered_at_once_run_one_cycle(monitor_rig):
    rig = monitor_rig()
    threads = [threading.Thread(target=rig.tick, kwargs={"spaced": False}) for _ in range(2)]
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
    rig.tick(structured=True)
    rig.region.sleep(2.2 * TIME_SCALE)
    rig.tick(structured=True)
    assert len(rig.samples("compute-000")) == 3


def test_a_host_past_the_per_cycle_cap_is_reported_in_the_next_cycle(monitor_rig):
    names = [f"compute-{i:03d}" for i in range(8)]
    rig = monitor_rig(
        segments={"rack-a": names[:4], "rack-b": names[4:]},
        env={"VIGIL_SAFETY__MAX_HOSTS_PER_CYCLE": "1"},
    )
    rig.run_ticks(2)
    rig.region.power_off("compute-001")
    rig.region.power_off("compute-005")
    rig.region.sleep(100)
    rig.tick()
    assert len(rig.notifications()) == 1
    held = rig.sink.of_type("monitor.gate.cap")[0]["data"]["hosts"]
    assert len(held) == 1 and held[0] in ("compute-001", "compute-005")
    assert rig.notifications(held[0]) == []
    rig.ticks_until(lambda: len(rig.notifications()) == 2)
    assert payloads(rig, held[0]) == [STOPPED_NORMAL]
    assert payloads(rig) == [STOPPED_NORMAL, STOPPED_NORMAL]


def test_flapping_host_gets_no_reports_until_it_holds_one_state(monitor_rig):
    rig = monitor_rig(env={"VIGIL_SAFETY__FLAP_MAX_TRANSITIONS": "1"})
    rig.run_ticks(2)
    rig.region.power_off("compute-006")
    rig.ticks_until(lambda: rig.notifications())
    rig.region.power_on("compute-006")
    rig.ticks_until(lambda: rig.sink.of_type("monitor.gate.flap"))
    rig.run_ticks(2)
    assert payloads(rig) == [STOPPED_NORMAL]
    assert rig.sink.of_type("monitor.gate.flap")[0]["data"]["hosts"] == ["compute-006"]
    assert rig.state("compute-006").pending_transition == "STARTED"


def test_unknown_nodes_and_hosts_without_a_node_are_logged_and_skipped(monitor_rig, caplog):
    caplog.set_level("INFO")
    rig = monitor_rig(segments={"rack-a": ["compute-000", "compute-001", "ghost-1"]})
    rig.tick()
    assert {s.host_name for s in rig.all_samples()} == {"compute-000", "compute-001"}
    text = caplog.text
    assert "ghost-1" in text and "no Kubernetes Node" in text
    assert "compute-007" in text and "not registered Vigil hosts" in text


def test_every_lease_stale_at_once_is_blamed_on_the_channel_not_the_hosts(monitor_rig):
    rig = monitor_rig(hosts=4)
    rig.run_ticks(1)
    for host in rig.region.hosts:
        rig.region.stop_service(host, "kubelet")
    rig.ticks_until(lambda: rig.sink.of_type("monitor.gate.partition"))
    event = rig.sink.of_type("monitor.gate.partition")[0]
    assert "every host is stale on the Kubernetes Lease channel" in event["data"]["reason"]
    assert event["data"]["hosts"] == sorted(rig.region.hosts)
    assert rig.notifications() == []
    # Rounds with every Lease stale were dropped: no stored sample has a stale Lease.
    assert all(s.lease_age <= 50 for s in rig.all_samples())


def test_power_controller_not_answering_gives_stopped_unknown(monitor_rig, caplog):
    rig = monitor_rig(hosts=4, redfish=False)
    rig.run_ticks(2)
    rig.region.power_off("compute-002")
    rig.ticks_until(lambda: rig.notifications())
    assert payloads(rig) == [STOPPED_UNKNOWN]
    assert "power check of compute-002 failed" in caplog.text


def test_events_other_than_ticks_are_acknowledged_and_ignored(monitor_rig):
    rig = monitor_rig(hosts=2)
    response = requests.post(
        rig.url,
        data="{}",
        timeout=30,
        headers={
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": "x-1",
            "ce-type": "com.example.unrelated",
            "ce-source": "/elsewhere",
        },
    )
    assert response.status_code == 200
    assert rig.all_samples() == []


def test_hung_kubernetes_api_drops_the_cycle_at_twice_the_api_timeout(monitor_rig):
    rig = monitor_rig(hosts=2, env={"VIGIL_SAFETY__API_TIMEOUT": "0.4"})
    rig.region.inject_faults("kubernetes", timeout_rate=1.0)
    rig.tick()
    (event,) = rig.sink.of_type("monitor.gate.partition")
    # The client's own retries (4 × 0.4 s) would take longer: the cycle's deadline decided.
    assert event["data"]["reason"] == "kubernetes unreachable: no answer within 0.8 s"
    assert rig.all_samples() == []
