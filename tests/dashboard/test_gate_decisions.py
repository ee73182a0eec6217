"""A gate holding verdicts is stored by the monitor and served by ``GET /v1/gate-decisions``
and the summary, so an operator sees why a dead host was not reported."""

from __future__ import annotations

import requests

from tests.servers import serve_function

V14 = {"OpenStack-API-Version": "instance-ha 1.4"}


def test_brake_hold_is_listed_with_its_reason_and_hosts(monitor_rig):
    names = [f"compute-{i:03d}" for i in range(8)]
    rig = monitor_rig(
        segments={"rack-a": names[:4], "rack-b": names[4:]},
        env={"VIGIL_AUTH_STRATEGY": "noauth"},
    )
    api = serve_function("api")
    try:
        rig.run_ticks(2)
        for host in names[:3]:
            rig.region.power_off(host)
        rig.ticks_until(lambda: rig.sink.of_type("monitor.gate.brake"))
        decisions = requests.get(f"{api.url}/v1/gate-decisions", headers=V14, timeout=30)
        assert decisions.status_code == 200, decisions.text
        brake = [d for d in decisions.json()["gate_decisions"] if d["gate"] == "brake"]
        assert brake and brake[0]["hosts"] == names[:3]
        assert "of segment" in brake[0]["reason"] and "is down (limit" in brake[0]["reason"]
        assert brake[0]["details"]["down"] == names[:3]
        assert brake[0]["segment"]
        summary = requests.get(f"{api.url}/v1/summary", headers=V14, timeout=30).json()["summary"]
        rack_a = next(s for s in summary["segments"] if s["name"] == "rack-a")
        assert {h["name"]: h["settled_state"] for h in rack_a["hosts"]} == {
            "compute-000": "dead",
            "compute-001": "dead",
            "compute-002": "dead",
            "compute-003": "alive",
        }
        assert summary["notifications_by_status"] == {}
        assert summary["monitor"]["seconds_since_last_sample"] is not None
    finally:
        api.stop()
