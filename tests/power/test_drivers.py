"""Power drivers against the simulated region's BMCs: Redfish (sushy) and IPMI (pyghmi)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from shared.power import Fence, FencingNotChosen, PowerError, power_fence, require_fencing_choice
from shared.settings import Settings


def secret(folder: Path, username: str, password: str) -> str:
    """A folder laid out as a mounted Kubernetes Secret with keys username and password."""
    folder.mkdir(parents=True)
    (folder / "username").write_text(username)
    (folder / "password").write_text(password + "\n")
    return str(folder)


def fence_for(tmp_path: Path, bmc_map: dict, **fencing) -> Fence:
    path = tmp_path / "bmc-map.yaml"
    path.write_text(yaml.safe_dump(bmc_map))
    fencing.setdefault("driver", "redfish")
    fence = power_fence(Settings(fencing={"bmc_map_file": str(path), "timeout": 2, **fencing}))
    assert fence is not None
    return fence


def test_redfish_reads_on_and_off_and_forces_a_host_off_with_its_own_secret(region, tmp_path):
    region.set_bmc_credentials("compute-001", "ops-1", "pw-one")
    fence = fence_for(
        tmp_path,
        {
            "hosts": {
                "compute-001": {
                    "address": region.url,
                    "system": "/redfish/v1/Systems/compute-001",
                    "credentials": secret(tmp_path / "compute-001", "ops-1", "pw-one"),
                }
            }
        },
    )
    assert fence.power_state("compute-001") == "on" and not fence.is_off("compute-001")
    fence.force_off("compute-001")
    assert region.power_state("compute-001") == "off"
    assert fence.is_off("compute-001")
    region.power_on("compute-001")
    assert fence.power_state("compute-001") == "on"


def test_redfish_with_another_hosts_secret_is_refused(region, tmp_path):
    region.set_bmc_credentials("compute-002", "ops-2", "pw-two")
    fence = fence_for(
        tmp_path,
        {
            "hosts": {
                "compute-002": {
                    "address": region.url,
                    "system": "/redfish/v1/Systems/compute-002",
                    "credentials": secret(tmp_path / "wrong", "ops-1", "pw-one"),
                    "auth": "basic",
                }
            }
        },
    )
    with pytest.raises(PowerError, match="redfish"):
        fence.power_state("compute-002")
    assert region.power_state("compute-002") == "on"


def test_ipmi_reads_on_and_off_and_forces_a_host_off(region, tmp_path):
    addresses = region.start_ipmi(logins={"compute-003": ["ipmi-3", "pw-three"]})
    fence = fence_for(
        tmp_path,
        {
            "hosts": {
                "compute-003": {
                    "driver": "ipmi",
                    "address": addresses["compute-003"],
                    "credentials": secret(tmp_path / "compute-003", "ipmi-3", "pw-three"),
                }
            }
        },
        driver="ipmi",
    )
    assert fence.power_state("compute-003") == "on"
    region.power_off("compute-003")
    assert fence.is_off("compute-003")
    region.power_on("compute-003")
    assert fence.power_state("compute-003") == "on"
    fence.force_off("compute-003")
    assert region.power_state("compute-003") == "off"


def test_ipmi_with_a_wrong_password_or_an_unreachable_bmc_gives_no_answer(region, tmp_path):
    addresses = region.start_ipmi()
    fence = fence_for(
        tmp_path,
        {
            "defaults": {"driver": "ipmi"},
            "groups": [
                {
                    "name": "wrong",
                    "hosts": ["compute-004"],
                    "address": addresses["compute-004"],
                    "credentials": secret(tmp_path / "bad", "admin", "not-it"),
                },
                {
                    "name": "right",
                    "hosts": ["compute-005"],
                    "address": addresses["compute-005"],
                    "credentials": secret(tmp_path / "good", "admin", "vigil-sim-bmc"),
                },
            ],
        },
    )
    with pytest.raises(PowerError, match="ipmi"):
        fence.power_state("compute-004")
    assert fence.power_state("compute-005") == "on"
    region.set_api_down("ipmi")
    with pytest.raises(PowerError):
        fence.power_state("compute-005")


def test_ipmi_gives_up_on_a_silent_bmc_at_the_fencing_timeout_not_at_pyghmis(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # takes packets, never answers
        silent.bind(("127.0.0.1", 0))
        fence = fence_for(
            tmp_path,
            {
                "defaults": {"driver": "ipmi"},
                "hosts": {
                    "compute-006": {
                        "address": f"127.0.0.1:{silent.getsockname()[1]}",
                        "credentials": secret(tmp_path / "good", "admin", "vigil-sim-bmc"),
                    }
                },
            },
            timeout=1,
        )
        with pytest.raises(PowerError, match="no answer within 1 s"):
            fence.power_state("compute-006")


def test_a_group_secret_and_address_template_serve_every_matching_host(region, tmp_path):
    for name in ("compute-006", "compute-007"):
        region.set_bmc_credentials(name, "rack-b", "rack-b-pw")
    fence = fence_for(
        tmp_path,
        {
            "groups": [
                {
                    "name": "rack-b",
                    "hosts": ["compute-00[67]"],
                    "address": region.url,
                    "system": "/redfish/v1/Systems/{host}",
                    "credentials": secret(tmp_path / "rack-b", "rack-b", "rack-b-pw"),
                }
            ]
        },
    )
    region.power_off("compute-007")
    assert fence.power_state("compute-006") == "on"
    assert fence.power_state("compute-007") == "off"
    with pytest.raises(PowerError, match="no entry in the BMC map"):
        fence.power_state("compute-000")


def test_the_url_template_still_works_for_hosts_outside_the_map(region):
    fence = power_fence(
        Settings(fencing={"driver": "redfish", "redfish_url_template": region.redfish_url_template})
    )
    region.power_off("compute-000")
    assert fence.is_off("compute-000") and not fence.is_off("compute-001")
    fence.force_off("compute-001")
    assert region.power_state("compute-001") == "off"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("hosts: [1, 2", "not valid YAML"),
        ("hosts:\n  compute-000: {adress: x}", "hosts.compute-000.adress"),
        ("groups:\n  - {name: a, hosts: []}", "groups.0.hosts"),
    ],
)
def test_a_broken_bmc_map_is_one_clear_error_at_start(tmp_path, content, message):
    path = tmp_path / "map.yaml"
    path.write_text(content)
    settings = Settings(fencing={"driver": "ipmi", "bmc_map_file": str(path)})
    with pytest.raises(FencingNotChosen, match=message) as raised:
        require_fencing_choice(settings)
    assert "\n" not in str(raised.value)


def test_without_a_fencing_choice_the_monitor_is_refused():
    with pytest.raises(FencingNotChosen, match="no fencing choice"):
        require_fencing_choice(Settings())
    assert require_fencing_choice(Settings(fencing={"driver": "taint"})) == "taint"
    assert require_fencing_choice(Settings(host={"disable_ipmi_check": True})).startswith(
        "disable_ipmi_check"
    )
