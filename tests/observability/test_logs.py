"""One log format: the functions run as their own processes and their real stderr is read."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from shared.db import utcnow
from tests.recover.conftest import FAST
from tests.recover.scenario import make_segment, wait_settled

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "functions-framework"
TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"(api|monitor|recover|purge) \S+( \[[^\]]+\])? .+"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Function:
    """``functions-framework --target <name>`` in its own process, stderr kept in a file."""

    def __init__(self, name: str, env: dict[str, str], folder: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(CLI), "--target", name, "--source", str(ROOT / "functions" / name / "main.py")]
            + ["--port", str(self.port), "--host", "127.0.0.1"],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(f"{self.url}/healthcheck", timeout=2)
                return
            except requests.ConnectionError as exc:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{name} did not start:\n{self.log_path.read_text()}"
                    ) from exc
                time.sleep(0.1)

    def lines(self) -> list[str]:
        return [line for line in self.log_path.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self._log.close()


@pytest.fixture
def start(database_url, tmp_path):
    started: list[Function] = []

    def run(name: str, **env: str) -> Function:
        environment = {
            **os.environ,
            "VIGIL_DATABASE_URL": database_url,
            "VIGIL_AUTH_STRATEGY": "noauth",
            **env,
        }
        function = Function(name, environment, tmp_path)
        started.append(function)
        return function

    yield run
    for function in started:
        function.stop()


def test_text_lines_have_a_timestamp_and_one_access_line_per_request_with_its_request_id(db, start):
    api = start("api", VIGIL_LOGGING__FORMAT="text")
    reply = requests.get(f"{api.url}/v1/segments?limit=5", timeout=30)
    request_id = reply.headers["x-openstack-request-id"]
    access = [line for line in api.lines() if request_id in line]
    assert len(access) == 1, api.lines()
    line = access[0]
    assert TEXT_LINE.match(line), line
    assert " api vigil.access " in line
    assert f"[request_id={request_id}]" in line
    assert '"GET /v1/segments?limit=5" 200' in line


def test_json_lines_let_one_grep_follow_a_recovery_from_api_to_recover(db, start, region_factory):
    region = region_factory(hosts=4, time_scale=200)
    settings = {
        **FAST,
        "VIGIL_CLOUDS_YAML": region.clouds_yaml,
        "VIGIL_CLOUD": region.cloud_name,
        "VIGIL_LOGGING__FORMAT": "json",
    }
    recover = start("recover", **settings)
    api = start("api", K_SINK=recover.url + "/", **settings)
    make_segment("auto", [f"compute-00{i}" for i in range(4)])
    for i in range(3):
        region.boot_server("compute-000", name=f"vm-{i}", metadata={"HA_Enabled": "True"})
    region.power_off("compute-000")
    reply = requests.post(
        f"{api.url}/v1/notifications",
        json={
            "notification": {
                "type": "COMPUTE_HOST",
                "hostname": "compute-000",
                "generated_time": utcnow().isoformat(),
                "payload": {
                    "event": "STOPPED",
                    "host_status": "NORMAL",
                    "cluster_status": "OFFLINE",
                },
            }
        },
        timeout=30,
    )
    assert reply.status_code == 202, reply.text
    uuid = reply.json()["notification"]["notification_uuid"]
    assert wait_settled(uuid).status == "finished"

    entries = {}
    for function in (api, recover):
        entries[function] = [json.loads(line) for line in function.lines()]  # every line is JSON
        for entry in entries[function]:
            assert {"time", "level", "function", "logger", "message"} <= set(entry), entry
    followed = [e for e in entries[api] + entries[recover] if uuid in json.dumps(e)]
    assert {e["function"] for e in followed} == {"api", "recover"}
    created = [e for e in entries[api] if e.get("route") == "notifications:create"]
    assert created[0]["notification"] == uuid and created[0]["status"] == 202
    assert created[0]["request_id"] == reply.headers["x-openstack-request-id"]
    steps = [e for e in entries[recover] if e.get("step")]
    assert {e["step"] for e in steps} >= {"DisableComputeServiceTask", "EvacuateInstancesTask"}
    for entry in steps:
        assert entry["notification"] == uuid and entry["host"] == "compute-000", entry
