"""Per-network probes with the HA-strategy matrix, on the simulated region's listeners (§3.4)."""

from __future__ import annotations

import pytest
import yaml

from shared.health.probes import ProbeConfigError, load_targets

SIM_NETWORK = {"manage": "management", "tenant": "tenant", "storage": "storage"}


def consul_env(region) -> dict[str, str]:
    """One consul agent per network, as Masakari's consul driver is configured."""
    return {
        f"VIGIL_CONSUL__AGENT_{net.upper()}": region.consul_url(sim_net)
        for net, sim_net in SIM_NETWORK.items()
    }


def probe_env(region, tmp_path, matrix: str | None = None) -> dict[str, str]:
    """TCP connects to each host's listener on each network."""
    targets = {}
    for host in region.hosts:
        targets[host] = {}
        for net, sim_net in SIM_NETWORK.items():
            address, port = region.network_address(host, sim_net)
            targets[host][net] = f"{address}:{port}"
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump(targets))
    env = {"VIGIL_CONSUL__PROBE_TARGETS_FILE": str(path), "VIGIL_CONSUL__PROBE_TIMEOUT": "0.3"}
    if matrix is not None:
        matrix_path = tmp_path / "matrix.yaml"
        matrix_path.write_text(matrix)
        env["VIGIL_CONSUL__MATRIX_CONFIG_FILE"] = str(matrix_path)
    return env


@pytest.fixture(params=["tcp", "consul"])
def probes(request, tmp_path):
    """Either probe source, as an ``env_factory`` for the rig."""
    if request.param == "consul":
        return consul_env
    return lambda region: probe_env(region, tmp_path)


def test_management_network_cut_alone_is_not_reported_with_the_default_matrix(monitor_rig, probes):
    rig = monitor_rig(env_factory=probes)
    rig.run_ticks(2)
    rig.region.cut_network("compute-002", "management")
    rig.run_ticks(4)
    last = rig.samples("compute-002")[-1]
    assert last.networks == {"manage": "down", "tenant": "up", "storage": "up"}
    assert last.verdict == "none"
    assert rig.notifications() == []


def test_storage_network_cut_is_reported_for_recovery(monitor_rig, probes):
    rig = monitor_rig(env_factory=probes)
    rig.run_ticks(2)
    rig.region.cut_network("compute-004", "storage")
    rig.ticks_until(lambda: rig.notifications())
    (row,) = rig.notifications()
    # Still powered on and not tainted: nothing proves it off, so recovery is asked with UNKNOWN.
    assert row.payload == {
        "event": "STOPPED",
        "cluster_status": "OFFLINE",
        "host_status": "UNKNOWN",
    }
    assert rig.samples("compute-004")[-1].networks["storage"] == "down"


def test_invalid_matrix_gives_no_probe_verdicts_and_the_monitor_keeps_answering(
    monitor_rig, tmp_path, caplog
):
    bad = "sequence: [manage, storage]\nmatrix:\n  - health: [down]\n    action: [recovery]\n"
    rig = monitor_rig(env_factory=lambda region: probe_env(region, tmp_path, matrix=bad))
    rig.run_ticks(1)
    rig.region.cut_network("compute-004", "storage")
    rig.run_ticks(3)
    assert {s.verdict for s in rig.all_samples()} == {"none"}
    assert rig.notifications() == []
    assert "matrix[0].health must list 2 values" in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("compute-000: {mgmt: '10.0.0.1:22'}\n", "compute-000.mgmt is not one of"),
        ("compute-000: {manage: '10.0.0.1'}\n", "must be address:port"),
        ("compute-000: [manage]\n", "must map networks to address:port"),
        ("[1, 2]\n", "expected a mapping"),
    ],
)
def test_malformed_probe_targets_file_is_rejected_with_a_clear_message(tmp_path, content, message):
    path = tmp_path / "targets.yaml"
    path.write_text(content)
    with pytest.raises(ProbeConfigError, match=message):
        load_targets(str(path))
