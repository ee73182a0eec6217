"""Per-network TCP listeners and their Consul view."""

from __future__ import annotations

import socket

import pytest
import requests


def answers(address) -> bool:
    try:
        with socket.create_connection(address, timeout=1) as sock:
            return b"200 OK" in sock.recv(256)
    except OSError:
        return False


def test_cut_storage_network_stops_only_that_listener(region):
    addresses = {
        net: region.network_address("compute-001", net)
        for net in ("management", "tenant", "storage")
    }
    assert all(answers(a) for a in addresses.values())
    region.cut_network("compute-001", "storage")
    assert not answers(addresses["storage"])
    assert answers(addresses["management"]) and answers(addresses["tenant"])
    assert answers(region.network_address("compute-002", "storage"))
    region.restore_network("compute-001", "storage")
    assert answers(addresses["storage"])


def test_power_off_silences_every_network_of_the_host(region):
    addresses = [
        region.network_address("compute-003", net) for net in ("management", "tenant", "storage")
    ]
    region.power_off("compute-003")
    assert not any(answers(a) for a in addresses)
    region.power_on("compute-003")
    assert all(answers(a) for a in addresses)


def test_each_network_has_its_own_address(region):
    ips = {
        region.network_address("compute-000", net)[0] for net in ("management", "tenant", "storage")
    }
    assert len(ips) == 3


def test_unknown_network_is_refused(region):
    with pytest.raises(Exception):
        region.cut_network("compute-000", "backplane")


def test_consul_members_mark_a_cut_network_failed(region):
    region.cut_network("compute-004", "tenant")
    members = {
        m["Name"]: m["Status"]
        for m in requests.get(f"{region.consul_url('tenant')}/v1/agent/members").json()
    }
    assert members["compute-004"] == 4 and members["compute-005"] == 1
    storage = {
        m["Name"]: m["Status"]
        for m in requests.get(f"{region.consul_url('storage')}/v1/agent/members").json()
    }
    assert storage["compute-004"] == 1
