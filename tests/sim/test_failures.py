"""Failure control: unreachable APIs, injected 5xx/timeouts/latency, Redfish power, the cloud clock."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import pytest
import requests
from kubernetes import client, config
from openstack import exceptions as os_exc

from tests.sim.conftest import connect
from tests.sim.test_cli_and_clients import novaclient_for


def test_nova_down_drops_connections_and_comes_back(region, conn):
    region.set_api_down("nova")
    with pytest.raises(requests.ConnectionError):
        requests.get(region.nova_url + "/servers", headers={"X-Auth-Token": region.issue_token()})
    region.set_api_down("nova", down=False)
    assert list(conn.compute.servers()) == []


def test_kubernetes_down_leaves_nova_answering(region, conn):
    region.set_api_down("kubernetes")
    with pytest.raises(requests.ConnectionError):
        requests.get(region.kubernetes_url + "/api/v1/nodes")
    assert len(list(conn.compute.services())) == 8


def test_injected_errors_appear_at_the_configured_rate(region):
    region.inject_faults("nova", error_rate=0.2)
    token = region.issue_token()
    statuses = []
    with requests.Session() as http:
        for _ in range(500):
            statuses.append(
                http.get(
                    region.nova_url + "/os-services", headers={"X-Auth-Token": token}
                ).status_code
            )
    failed = statuses.count(503)
    assert set(statuses) == {200, 503}
    assert 0.14 <= failed / 500 <= 0.26
    logged = [entry for entry in region.request_log if entry[0] == "nova" and entry[3] == 503]
    assert len(logged) == failed


def test_injected_error_has_novas_fault_shape_and_sdk_sees_503(region, conn):
    region.inject_faults("nova", error_rate=1.0)
    reply = requests.get(
        region.nova_url + "/servers", headers={"X-Auth-Token": region.issue_token()}
    )
    assert reply.status_code == 503 and reply.json()["serviceUnavailable"]["code"] == 503
    with pytest.raises(os_exc.HttpException) as err:
        list(conn.compute.servers())
    assert err.value.status_code == 503


def test_injected_kubernetes_error_is_a_status_object(region):
    region.inject_faults("kubernetes", error_rate=1.0, error_status=500)
    reply = requests.get(region.kubernetes_url + "/api/v1/nodes")
    assert reply.status_code == 500 and reply.json()["kind"] == "Status"


def test_injected_timeouts_hang_then_drop_at_the_configured_rate(region):
    region.inject_faults("kubernetes", timeout_rate=0.1, hang=0.02)
    dropped = 0
    for _ in range(200):
        try:
            requests.get(region.kubernetes_url + "/api/v1/nodes/compute-000", timeout=5)
        except requests.ConnectionError:
            dropped += 1
    assert 10 <= dropped <= 32


def test_injected_latency_delays_every_request(region):
    region.inject_faults("keystone", latency=0.2)
    started = time.monotonic()
    requests.get(region.keystone_url)
    assert time.monotonic() - started >= 0.2


def test_fault_settings_are_validated(region):
    with pytest.raises(Exception):
        region.inject_faults("nova", error_rate=0.8, timeout_rate=0.5)
    with pytest.raises(Exception):
        region.inject_faults("glance", error_rate=0.1)


def test_control_api_over_http(region):
    reply = requests.post(f"{region.control_url}/power_off", json={"host": "compute-002"})
    assert reply.status_code == 200 and region.service("compute-002")["powered"] is False
    assert (
        requests.post(f"{region.control_url}/power_off", json={"host": "ghost"}).status_code == 404
    )
    assert requests.post(f"{region.control_url}/power_off", json={"hots": "x"}).status_code == 400
    assert requests.post(f"{region.control_url}/format_disk", json={}).status_code == 404
    reply = requests.post(
        f"{region.control_url}/network_address", json={"host": "compute-001", "net": "tenant"}
    )
    assert reply.json()["result"][0].startswith("127.")


def test_redfish_reports_and_changes_power_state(region):
    url = region.redfish_url_template.format(host="compute-004")
    assert requests.get(url).json()["PowerState"] == "On"
    region.power_off("compute-004")
    assert requests.get(url).json()["PowerState"] == "Off"
    region.power_on("compute-004")
    assert (
        requests.post(
            f"{url}/Actions/ComputerSystem.Reset", json={"ResetType": "ForceOff"}
        ).status_code
        == 204
    )
    assert region.service("compute-004")["powered"] is False
    assert (
        requests.post(
            f"{url}/Actions/ComputerSystem.Reset", json={"ResetType": "Sideways"}
        ).status_code
        == 400
    )
    assert requests.get(region.redfish_url_template.format(host="ghost")).status_code == 404


def test_unreachable_bmc_drops_redfish_connections(region):
    region.set_api_down("redfish")
    with pytest.raises(requests.ConnectionError):
        requests.get(region.redfish_url_template.format(host="compute-000"))


def test_http_date_headers_follow_the_cloud_clock(region_factory):
    region = region_factory(hosts=1, time_scale=10000)
    start = region.now()
    region.sleep(3600)
    date = parsedate_to_datetime(requests.get(region.keystone_url).headers["Date"]).replace(
        tzinfo=None
    )
    assert (date - start).total_seconds() >= 3599
    api = client.CoreV1Api(config.new_client_from_config(config_file=region.kubeconfig))
    lease = client.CoordinationV1Api(api.api_client).read_namespaced_lease(
        "compute-000", "kube-node-lease"
    )
    renewed = lease.spec.renew_time.replace(tzinfo=None)
    assert (renewed - start).total_seconds() >= 3590  # Leases are renewed in cloud time too


def test_pagination_returns_every_server_of_a_host_with_2500_servers(region_factory):
    region = region_factory(hosts=2, time_scale=100, host_capacity=5000)
    ids = {region.boot_server("compute-000") for _ in range(2500)}
    region.boot_server("compute-001")
    nova = novaclient_for(region)
    listed = [
        s.id
        for s in nova.servers.list(search_opts={"all_tenants": 1, "host": "compute-000"}, limit=-1)
    ]
    assert len(listed) == 2500 and set(listed) == ids
    pages = [e for e in region.request_log if e[0] == "nova" and e[2].endswith("/servers/detail")]
    assert len(pages) >= 3  # Nova's 1,000-item page limit, followed by marker


def test_openstacksdk_follows_next_links_across_pages(region_factory):
    region = region_factory(hosts=2, time_scale=100)
    ids = {region.boot_server("compute-001") for _ in range(120)}
    conn = connect(region)
    listed = [
        s.id
        for s in conn.compute.servers(
            details=False, all_projects=True, compute_host="compute-001", limit=50
        )
    ]
    assert len(listed) == 120 and set(listed) == ids
