"""Failover capacity (microversion 1.4 extension, metrics, monitor check) on the simulated region."""

from __future__ import annotations

import time

import pytest
import requests

from shared import capacity
from shared.db import db_now, session_scope
from shared.health.jobs import CAPACITY_JOB
from shared.models import JobRun
from shared.settings import get_settings
from tests.api.conftest import Sink
from tests.observability.conftest import scrape
from tests.recover.conftest import configure
from tests.recover.scenario import make_segment

HOSTS = ["compute-000", "compute-001", "compute-002"]


@pytest.fixture
def tight(region_factory, monkeypatch, db, noauth):
    """Three hosts of 4 vCPUs: compute-000 full (4 servers), the other two with 3 each."""
    region = region_factory(hosts=[*HOSTS, "spare-000"], host_capacity=4, time_scale=100)
    for host, count in zip(HOSTS, (4, 3, 3), strict=True):
        for i in range(count):
            region.boot_server(host, name=f"{host}-vm{i}", metadata={"HA_Enabled": "True"})
    configure(monkeypatch, region)
    return region


def _capacity(url: str, segment: str, version: str = "1.4") -> requests.Response:
    return requests.get(
        f"{url}/v1/segments/{segment}/capacity",
        headers={"OpenStack-API-Version": f"instance-ha {version}"},
        timeout=60,
    )


def test_a_segment_whose_spare_room_cannot_absorb_its_largest_host_is_reported_insufficient(
    tight, served
):
    segment = make_segment("auto", HOSTS)
    reply = _capacity(served.url, segment)
    assert reply.status_code == 200, reply.text
    found = reply.json()["capacity"]
    assert found["segment_uuid"] == segment
    assert found["sufficient"] is False
    assert found["largest_host"] == "compute-000"
    assert found["needed"] == {"VCPU": 4, "MEMORY_MB": 8192, "DISK_GB": 80}
    assert found["spare"] == {"VCPU": 2, "MEMORY_MB": 4096, "DISK_GB": 40}
    assert found["source"] == "placement"
    by_name = {h["name"]: h for h in found["hosts"]}
    assert by_name["compute-000"] == {
        "name": "compute-000",
        "reserved": False,
        "free": {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0},
        "ha_servers": 4,
    }
    assert by_name["compute-001"]["ha_servers"] == 3


def test_a_free_reserved_host_restores_the_headroom_with_allocation_ratios_honoured(tight, served):
    # The spare's memory inventory is half its real memory at ratio 2.0: ignoring the ratio
    # would leave room for two of compute-000's four servers only.
    segment = make_segment("auto", HOSTS, reserved=["spare-000"])
    found = _capacity(served.url, segment).json()["capacity"]
    assert found["sufficient"] is True
    assert found["spare"] == {"VCPU": 6, "MEMORY_MB": 12288, "DISK_GB": 120}
    assert {h["name"]: h["reserved"] for h in found["hosts"]}["spare-000"] is True


def test_capacity_is_a_1_4_extension_and_unknown_segments_are_404(tight, served):
    segment = make_segment("auto", HOSTS)
    below = _capacity(served.url, segment, version="1.3")
    assert below.status_code == 404 and below.headers["Content-Type"].startswith("text/plain")
    missing = _capacity(served.url, "2b1f6a39-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert "No failover segment" in missing.json()["itemNotFound"]["message"]


def test_placement_unreachable_is_a_503_that_names_it(tight, served):
    segment = make_segment("auto", HOSTS)
    tight.set_api_down("placement")
    reply = _capacity(served.url, segment)
    assert reply.status_code == 503, reply.text
    assert "Placement" in reply.text


def test_the_monitor_check_emits_capacity_lost_and_restored_and_feeds_the_metric(
    tight, served, monkeypatch
):
    sink = Sink()
    try:
        monkeypatch.setenv("VIGIL_SINK", sink.url)
        monkeypatch.setenv("VIGIL_CAPACITY__CHECK", "true")
        monkeypatch.setenv("VIGIL_CAPACITY__CHECK_INTERVAL", "1")
        get_settings.cache_clear()
        segment = make_segment("auto", HOSTS)
        name = f"seg-{segment[:8]}"
        capacity.check()
        assert sink.types() == ["segment.capacity.lost"]
        assert sink.events[0]["subject"] == segment
        assert sink.events[0].data["largest_host"] == "compute-000"
        assert (
            scrape(served.url).value("vigil_segment_failover_capacity_sufficient", segment=name)
            == 0
        )

        server = tight.servers("compute-001")[0]["id"]
        tight.model.delete_server(server)
        tight.model.delete_server(tight.servers("compute-002")[0]["id"])
        _wait_check_interval()
        capacity.check()
        assert sink.types() == ["segment.capacity.lost", "segment.capacity.restored"]
        assert (
            scrape(served.url).value("vigil_segment_failover_capacity_sufficient", segment=name)
            == 1
        )
    finally:
        sink.stop()


def _wait_check_interval() -> None:
    """The check runs at most once per interval (1 s here), measured on the database clock."""
    with session_scope() as session:
        last = session.get(JobRun, CAPACITY_JOB).last_run_at
    while True:
        with session_scope() as session:
            if (db_now(session) - last).total_seconds() >= 1:
                return
        time.sleep(0.05)
