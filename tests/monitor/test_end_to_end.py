"""End to end: the monitor reports a powered-off host, recover evacuates its servers, and the
api shows the notification finished."""

from __future__ import annotations

import time

import requests

from tests.recover.broker import Broker
from tests.recover.conftest import FAST
from tests.servers import serve_function


def test_power_off_leads_to_a_notification_and_recovered_servers(monitor_rig):
    recover = serve_function("recover")
    api = serve_function("api")
    broker = Broker(target=recover.url).start()
    try:
        rig = monitor_rig(
            hosts=4,
            servers_per_host=2,
            register_hosts=False,
            env={**FAST, "VIGIL_SINK": broker.url, "VIGIL_AUTH_STRATEGY": "noauth"},
        )
        http = requests.Session()
        segment = http.post(
            f"{api.url}/v1/segments",
            timeout=30,
            json={
                "segment": {"name": "rack-1", "service_type": "COMPUTE", "recovery_method": "auto"}
            },
        )
        assert segment.status_code < 300, segment.text
        segment_uuid = segment.json()["segment"]["uuid"]
        host_uuids = {}
        for host in rig.region.hosts:
            created = http.post(
                f"{api.url}/v1/segments/{segment_uuid}/hosts",
                timeout=30,
                json={"host": {"name": host, "type": "COMPUTE", "control_attributes": "SSH"}},
            )
            assert created.status_code < 300, created.text
            host_uuids[host] = created.json()["host"]["uuid"]
        rig.run_ticks(2)
        victims = [s["id"] for s in rig.region.servers(host="compute-001")]
        assert victims

        rig.region.power_off("compute-001")
        rig.ticks_until(lambda: rig.notifications())
        (row,) = rig.notifications()
        assert row.payload["host_status"] == "NORMAL"

        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            shown = http.get(f"{api.url}/v1/notifications/{row.notification_uuid}", timeout=30)
            status = shown.json()["notification"]["status"]
            if status in ("finished", "error", "failed", "ignored"):
                break
            time.sleep(0.3)
        assert status == "finished", shown.text
        for server_id in victims:
            server = rig.region.server(server_id)
            assert server["host"] != "compute-001"
            assert server["vm_state"] == "active"

        health = http.get(
            f"{api.url}/v1/segments/{segment_uuid}/hosts/{host_uuids['compute-001']}/health",
            headers={"OpenStack-API-Version": "instance-ha 1.4"},
            timeout=30,
        )
        assert health.status_code == 200, health.text
        view = health.json()["health"]
        assert view["settled_state"] == "dead"
        assert view["last_reported"] == "STOPPED/NORMAL"
        assert view["fencing_evidence"] == "redfish:off"
        assert view["samples"][0]["verdict"] == "down"
        assert view["samples"][-1]["verdict"] == "up"
    finally:
        broker.stop()
        api.stop()
        recover.stop()
