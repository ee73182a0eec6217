"""The shipped manifests make the fencing choice explicit: no choice, no monitor."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from shared.power.bmcmap import MapFile
from tests.deploy.manifest_checks import broken
from vigil.localdb import free_port
from vigil.wiring import MANIFESTS, ROOT, function_specs, image_command, load_manifests


def monitor_env(manifests) -> dict[str, str]:
    """What the monitor's container gets from the manifests (ConfigMap, then its own env)."""
    spec = next(s for s in function_specs(manifests) if s.service == "monitor")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(manifests.config_env())
    env.update(spec.env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def start_monitor(env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        image_command(),
        cwd=ROOT,
        env={**env, "PORT": str(port), "HOST": "127.0.0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return process, port


def listening(process: subprocess.Popen, port: int) -> bool:
    """True once the monitor accepts connections; False if it exited first."""
    while process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def test_the_shipped_manifests_start_no_monitor_until_fencing_is_chosen():
    manifests = load_manifests(MANIFESTS)
    process, _ = start_monitor(monitor_env(manifests))
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("monitor refuses to start: no fencing choice: set ")
    assert "VIGIL_FENCING__DRIVER" in lines[-1] and "Traceback" not in stderr


def test_a_fencing_choice_in_the_config_map_lets_the_monitor_start():
    def choose_taint(doc):
        doc["data"]["VIGIL_FENCING__DRIVER"] = "taint"

    manifests = broken(load_manifests(MANIFESTS), "ConfigMap", "vigil-config", choose_taint)
    process, port = start_monitor(monitor_env(manifests))
    try:
        assert listening(process, port), process.communicate(timeout=10)[1][-2000:]
    finally:
        os.killpg(process.pid, 15)
        process.communicate(timeout=30)


def test_the_shipped_bmc_map_is_valid_and_its_secret_folders_are_projected():
    manifests = load_manifests(MANIFESTS)
    bmc_map = yaml.safe_load(manifests.get("ConfigMap", "vigil-bmc-map")["data"]["bmc-map.yaml"])
    parsed = MapFile.model_validate(bmc_map)
    folders = {g.credentials for g in parsed.groups} | {
        h.credentials for h in parsed.hosts.values()
    }
    for name in ("monitor", "recover"):
        service = next(s for s in manifests.services() if s["metadata"]["name"] == name)
        pod = service["spec"]["template"]["spec"]
        mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "fencing")[
            "mountPath"
        ]
        volume = next(v for v in pod["volumes"] if v["name"] == "fencing")
        paths = {
            f"{mount}/{item['path'].rsplit('/', 1)[0]}"
            for source in volume["projected"]["sources"]
            for item in (source.get("secret") or {}).get("items", [])
        }
        assert folders <= paths, (name, folders - paths)
