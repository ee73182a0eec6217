"""python-masakariclient's ``openstack segment …`` / ``openstack notification …`` commands.

The real ``openstack`` CLI runs as a subprocess against the served api, found through the
simulated region's Keystone catalog. Several commands share one CLI process (its interactive
mode reads them from stdin) to keep the test fast.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from shared.db import session_scope
from shared.models import VMove
from tests.api.conftest import use_region

VMOVE = "6c1f0d3e-5a3b-4f0e-9d5e-2b8f0c9a7d11"

OPENSTACK = str(Path(sys.executable).parent / "openstack")


@pytest.fixture
def cloud(db, served, sim, monkeypatch, noauth):
    monkeypatch.setenv("VIGIL_AUTH_STRATEGY", "keystone")
    use_region(monkeypatch, sim)
    return sim


def _env(region) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = region.clouds_yaml
    return env


def _documents(text: str) -> list:
    decoder, found, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i] not in "[{":
            i += 1
        if i >= len(text):
            return found
        value, i = decoder.raw_decode(text, i)
        found.append(value)


def batch(region, *commands: str) -> tuple[list, str]:
    """Run commands in one ``openstack`` process (cloud from OS_CLOUD).

    Returns the JSON documents printed (commands ending in ``-f json``) and the whole output.
    """
    env = _env(region) | {"OS_CLOUD": region.cloud_name}
    script = "".join(f"{c}\n" for c in commands)
    done = subprocess.run(
        [OPENSTACK], input=script, capture_output=True, text=True, env=env, timeout=120
    )
    outputs = _documents(done.stdout)
    assert len(outputs) == sum(c.endswith("-f json") for c in commands), done.stdout + done.stderr
    return outputs, done.stdout + done.stderr


def interactive_quote(value: str) -> str:
    """The CLI's interactive mode splits a line twice (shell-style), so quote twice."""
    return shlex.quote(shlex.quote(value))


def test_segment_and_notification_commands(cloud):
    created = subprocess.run(
        [
            OPENSTACK,
            "--os-cloud",
            cloud.cloud_name,
            "segment",
            "create",
            "seg-cli",
            "auto",
            "COMPUTE",
            "--description",
            "from the cli",
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        env=_env(cloud),
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    segment = json.loads(created.stdout)
    assert segment["name"] == "seg-cli" and segment["is_enabled"] is True
    assert segment["description"] == "from the cli"
    uuid = segment["uuid"]

    payload = json.dumps(
        {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"},
        separators=(",", ":"),
    )
    (
        (
            host,
            _spare,
            hosts,
            shown_host,
            reserved,
            updated,
            segment_shown,
            notification,
            notifications,
            segments,
        ),
        _,
    ) = batch(
        cloud,
        f"segment host create compute-000 COMPUTE SSH {uuid} -f json",
        f"segment host create compute-001 COMPUTE SSH {uuid} -f json",
        f"segment host delete {uuid} compute-001",
        f"segment host list {uuid} -f json",
        f"segment host show {uuid} compute-000 -f json",
        f"segment host update {uuid} compute-000 --reserved True -f json",
        f"segment update {uuid} --description changed --is_enabled False -f json",
        f"segment show {uuid} -f json",
        f"notification create COMPUTE_HOST compute-000 2026-05-01T10:00:00 {interactive_quote(payload)} -f json",
        "notification list -f json",
        "segment list -f json",
    )
    assert host["name"] == "compute-000" and host["failover_segment_id"] == uuid
    assert [h["name"] for h in hosts] == ["compute-000"]
    assert shown_host["uuid"] == host["uuid"]
    assert reserved["reserved"] is True
    assert updated["description"] == "changed" and updated["is_enabled"] is False
    assert segment_shown["description"] == "changed"
    assert notification["status"] == "new" and notification["source_host_uuid"] == host["uuid"]
    assert [n["notification_uuid"] for n in notifications] == [notification["notification_uuid"]]
    assert [s["name"] for s in segments] == ["seg-cli"]

    with session_scope() as session:
        session.add(
            VMove(
                uuid=VMOVE,
                notification_uuid=notification["notification_uuid"],
                instance_uuid="0d5d8c8f-3e3a-4a8f-9b0e-7a1c2d3e4f50",
                instance_name="vm-1",
                source_host="compute-000",
                type="evacuation",
                status="ongoing",
                created_at=dt.datetime(2026, 5, 1),
                deleted=0,
            )
        )
    (shown, moves, move), output = batch(
        cloud,
        f"notification show {notification['notification_uuid']} -f json",
        f"notification vmove list {notification['notification_uuid']} -f json",
        f"notification vmove show {notification['notification_uuid']} {VMOVE} -f json",
        f"segment host delete {uuid} compute-000",
        f"segment delete {uuid}",
    )
    assert shown["recovery_workflow_details"] == []
    assert shown["payload"] == json.loads(payload)
    assert [m["uuid"] for m in moves] == [VMOVE]
    assert move["server_name"] == "vm-1" and move["status"] == "ongoing"
    assert (
        f"Host {host['uuid']} can't be deleted as it is in-use to process notifications." in output
    )
    assert (
        f"Failover segment ({uuid}) can't be deleted as it is in-use to process notifications."
        in output
    )
