"""Claiming, redelivery, per-host serialisation, events and the sweep (recovery.md §2-4, §9, §15.5)."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
import uuid as uuidlib

import pytest
from sqlalchemy import update

from shared.db import session_scope, utcnow
from shared.models import Notification, Segment, VMove
from shared.recovery import hosts as recovery_hosts
from shared.recovery.context import RecoveryContext
from shared.recovery.evacuation import set_vmove
from shared.recovery.lifecycle import Claim, HostBusy, Lease, LeaseLost, claim
from shared.settings import get_settings
from tests.recover.scenario import (
    attempts,
    deliver,
    details,
    host_down,
    host_row,
    make_segment,
    notification,
    notify,
    ping_event,
    trigger_event,
    vmoves,
    wait_settled,
)

FAILED = "compute-000"
HOSTS = [f"compute-00{i}" for i in range(6)]


def set_row(uuid: str, **values) -> None:
    with session_scope() as session:
        session.execute(
            update(Notification).where(Notification.notification_uuid == uuid).values(**values)
        )


def test_same_trigger_delivered_five_times_concurrently_evacuates_each_server_once(
    cloud, recover_fn, monkeypatch
):
    region = cloud()
    monkeypatch.delenv("VIGIL_SINK")  # the test is the broker here
    from shared.settings import get_settings

    get_settings.cache_clear()
    make_segment("auto", HOSTS)
    servers = [region.boot_server(FAILED, metadata={"HA_Enabled": "True"}) for _ in range(20)]
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    event = trigger_event(uuid)
    answers: list[int] = []
    threads = [
        threading.Thread(
            target=lambda m=mode: answers.append(deliver(recover_fn.url, event, m).status_code)
        )
        for mode in ("binary", "structured", "binary", "structured")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    answers.append(deliver(recover_fn.url, event).status_code)
    assert answers == [200] * 5
    assert wait_settled(uuid).status == "finished"
    assert [region.evacuation_count(s) for s in servers] == [1] * 20
    assert len(vmoves(uuid)) == 20


def test_process_events_bracket_the_attempt(cloud, broker):
    region = cloud()
    make_segment("auto", HOSTS)
    region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "finished"
    wait_for_event(broker, uuid, "notification.process.end")  # it follows the final write
    kinds = broker.types(uuid)
    assert kinds.count("notification.process.start") == 1
    assert kinds.index("notification.process.start") < kinds.index("notification.process.end")
    end = [e for e in broker.received if e["type"].endswith("notification.process.end")][0]
    assert end.data["status"] == "finished" and end.data["fault"] is None
    host_updates = [e for e in broker.received if e["type"].endswith("host.update.end")]
    assert host_updates and host_updates[0].data["on_maintenance"] is True


def test_disabled_segment_ignores_with_no_process_event(cloud, broker):
    region = cloud()
    make_segment("auto", HOSTS, enabled=False)
    server = region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    row = wait_settled(uuid)
    assert (row.status, row.message) == ("ignored", "Recovery aboart: the segment HA is disabled.")
    assert not [t for t in broker.types(uuid) if t.startswith("notification.process")]
    assert region.evacuation_count(server) == 0


def test_unknown_notification_and_foreign_events_are_acknowledged(cloud, recover_fn):
    cloud()
    assert (
        deliver(recover_fn.url, trigger_event("4f8d3b51-8f1e-4c1e-9d39-6d8c5f0f2a77")).status_code
        == 200
    )
    from shared import events

    other = events.build("com.example.something.else", "elsewhere", None, {"x": 1})
    assert deliver(recover_fn.url, other, "structured").status_code == 200
    broken = events.build(events.recovery_trigger_type(), "api", None, {"reason": "created"})
    assert deliver(recover_fn.url, broken).status_code == 200


def test_unknown_host_status_and_started_event_need_no_recovery(cloud):
    cloud()
    make_segment("auto", HOSTS)
    unknown = notify(
        "compute-001",
        "COMPUTE_HOST",
        {"event": "STOPPED", "host_status": "UNKNOWN", "cluster_status": "OFFLINE"},
    )
    started = notify(
        "compute-002",
        "COMPUTE_HOST",
        {"event": "STARTED", "host_status": "NORMAL", "cluster_status": "ONLINE"},
    )
    assert wait_settled(unknown).status == "ignored"
    assert wait_settled(started).status == "finished"
    assert details(started) == []


def test_second_notification_of_a_running_host_is_answered_retryable(
    cloud, recover_fn, monkeypatch
):
    cloud()
    monkeypatch.delenv("VIGIL_SINK")
    from shared.settings import get_settings

    get_settings.cache_clear()
    make_segment("auto", HOSTS)
    first = notify(FAILED, "PROCESS", {"event": "STOPPED", "process_name": "libvirtd"})
    set_row(
        first,
        status="running",
        lease_owner="someone",
        lease_expires_at=utcnow() + dt.timedelta(minutes=5),
    )
    # on_maintenance was not set yet by the running attempt, so a second report is accepted
    second = notify(
        FAILED,
        "VM",
        {
            "event": "LIFECYCLE",
            "vir_domain_event": "STOPPED_FAILED",
            "instance_uuid": "2a1b9c3e-0d4f-4e5a-8b6c-7d8e9f0a1b2c",
        },
    )
    answer = deliver(recover_fn.url, trigger_event(second, type_="VM"))
    assert answer.status_code == 503 and answer.headers.get("Retry-After")
    assert notification(second).status == "new"


def test_sweep_retries_error_once_then_failed(cloud, broker, recover_fn):
    region = cloud()
    make_segment("reserved_host", HOSTS)  # no reserved host: every attempt ends in error
    region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "error"
    assert deliver(recover_fn.url, ping_event()).status_code == 200
    row = wait_settled_as(uuid, "failed")
    assert row.message == "No reserved_hosts available for evacuation."
    assert [
        r for r in broker.received if r.get("subject") == uuid and r.data.get("reason") == "retry"
    ]


def wait_for_event(broker, uuid: str, kind: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while kind not in broker.types(uuid):
        assert time.monotonic() < deadline, f"no {kind} for {uuid}: {broker.types(uuid)}"
        time.sleep(0.05)


def wait_settled_as(uuid: str, status: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while notification(uuid).status != status:
        assert time.monotonic() < deadline, notification(uuid).status
        time.sleep(0.05)
    return notification(uuid)


def test_sweep_republishes_a_new_notification_whose_trigger_was_lost(
    cloud, broker, recover_fn, monkeypatch
):
    region = cloud()
    make_segment("auto", HOSTS)
    server = region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.power_off(FAILED)
    monkeypatch.setenv("VIGIL_SINK", "http://127.0.0.1:9/")  # the trigger is lost
    from shared.settings import get_settings

    get_settings.cache_clear()
    uuid = host_down(FAILED)
    assert notification(uuid).status == "new"
    monkeypatch.setenv("VIGIL_SINK", broker.url)
    get_settings.cache_clear()
    assert deliver(recover_fn.url, ping_event()).status_code == 200
    assert wait_settled(uuid).status == "finished"
    assert region.evacuation_count(server) == 1


def test_sweep_expires_old_notifications(cloud, recover_fn):
    cloud(env={"VIGIL_NOTIFICATIONS_EXPIRED_INTERVAL": "3600"})
    make_segment("auto", HOSTS)
    old = notify(
        "compute-003",
        "PROCESS",
        {"event": "STOPPED", "process_name": "nova-compute"},
        generated=utcnow() - dt.timedelta(hours=2),
    )
    set_row(old, status="error", retried=True)
    assert deliver(recover_fn.url, ping_event()).status_code == 200
    row = notification(old)
    assert row.status == "failed" and "expired" in row.message


def test_sweep_ticks_run_each_job_at_most_once_per_interval(cloud, recover_fn, broker):
    region = cloud(env={"VIGIL_PROCESS_UNFINISHED_NOTIFICATIONS_INTERVAL": "3600"})
    make_segment("reserved_host", HOSTS)
    region.power_off(FAILED)
    region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "error"
    for _ in range(3):
        assert deliver(recover_fn.url, ping_event()).status_code == 200
    retries = [
        r for r in broker.received if r.get("subject") == uuid and r.data.get("reason") == "retry"
    ]
    assert len(retries) == 1


def test_a_worker_whose_lease_expired_loses_its_final_write_to_the_new_owner(db, monkeypatch):
    from shared.recovery.lifecycle import Claim, Lease, claim
    from shared.settings import get_settings

    monkeypatch.delenv("VIGIL_SINK", raising=False)
    get_settings.cache_clear()
    make_segment("auto", HOSTS)
    uuid = notify("compute-001", "PROCESS", {"event": "STOPPED", "process_name": "nova-compute"})
    first = claim(uuid, "created")
    assert isinstance(first, Claim)
    assert not isinstance(claim(uuid, "resume"), Claim)  # lease still live: nothing to resume
    set_row(uuid, lease_expires_at=utcnow() - dt.timedelta(seconds=1))
    second = claim(uuid, "resume")
    assert isinstance(second, Claim) and second.owner != first.owner
    old = Lease(uuid, first.owner)
    assert old.renew() is False and old.lost.is_set()
    assert old.finish("error", "stale owner") is False
    assert Lease(uuid, second.owner).finish("finished", None) is True
    assert (notification(uuid).status, notification(uuid).message) == ("finished", None)


def test_retry_after_error_counts_only_its_own_vmoves_and_finishes(cloud, recover_fn, broker):
    region = cloud(hosts=2, host_capacity=3)
    for _ in range(3):
        region.boot_server("compute-001")  # the only other host is full
    make_segment("auto", ["compute-000", "compute-001"])
    servers = [region.boot_server(FAILED, metadata={"HA_Enabled": "True"}) for _ in range(2)]
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    row = wait_settled(uuid)
    assert row.status == "error" and row.message.startswith("Failed to evacuate instances")
    region.add_host("compute-009")  # capacity arrives; the sweep's one retry can now succeed
    assert deliver(recover_fn.url, ping_event()).status_code == 200
    row = wait_settled_as(uuid, "finished")
    assert row.message is None
    assert all(region.server(s)["host"] == "compute-009" for s in servers)
    moves = vmoves(uuid)
    assert {m.status for m in moves if m.attempt == 1} == {"failed"}
    assert {m.status for m in moves if m.attempt == 2} == {"succeeded"}
    error = [e for e in broker.received if e["type"].endswith("notification.process.error")]
    assert error and error[0]["priority"] == "ERROR" and error[0].data["fault"]["exception_message"]


def test_sweep_retry_of_a_notification_whose_segment_was_disabled_is_ignored(
    cloud, recover_fn, broker
):
    region = cloud()
    segment_uuid = make_segment("reserved_host", HOSTS)
    region.boot_server(FAILED, metadata={"HA_Enabled": "True"})
    region.power_off(FAILED)
    uuid = host_down(FAILED)
    assert wait_settled(uuid).status == "error"
    wait_for_event(broker, uuid, "notification.process.error")  # emitted after the final write
    events_before = len(broker.types(uuid))
    with session_scope() as session:
        session.execute(update(Segment).where(Segment.uuid == segment_uuid).values(enabled=False))
    assert deliver(recover_fn.url, ping_event()).status_code == 200
    row = wait_settled_as(uuid, "ignored")
    assert row.message == "Recovery aboart: the segment HA is disabled."
    later = broker.types(uuid)[events_before:]
    assert not [t for t in later if t.startswith("notification.process")]


def test_an_owner_that_lost_its_claim_can_neither_start_nor_record_an_evacuation(
    cloud, monkeypatch
):
    cloud()
    monkeypatch.delenv("VIGIL_SINK")  # no trigger: the test plays both workers
    get_settings.cache_clear()
    make_segment("auto", HOSTS)
    uuid = host_down(FAILED)
    first = claim(uuid, "created")
    assert isinstance(first, Claim)
    with session_scope() as session:
        move = VMove(
            uuid=str(uuidlib.uuid4()),
            notification_uuid=uuid,
            instance_uuid=str(uuidlib.uuid4()),
            instance_name="vm",
            source_host=FAILED,
            type="evacuation",
            status="pending",
            attempt=1,
            created_at=utcnow(),
        )
        session.add(move)
        session.flush()
        move_id = move.id
    set_row(uuid, lease_expires_at=utcnow() - dt.timedelta(minutes=1))  # the first owner stalled
    second = claim(uuid, "resume")
    assert isinstance(second, Claim) and second.owner != first.owner

    stale = Lease(uuid, first.owner)
    with pytest.raises(LeaseLost):
        set_vmove(move_id, stale, status="ongoing", start_time=utcnow())
    assert stale.lost.is_set()
    assert vmoves(uuid)[0].status == "pending"

    set_vmove(move_id, Lease(uuid, second.owner), status="ongoing", start_time=utcnow())
    assert vmoves(uuid)[0].status == "ongoing"


def test_a_handed_off_recovery_still_holds_its_host_until_resumed(cloud, monkeypatch):
    cloud()
    monkeypatch.delenv("VIGIL_SINK")  # the test plays the workers
    get_settings.cache_clear()
    make_segment("auto", HOSTS)
    first = host_down(FAILED)
    assert isinstance(claim(first, "created"), Claim)
    set_row(
        first, lease_owner=None, lease_expires_at=utcnow() - dt.timedelta(seconds=1)
    )  # handed off
    second = notify(FAILED, "PROCESS", {"event": "STOPPED", "process_name": "nova-compute"})
    with pytest.raises(HostBusy):
        claim(second, "created")
    assert isinstance(claim(first, "resume"), Claim)


def test_an_owner_cut_off_from_the_database_gives_up_once_its_lease_may_have_run_out(
    cloud, monkeypatch
):
    cloud()  # lease 3 s, heartbeat 0.3 s
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv(
        "VIGIL_DATABASE_URL", f"postgresql+pg8000://postgres@127.0.0.1:{closed_port}/vigil"
    )
    get_settings.cache_clear()
    lease = Lease(str(uuidlib.uuid4()), "worker-a")
    assert lease.renew() is True  # a blip: the lease still has time
    time.sleep(2.8)  # every renewal fails until the lease (3 s less a heartbeat) may have run out
    assert lease.renew() is False
    assert lease.lost.is_set()


def test_a_worker_that_lost_its_claim_can_neither_take_a_reserved_host_nor_begin_an_attempt(
    cloud, monkeypatch
):
    cloud()
    monkeypatch.delenv("VIGIL_SINK")  # the test plays the workers
    get_settings.cache_clear()
    segment = make_segment("reserved_host", HOSTS[:-1], reserved=[HOSTS[-1]])
    uuid = host_down(FAILED)
    first = claim(uuid, "created")
    ctx = RecoveryContext(first, Lease(uuid, first.owner))
    ctx.begin_attempt("reserved_host")
    set_row(uuid, lease_expires_at=utcnow() - dt.timedelta(minutes=1))
    assert isinstance(claim(uuid, "resume"), Claim)  # another worker took over
    with pytest.raises(LeaseLost):
        recovery_hosts.claim_reserved_host(segment, ctx.record_reserved_host)
    assert host_row(HOSTS[-1]).reserved is True  # still in the pool for the new owner
    with pytest.raises(LeaseLost):
        ctx.begin_attempt("auto")
    assert [a.number for a in attempts(uuid)] == [1]
