"""`/metrics` on the served api: figures read from PostgreSQL at scrape time, process figures."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import requests
from sqlalchemy import update

from shared.db import dispose_engines, session_scope, utcnow
from shared.models import (
    DeadLetter,
    HealthSample,
    Host,
    HostMonitorState,
    JobRun,
    Notification,
    RecoveryAttempt,
)
from shared.settings import get_settings
from tests.observability.conftest import evacuation, scrape
from tests.recover.scenario import make_segment, notify

STOPPED = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}


def _segment_name(segment_uuid: str) -> str:
    return f"seg-{segment_uuid[:8]}"


def test_metrics_answer_without_a_token_and_every_vigil_figure_is_prefixed(db, served):
    unauthenticated = requests.get(f"{served.url}/v1/segments", timeout=30)
    assert unauthenticated.status_code == 401
    found = scrape(served.url)
    assert found.value("vigil_database_up") == 1
    own = {f.name for f in found.families if not f.name.startswith(("process_", "python_"))}
    assert own and all(name.startswith("vigil_") for name in own), own
    assert found.value("process_resident_memory_bytes") is not None


def test_a_scrape_on_a_connection_that_sat_idle_still_reads_the_database(db, served, monkeypatch):
    """A pooled connection idle past the ping threshold is pinged at checkout; the scrape's
    snapshot transaction must still start fresh on it (it failed before: database_up 0)."""
    monkeypatch.setattr("shared.db.IDLE_PING_SECONDS", 0.0)
    scrape(served.url)
    again = scrape(served.url)
    assert again.value("vigil_database_up") == 1


def test_notifications_are_counted_by_type_and_status(metrics):
    make_segment("auto", ["compute-000", "compute-001", "compute-002"])
    created = [notify(f"compute-00{i}", "COMPUTE_HOST", STOPPED) for i in range(3)]
    notify(
        "compute-000",
        "VM",
        {
            "event": "LIFECYCLE",
            "instance_uuid": str(uuid.uuid4()),
            "vir_domain_event": "STOPPED_FAILED",
        },
    )
    with session_scope() as session:
        session.execute(
            update(Notification)
            .where(Notification.notification_uuid == created[0])
            .values(status="running")
        )
        session.execute(
            update(Notification)
            .where(Notification.notification_uuid == created[1])
            .values(status="finished")
        )
    found = metrics()
    assert found.value("vigil_notifications", type="COMPUTE_HOST", status="new") == 1
    assert found.value("vigil_notifications", type="COMPUTE_HOST", status="running") == 1
    assert found.value("vigil_notifications", type="COMPUTE_HOST", status="finished") == 1
    assert found.value("vigil_notifications", type="VM", status="new") == 1


def _attempt(notification: str, number: int, seconds: float, outcome: str) -> RecoveryAttempt:
    start = utcnow() - dt.timedelta(hours=1)
    return RecoveryAttempt(
        notification_uuid=notification,
        number=number,
        kind="auto",
        outcome=outcome,
        started_at=start,
        ended_at=start + dt.timedelta(seconds=seconds),
    )


def test_recovery_and_evacuation_histograms_are_built_from_stored_attempts_and_vmoves(metrics):
    owner = str(uuid.uuid4())
    with session_scope() as session:
        session.add_all(
            [
                _attempt(owner, 1, 3, "failed"),
                _attempt(owner, 2, 100, "succeeded"),
                _attempt(str(uuid.uuid4()), 1, 40, "succeeded"),
                evacuation(owner, "succeeded", 4),
                evacuation(owner, "succeeded", 40),
                evacuation(owner, "failed", 7),
                evacuation(owner, "ongoing", None),
            ]
        )
    found = metrics()
    bucket = "vigil_recovery_duration_seconds_bucket"
    assert found.value(bucket, kind="auto", outcome="succeeded", le="60.0") == 1
    assert found.value(bucket, kind="auto", outcome="succeeded", le="120.0") == 2
    assert found.value(bucket, kind="auto", outcome="failed", le="5.0") == 1
    assert found.value("vigil_recovery_duration_seconds_sum", outcome="succeeded") == 140
    evac = "vigil_evacuation_duration_seconds"
    assert found.value(f"{evac}_bucket", status="succeeded", le="5.0") == 1
    assert found.value(f"{evac}_bucket", status="succeeded", le="60.0") == 2
    assert found.value(f"{evac}_count", status="succeeded") == 2
    assert found.value(f"{evac}_count", status="failed") == 1
    assert found.value(f"{evac}_count", status="ongoing") is None  # not ended: not observed
    assert found.value("vigil_vmoves", type="evacuation", status="ongoing") == 1


def _state(name: str, settled: str, evidence: str | None = None) -> HostMonitorState:
    return HostMonitorState(
        host_name=name, settled_state=settled, fencing_evidence=evidence, transitions=[]
    )


def test_hosts_reserved_maintenance_and_the_brake_are_reported_per_segment(metrics):
    segment = make_segment(
        "auto", ["compute-000", "compute-001", "compute-002"], reserved=["spare-0", "spare-1"]
    )
    name = _segment_name(segment)
    with session_scope() as session:
        session.add_all(
            [
                _state("compute-000", "dead"),
                _state("compute-001", "dead", "redfish:Off"),
                _state("compute-002", "dead", "redfish:Off"),
                _state("spare-0", "alive"),
            ]
        )
        session.execute(update(Host).where(Host.name == "spare-1").values(on_maintenance=True))
    found = metrics()
    assert found.value("vigil_hosts", segment=name, settled_state="dead") == 3
    assert found.value("vigil_hosts", segment=name, settled_state="alive") == 1
    assert found.value("vigil_hosts", segment=name, settled_state="unknown") == 1
    assert found.value("vigil_hosts_dead_unfenced", segment=name) == 1
    assert found.value("vigil_hosts_on_maintenance", segment=name) == 1
    assert found.value("vigil_reserved_hosts_free", segment=name) == 1
    # 3 of 5 dead is over the default 50 % brake.
    assert found.value("vigil_gate_holding", gate="brake", segment=name) == 1
    assert found.value("vigil_gate_holding", gate="partition") == 0


def test_monitor_age_partition_hold_and_dead_letters_come_from_the_database(metrics):
    now = utcnow()
    with session_scope() as session:
        session.add_all(
            [
                JobRun(name="monitor.tick", last_run_at=now - dt.timedelta(seconds=400)),
                JobRun(
                    name="monitor.partition-hold",
                    last_run_at=now,
                    last_result={"remaining": 2, "reason": "mass drop", "hosts": ["a", "b"]},
                ),
                JobRun(name="monitor.round", last_run_at=now - dt.timedelta(seconds=500)),
                DeadLetter(
                    received_at=now,
                    event_id="e1",
                    event_type="org.openstack.vigil.internal.recovery.requested",
                    source="/vigil/api",
                    attributes={},
                ),
            ]
        )
    found = metrics()
    assert 400 <= found.value("vigil_monitor_seconds_since_last_tick") < 460
    assert 500 <= found.value("vigil_monitor_seconds_since_last_round") < 560
    assert found.value("vigil_monitor_interval_seconds") == get_settings().host.monitoring_interval
    assert found.value("vigil_gate_holding", gate="partition") == 1
    assert found.value("vigil_dead_letters") == 1


def test_steady_hosts_stored_now_and_then_do_not_look_like_a_partition(metrics):
    """A steady host's sample is stored once a minute, but every round marks itself run: the
    round age and the partition gauge follow the rounds, not the samples."""
    now = utcnow()
    with session_scope() as session:
        session.add_all(
            [
                JobRun(name="monitor.tick", last_run_at=now - dt.timedelta(seconds=2)),
                JobRun(name="monitor.round", last_run_at=now - dt.timedelta(seconds=1)),
                HealthSample(
                    host_name="a", sampled_at=now - dt.timedelta(seconds=55), verdict="up"
                ),
            ]
        )
    found = metrics()
    assert found.value("vigil_monitor_seconds_since_last_round") < 30
    assert found.value("vigil_gate_holding", gate="partition") == 0


def test_requests_are_counted_per_route_by_the_answering_process(metrics, served):
    def count() -> float:
        found = metrics().value(
            "vigil_api_requests_total", method="GET", route="segments:index", code="200"
        )
        return found or 0

    before = count()
    for _ in range(2):
        assert requests.get(f"{served.url}/v1/segments", timeout=30).status_code == 200
    assert count() == before + 2
    latency = metrics().value(
        "vigil_api_request_duration_seconds_count", method="GET", route="segments:index"
    )
    assert latency >= 2


def test_metrics_with_the_database_down_answer_process_figures_and_database_up_zero(
    database_url, served, monkeypatch
):
    monkeypatch.setenv("VIGIL_DATABASE_URL", "postgresql://vigil:x@127.0.0.1:1/vigil")
    get_settings.cache_clear()
    try:
        found = scrape(served.url)
        assert found.value("vigil_database_up") == 0
        assert found.value("vigil_notifications") is None
        assert found.value("process_cpu_seconds_total") is not None
    finally:
        monkeypatch.setenv("VIGIL_DATABASE_URL", database_url)
        get_settings.cache_clear()
        dispose_engines()


def test_a_host_recovery_moves_the_notification_to_finished_and_fills_the_evacuation_histogram(
    cloud, served, noauth
):
    region = cloud()
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    for i in range(6):
        region.boot_server("compute-000", name=f"vm-{i}", metadata={"HA_Enabled": "True"})
    region.power_off("compute-000")
    before = scrape(served.url)
    assert before.value("vigil_evacuation_duration_seconds_count", status="succeeded") is None
    uuid_ = notify("compute-000", "COMPUTE_HOST", STOPPED)
    give_up = time.monotonic() + 120
    while True:
        assert time.monotonic() < give_up, "the recovery did not finish"
        found = scrape(served.url)
        statuses = {
            s.labels["status"]
            for s in found.samples("vigil_notifications")
            if s.labels["type"] == "COMPUTE_HOST" and s.value
        }
        if statuses == {"finished"}:
            break
        assert statuses <= {"new", "running"}, (uuid_, statuses)
    evacuated = "vigil_evacuation_duration_seconds_count"
    assert found.value(evacuated, type="evacuation", status="succeeded") == 6
    assert found.value("vigil_evacuation_duration_seconds_bucket", le="+Inf") == 6
    assert found.value("vigil_recovery_duration_seconds_count", outcome="succeeded") == 1
    assert found.value("vigil_vmoves", status="ongoing") is None
