"""The dashboard's read-only Vigil extensions (microversion 1.4): summary, gate decisions and
dead letters, with the same token and policy rules as the rest of the API."""

from __future__ import annotations

import datetime as dt

from shared.db import session_scope
from shared.models import DeadLetter, GateDecision, HealthSample, HostMonitorState
from tests.api import test_keystone
from tests.api.conftest import add_host, add_segment
from tests.api.test_keystone import client

keystone = test_keystone.keystone  # the fixture: a Keystone-validating api on the sim
PATHS = ("/v1/summary", "/v1/gate-decisions", "/v1/dead-letters")


def test_dashboard_extensions_need_microversion_1_4(api):
    for path in PATHS:
        for version in (None, "1.3"):
            r = api.get(path, version=version)
            assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/plain")
        assert api.get(path, version="1.4").status_code == 200


def test_summary_shows_each_host_settled_state_and_notification_counts(api):
    segment = add_segment("rack-1")
    dead = add_host(segment, "compute-001")
    add_host(segment, "compute-002", reserved=True)
    at = dt.datetime(2026, 5, 1, 10, 0, 0)
    with session_scope() as session:
        session.add(
            HostMonitorState(
                host_name="compute-001",
                host_uuid=dead.uuid,
                settled_state="dead",
                settled_since=at,
                fencing_evidence="redfish:off",
                transitions=[],
            )
        )
        for i, verdict in enumerate(("up", "down")):
            session.add(
                HealthSample(
                    host_name="compute-001",
                    host_uuid=dead.uuid,
                    sampled_at=at + dt.timedelta(seconds=i),
                    verdict=verdict,
                )
            )
    summary = api.get("/v1/summary", version="1.4").json()["summary"]
    (seg,) = summary["segments"]
    assert seg["name"] == "rack-1"
    hosts = {h["name"]: h for h in seg["hosts"]}
    assert hosts["compute-001"]["settled_state"] == "dead"
    assert hosts["compute-001"]["fencing_evidence"] == "redfish:off"
    assert hosts["compute-001"]["last_verdict"] == "down"
    assert hosts["compute-001"]["last_sampled_at"] == "2026-05-01T10:00:01.000000"
    assert hosts["compute-002"]["settled_state"] is None and hosts["compute-002"]["reserved"]
    assert summary["monitor"]["last_sample_at"] == "2026-05-01T10:00:01.000000"
    assert summary["notifications_by_status"] == {}
    assert summary["dead_letters"] == 0


def test_gate_decisions_and_dead_letters_newest_first_with_limit(api):
    at = dt.datetime(2026, 5, 1, 10, 0, 0)
    with session_scope() as session:
        for i in range(3):
            session.add(
                GateDecision(
                    decided_at=at + dt.timedelta(minutes=i),
                    gate="brake",
                    hosts=[f"compute-00{i}"],
                    reason=f"reason {i}",
                    details={},
                )
            )
            session.add(
                DeadLetter(
                    received_at=at + dt.timedelta(minutes=i),
                    event_id=f"e{i}",
                    event_type="org.openstack.vigil.internal.recovery.requested",
                    source="/vigil/api",
                    attributes={},
                    error_code="500",
                )
            )
    gates = api.get("/v1/gate-decisions?limit=2", version="1.4").json()["gate_decisions"]
    assert [g["reason"] for g in gates] == ["reason 2", "reason 1"]
    letters = api.get("/v1/dead-letters", version="1.4").json()["dead_letters"]
    assert [d["event_id"] for d in letters] == ["e2", "e1", "e0"]
    r = api.get("/v1/gate-decisions?limit=x", version="1.4")
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == "Invalid input received: limit must be an integer"


RULES = {
    "/v1/summary": "os_masakari_api:summary:detail",
    "/v1/gate-decisions": "os_masakari_api:gate-decisions:index",
    "/v1/dead-letters": "os_masakari_api:dead-letters:index",
}


def test_dashboard_extensions_need_a_token_and_are_admin_only(keystone, served):
    admin = client(served, keystone.issue_token(admin=True))
    member = client(served, keystone.issue_token(admin=False))
    for path, rule in RULES.items():
        assert client(served).get(path, version="1.4").status_code == 401
        assert admin.get(path, version="1.4").status_code == 200
        r = member.get(path, version="1.4")
        assert r.status_code == 403
        assert r.json()["forbidden"]["message"] == f"Policy doesn't allow {rule} to be performed."
