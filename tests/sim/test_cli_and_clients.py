"""`vigil sim` in the foreground, python-openstackclient and python-novaclient against the region."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc

from vigil.cli import main as vigil_main

BIN = Path(sys.executable).parent


@pytest.fixture
def foreground_sim(tmp_path):
    proc = subprocess.Popen(
        [
            str(BIN / "vigil"),
            "sim",
            "--hosts",
            "8",
            "--servers-per-host",
            "10",
            "--time-scale",
            "100",
            "--workdir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = {}
    for line in proc.stdout:
        key, _, value = line.partition(":")
        lines[key.strip()] = value.strip()
        if line.startswith("Ctrl-C"):
            break
    yield lines
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0


def test_vigil_sim_prints_its_files_and_openstackclient_lists_all_servers(foreground_sim, tmp_path):
    clouds_yaml = foreground_sim["clouds.yaml"].split()[0]
    assert clouds_yaml == str(tmp_path / "clouds.yaml")
    assert foreground_sim["kubeconfig"] == str(tmp_path / "kubeconfig")
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": clouds_yaml}
    out = subprocess.run(
        [
            str(BIN / "openstack"),
            "--os-cloud",
            "vigil-sim",
            "server",
            "list",
            "--all-projects",
            "-f",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    servers = json.loads(out.stdout)
    assert len(servers) == 80 and {s["Status"] for s in servers} == {"ACTIVE"}


def test_vigil_sim_operations_break_the_running_region(foreground_sim, monkeypatch, capsys):
    monkeypatch.setenv("VIGIL_SIM_URL", foreground_sim["control"].rsplit("/control", 1)[0])

    def sim(*argv):
        code = vigil_main(["sim", *argv])
        return code, capsys.readouterr()

    assert sim("power-off", "compute-002")[0] == 0
    code, out = sim("power-off", "ghost")
    assert code == 1 and "ghost" in out.err
    assert sim("inject-faults", "nova", "--error-rate", "0.25")[0] == 0
    code, out = sim("state")
    state = json.loads(out.out)
    assert state["hosts"] == 8 and state["servers"] == 80
    assert state["faults"]["nova"]["error_rate"] == 0.25


def novaclient_for(region, version="2.53"):
    sess = ks_session.Session(auth=v3.Password(**region.admin_credentials))
    return nova_client.Client(version, session=sess)


def test_novaclient_force_down_and_evacuate(region):
    sid = region.boot_server("compute-000", metadata={"HA_Enabled": "True"})
    nova = novaclient_for(region)
    with pytest.raises(nova_exc.Conflict):
        nova.servers.evacuate(sid)
    service = nova.services.list(host="compute-000", binary="nova-compute")[0]
    nova.services.force_down(service.id, True)
    nova.servers.evacuate(sid)
    region.sleep(6)
    server = nova.servers.get(sid)
    assert getattr(server, "OS-EXT-SRV-ATTR:host") != "compute-000"
    assert (
        getattr(server, "OS-EXT-STS:vm_state") == "active"
    )  # 2.53 < 2.95: the evacuated server runs


def test_novaclient_old_force_down_form_and_hypervisors(region):
    nova = novaclient_for(region, "2.11")
    nova.services.force_down("compute-001", "nova-compute", True)
    row = next(s for s in nova.services.list(binary="nova-compute") if s.host == "compute-001")
    assert row.forced_down is True and row.state == "down"
    hypervisors = nova.hypervisors.list()
    assert {h.hypervisor_hostname for h in hypervisors} == set(region.hosts)


def test_novaclient_aggregates_add_and_remove_host(region):
    nova = novaclient_for(region)
    aggregate = nova.aggregates.create("rack-1", None)
    nova.aggregates.add_host(aggregate, "compute-003")
    assert nova.aggregates.get(aggregate).hosts == ["compute-003"]
    with pytest.raises(nova_exc.Conflict):
        nova.aggregates.add_host(aggregate, "compute-003")
    nova.aggregates.remove_host(aggregate, "compute-003")
    assert nova.aggregates.get(aggregate).hosts == []
    with pytest.raises(nova_exc.NotFound):
        nova.aggregates.add_host(aggregate, "ghost")
    assert region.add_aggregate("rack-2", ["compute-004"]) in [a.id for a in nova.aggregates.list()]


def test_novaclient_flavors_and_live_migration(region_factory):
    region = region_factory(hosts=8, time_scale=100, evacuation_latency=30)
    nova = novaclient_for(region)
    assert "m1.small" in {f.name for f in nova.flavors.list()}
    sid = region.boot_server("compute-002")
    nova.servers.live_migrate(sid, "compute-005", block_migration="auto")
    assert region.server(sid)["task_state"] == "migrating"
    region.sleep(31)
    assert region.server(sid)["host"] == "compute-005" and region.server(sid)["task_state"] is None


def test_masakari_style_host_recovery_with_a_reserved_host(region_factory):
    """Power off a host, force it down and disable it, evacuate its HA servers onto the reserved host."""
    region = region_factory(hosts=["c1", "c2", "spare"], time_scale=100, evacuation_latency=10)
    region.set_reserved("spare")
    rack = region.add_aggregate("rack-a", ["c1", "c2"])
    ha = [region.boot_server("c1", metadata={"HA_Enabled": "True"}) for _ in range(3)]
    plain = region.boot_server("c1")
    region.power_off("c1")
    nova = novaclient_for(region, "2.53")
    service = nova.services.list(host="c1", binary="nova-compute")[0]
    nova.services.force_down(service.id, True)  # first, so the disable below need not wait on RPC
    nova.services.disable_log_reason(service.id, "vigil: host failure")
    nova.services.enable(nova.services.list(host="spare", binary="nova-compute")[0].id)
    nova.aggregates.add_host(rack, "spare")
    on_host = nova.servers.list(search_opts={"all_tenants": 1, "host": "c1"}, limit=-1)
    evacuated = [s.id for s in on_host if s.metadata.get("HA_Enabled") == "True"]
    assert sorted(evacuated) == sorted(ha)
    for sid in evacuated:
        nova.servers.evacuate(sid, host="spare")
    assert {getattr(nova.servers.get(sid), "OS-EXT-STS:task_state") for sid in evacuated} == {
        "rebuilding"
    }
    region.sleep(11)
    for sid in evacuated:
        server = nova.servers.get(sid)
        assert getattr(server, "OS-EXT-SRV-ATTR:host") == "spare" and server.status == "ACTIVE"
    assert region.server(plain)["host"] == "c1"
    assert "spare" in nova.aggregates.get(rack).hosts
