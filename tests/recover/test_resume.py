"""Crashes, races and a flaky Nova: recovery resumes, shares nothing, never hangs (§15.5-15.8)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.recover.scenario import (
    SETTLED,
    attempts,
    deliver,
    details,
    host_down,
    host_row,
    make_segment,
    notification,
    ping_event,
    trigger_event,
    vmoves,
    wait_settled,
)

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_recover_process(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "functions-framework"),
            "--target",
            "recover",
            "--source",
            str(ROOT / "functions" / "recover" / "main.py"),
            "--signature-type",
            "cloudevent",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("functions-framework did not start")


def recovery_under_way_in_a_subprocess(cloud, servers: int, threads: int):
    """A host failure being recovered by a separate recover process, caught mid-evacuation.

    Returns (region, server ids, process, notification uuid) once at least one server has moved
    and others are still waiting; the caller stops or kills the process.
    """
    # 5 cloud seconds per evacuation at time scale 5: one real second each.
    region = cloud(time_scale=5, env={"VIGIL_HOST_FAILURE_RECOVERY_THREADS": str(threads)})
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    ids = [
        region.boot_server("compute-000", metadata={"HA_Enabled": "True"}) for _ in range(servers)
    ]
    region.power_off("compute-000")
    proc, url = start_recover_process({**os.environ, "VIGIL_SINK": "http://127.0.0.1:9/"})
    try:
        # Created with no working sink, delivered by hand to the subprocess only.
        uuid = host_down("compute-000")
        sender = threading.Thread(
            target=lambda: _swallow(lambda: deliver(url, trigger_event(uuid), timeout=120)),
            daemon=True,
        )
        sender.start()
        deadline = time.monotonic() + 30
        while not any(m.status == "succeeded" for m in vmoves(uuid)):
            assert time.monotonic() < deadline, "no evacuation finished in the subprocess"
            time.sleep(0.05)
    except BaseException:
        proc.kill()
        raise
    return region, ids, proc, uuid


def test_sigkilled_recovery_resumes_after_a_sweep_tick_and_moves_no_server_twice(
    cloud, recover_fn, broker
):
    region, servers, proc, uuid = recovery_under_way_in_a_subprocess(cloud, servers=20, threads=4)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert any(m.status in ("ongoing", "pending") for m in vmoves(uuid))
    assert notification(uuid).status == "running"
    time.sleep(3.5)  # the dead owner's lease (3 s) runs out
    assert deliver(recover_fn.url, ping_event()).status_code == 200
    row = wait_settled(uuid, timeout=60)
    assert (row.status, row.message) == ("finished", None)
    for server_id in servers:
        server = region.server(server_id)
        assert server["host"] != "compute-000" and server["vm_state"] == "active", server
        assert region.evacuation_count(server_id) == 1, server
        assert server["locked"] is False, server
    assert len(vmoves(uuid)) == 20 and {m.status for m in vmoves(uuid)} == {"succeeded"}
    assert len(attempts(uuid)) == 1  # a resume continues the same attempt


def _swallow(call) -> None:
    try:
        call()
    except requests.RequestException:
        pass


def test_two_failures_with_one_reserved_host_share_nothing(cloud):
    region = cloud(hosts=4)
    region.set_reserved("compute-003")
    make_segment(
        "reserved_host", ["compute-000", "compute-001", "compute-002"], reserved=["compute-003"]
    )
    a = [region.boot_server("compute-000", metadata={"HA_Enabled": "True"}) for _ in range(3)]
    b = [region.boot_server("compute-001", metadata={"HA_Enabled": "True"}) for _ in range(3)]
    region.power_off("compute-000")
    region.power_off("compute-001")
    first, second = host_down("compute-000"), host_down("compute-001")
    rows = {wait_settled(first).status, wait_settled(second).status}
    assert rows == {"finished", "error"}
    winner, loser = (first, second) if notification(first).status == "finished" else (second, first)
    assert notification(loser).message == "No reserved_hosts available for evacuation."
    moved = a if winner == first else b
    stayed = b if winner == first else a
    assert all(region.server(s)["host"] == "compute-003" for s in moved)
    assert all(region.evacuation_count(s) == 0 for s in stayed)
    assert host_row("compute-003").reserved is False


def test_rh_priority_failure_without_a_reserved_host_falls_back_to_auto(cloud):
    region = cloud(hosts=5)
    region.set_reserved("compute-004")
    make_segment(
        "rh_priority",
        ["compute-000", "compute-001", "compute-002", "compute-003"],
        reserved=["compute-004"],
    )
    a = [region.boot_server("compute-000", metadata={"HA_Enabled": "True"}) for _ in range(3)]
    b = [region.boot_server("compute-001", metadata={"HA_Enabled": "True"}) for _ in range(3)]
    region.power_off("compute-000")
    region.power_off("compute-001")
    first, second = host_down("compute-000"), host_down("compute-001")
    assert wait_settled(first).status == "finished" and wait_settled(second).status == "finished"
    targets = [{region.server(s)["host"] for s in group} for group in (a, b)]
    assert {"compute-004"} in targets  # one got the reserved host
    assert any(t <= {"compute-002", "compute-003"} for t in targets)  # the other fell back to auto
    assert all(region.evacuation_count(s) == 1 for s in a + b)


def test_flaky_nova_ends_every_notification_with_a_message_and_none_stuck(cloud):
    region = cloud(
        hosts=8, env={"VIGIL_NOVA_REQUEST_TIMEOUT": "1", "VIGIL_WAIT_PERIOD_AFTER_EVACUATION": "5"}
    )
    make_segment("auto", [f"compute-00{i}" for i in range(8)])
    failed_hosts = ["compute-000", "compute-001", "compute-002"]
    for host in failed_hosts:
        for i in range(5):
            region.boot_server(host, metadata={"HA_Enabled": "True"} if i % 2 else {})
    region.inject_faults("nova", error_rate=0.1, timeout_rate=0.1, latency=0.05)
    uuids = []
    for host in failed_hosts:
        region.power_off(host)
        uuids.append(host_down(host))
    for uuid in uuids:
        row = wait_settled(uuid, timeout=90)
        assert row.status in ("finished", "error"), row.status
        if row.status == "error":
            assert row.message and ("Nova" in row.message or "timeout" in row.message), row.message
        assert row.lease_owner is None
    region.inject_faults("nova")
    for uuid in uuids:
        for move in vmoves(uuid):
            assert move.status in ("succeeded", "failed")
            if move.status == "failed":
                assert move.message
    assert all(notification(u).status in SETTLED for u in uuids)


@pytest.mark.parametrize(
    "budget",
    [
        "1",  # shorter than one evacuation window (15 s here): hands off by elapsed time
        "16",  # room for one window: no server starts once it could outlast the budget
    ],
)
def test_an_attempt_past_its_time_budget_hands_off_and_the_resume_finishes(cloud, broker, budget):
    region = cloud(
        time_scale=10,
        env={"VIGIL_RECOVERY_TIME_BUDGET": budget, "VIGIL_HOST_FAILURE_RECOVERY_THREADS": "2"},
    )
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    servers = [
        region.boot_server("compute-000", metadata={"HA_Enabled": "True"}) for _ in range(12)
    ]
    region.power_off("compute-000")
    uuid = host_down("compute-000")
    row = wait_settled(uuid, timeout=60)
    assert (row.status, row.message) == ("finished", None)
    resumes = [
        e for e in broker.received if e.get("subject") == uuid and e.data.get("reason") == "resume"
    ]
    assert resumes, "the attempt should have handed off at least once"
    assert all(region.evacuation_count(s) == 1 for s in servers)
    assert len(attempts(uuid)) == 1
    assert [d["name"] for d in details(uuid)] == [
        "DisableComputeServiceTask",
        "PrepareHAEnabledInstancesTask",
        "EvacuateInstancesTask",
    ]


@pytest.mark.parametrize("api", ["keystone", "nova"])
def test_an_unreachable_cloud_api_ends_error_with_the_reason(cloud, api):
    region = cloud()
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    server = region.boot_server("compute-000", metadata={"HA_Enabled": "True"})
    region.power_off("compute-000")
    region.set_api_down(api)
    uuid = host_down("compute-000")
    row = wait_settled(uuid)
    assert row.status == "error" and row.lease_owner is None
    assert row.message.startswith("Failed to execute host failure flow for notification")
    reason = "authenticate" if api == "keystone" else "Negotiating the compute microversion failed"
    assert reason in row.message
    region.set_api_down(api, down=False)
    assert region.evacuation_count(server) == 0


def test_the_same_trigger_at_two_recover_processes_at_once_evacuates_each_server_once(
    cloud, recover_fn
):
    region = cloud(time_scale=50)
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    servers = [
        region.boot_server("compute-000", metadata={"HA_Enabled": "True"}) for _ in range(10)
    ]
    region.power_off("compute-000")
    proc, url = start_recover_process({**os.environ, "VIGIL_SINK": "http://127.0.0.1:9/"})
    try:
        uuid = host_down("compute-000")
        event = trigger_event(uuid)
        senders = [
            threading.Thread(target=lambda u=u, m=m: _swallow(lambda: deliver(u, event, m)))
            for u in (url, recover_fn.url)
            for m in ("binary", "structured", "binary")
        ]
        for t in senders:
            t.start()
        for t in senders:
            t.join(60)
        row = wait_settled(uuid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert (row.status, row.message) == ("finished", None)
    assert [region.evacuation_count(s) for s in servers] == [1] * 10
    assert len(vmoves(uuid)) == 10 and len(attempts(uuid)) == 1


def test_an_expired_token_is_renewed_once_and_recovery_goes_on(cloud):
    region = cloud(token_ttl=300)  # 300 cloud seconds: 1.5 real seconds at time scale 200
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    first = region.boot_server("compute-000", metadata={"HA_Enabled": "True"})
    second = region.boot_server("compute-001", metadata={"HA_Enabled": "True"})
    region.power_off("compute-000")
    assert wait_settled(host_down("compute-000")).status == "finished"
    since = len(region.request_log)
    time.sleep(2)  # the session's token is now expired in the cloud
    region.power_off("compute-001")
    row = wait_settled(host_down("compute-001"))
    assert (row.status, row.message) == ("finished", None)
    assert (
        region.server(first)["host"] != "compute-000"
        and region.server(second)["host"] != "compute-001"
    )
    later = region.request_log[since:]
    logins = [r for r in later if r[:3] == ("keystone", "POST", "/v3/auth/tokens")]
    refused = [r for r in later if (r[0], r[3]) == ("nova", 401)]
    # Each expiry (one, or more on a slow machine) is met by one 401 and one new login.
    assert refused and len(logins) == len(refused)


def test_an_owner_paused_past_its_lease_wakes_to_find_it_taken_and_touches_nothing(
    cloud, recover_fn, broker
):
    region, servers, proc, uuid = recovery_under_way_in_a_subprocess(cloud, servers=12, threads=2)
    try:
        proc.send_signal(signal.SIGSTOP)
        assert any(m.status in ("ongoing", "pending") for m in vmoves(uuid))
        time.sleep(3.5)  # the paused owner's lease (3 s) runs out
        assert deliver(recover_fn.url, ping_event()).status_code == 200
        assert wait_settled(uuid, timeout=60).status == "finished"
        proc.send_signal(signal.SIGCONT)
        time.sleep(3)  # the old owner's workers wake mid-step and try to carry on
    finally:
        proc.kill()
        proc.wait(10)
    assert notification(uuid).status == "finished"
    assert [m.status for m in vmoves(uuid)] == ["succeeded"] * len(servers)
    for server_id in servers:
        assert region.evacuation_count(server_id) == 1
