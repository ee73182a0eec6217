"""``vigil watch`` and ``vigil dashboard`` as an operator runs them: clouds.yaml auth, the
endpoint from the catalog, live progress until the notification ends, and one clear line with
a non-zero exit for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml
from cloudevents.conversion import to_binary

from shared.clients import reset_clients
from shared.events import recovery_trigger_type
from shared.settings import get_settings
from tests.servers import serve_function
from vigil.cli import main
from vigil.localdb import free_port

VIGIL = [sys.executable, "-m", "vigil.cli"]


def vigil(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """The real ``vigil`` entry point in its own process."""
    return subprocess.run(
        [*VIGIL, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def in_process(monkeypatch, capsys):
    """``vigil.cli.main`` in this process (openstacksdk imported once, so many bad inputs stay
    cheap); same arguments, environment, output and exit status as the command."""

    def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def one_line(done: subprocess.CompletedProcess, command: str) -> str:
    """The command failed with exactly one line on stderr, naming itself, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"vigil {command}: "), lines[0]
    return lines[0]


@pytest.fixture
def cloud(db, region_factory, monkeypatch, tmp_path):
    """A served api (noauth) listed in a simulated region's catalog; env for the commands."""
    api = serve_function("api")
    monkeypatch.setenv("VIGIL_AUTH_STRATEGY", "noauth")
    get_settings.cache_clear()
    reset_clients()
    region = region_factory(hosts=1, time_scale=100, instance_ha_url=f"{api.url}/v1")
    env = {"OS_CLIENT_CONFIG_FILE": region.clouds_yaml, "OS_CLOUD": region.cloud_name}
    yield region, api, env
    api.stop()
    get_settings.cache_clear()
    reset_clients()


class Running:
    """A ``vigil`` command in the background; its output read line by line as it comes."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [*VIGIL, *args],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not any(text in line for line in self.lines):
            assert self.process.poll() is None or self.reader.is_alive(), (
                self.lines,
                self.process.stderr.read(),
            )
            assert time.monotonic() < deadline, f"never printed {text!r}: {self.lines}"
            time.sleep(0.05)

    def finish(self, seconds: float = 120) -> tuple[int, str]:
        code = self.process.wait(seconds)
        self.reader.join(10)
        return code, "".join(self.lines)


def test_watch_follows_a_host_recovery_to_finished_and_exits_0(host_failure):
    rig, broker = host_failure.rig, host_failure.broker
    rig.run_ticks(2)
    broker.target = None  # hold the recovery trigger until both watchers are looking
    rig.region.power_off("compute-001")
    ticker = host_failure.ticking()
    try:
        rig_deadline = time.monotonic() + 60
        while not rig.notifications():
            assert time.monotonic() < rig_deadline, "the monitor never reported the host"
            time.sleep(0.1)
        (row,) = rig.notifications()
        env = {"OS_CLIENT_CONFIG_FILE": rig.region.clouds_yaml, "OS_CLOUD": rig.region.cloud_name}
        one = Running("watch", row.notification_uuid, "--interval", "0.2", env=env)
        segment = Running("watch", "--segment", "rack-1", "--interval", "0.2", env=env)
        one.wait_for(f"notification {row.notification_uuid[:8]} (COMPUTE_HOST): new")
        segment.wait_for(f"notification {row.notification_uuid[:8]} (COMPUTE_HOST): new")
        (trigger,) = [e for e in broker.received if e["type"] == recovery_trigger_type()]
        headers, body = to_binary(trigger)  # delivered as the broker would have
        assert requests.post(host_failure.recover.url, headers=headers, data=body, timeout=120).ok
        code, out = one.finish()
        segment_code, segment_out = segment.finish()
    finally:
        ticker.stop()
    assert code == 0, out
    assert f"notification {row.notification_uuid}: finished" in out
    assert f"{row.notification_uuid[:8]} (COMPUTE_HOST): running" in out
    assert "EvacuateInstancesTask" in out and "Evacuation process completed" in out
    assert segment_code == 0, segment_out
    assert f"notification {row.notification_uuid}: finished" in segment_out


def test_watch_of_a_notification_that_does_not_exist_is_one_line_and_exit_2(cloud, in_process):
    region, api, env = cloud
    missing = "0b9a1c3e-3e55-4a55-9f4e-2c1ad0b7d1aa"
    line = one_line(vigil("watch", missing, env=env), "watch")
    assert line == f"vigil watch: no notification {missing} at {api.url}"
    line = one_line(in_process("watch", "--segment", "no-such-segment", env=env), "watch")
    assert "no segment 'no-such-segment'" in line


def test_watch_of_a_quiet_segment_exits_0(cloud, in_process):
    region, api, env = cloud
    r = requests.post(
        f"{api.url}/v1/segments",
        json={"segment": {"name": "quiet", "service_type": "COMPUTE", "recovery_method": "auto"}},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    done = in_process("watch", "--segment", "quiet", env=env)
    assert done.returncode == 0, done.stderr
    assert "no new, running or error notification in segment quiet" in done.stdout


@pytest.mark.parametrize("command", ["watch", "dashboard"])
def test_wrong_endpoint_is_one_line_and_exit_2(cloud, command, in_process):
    region, api, env = cloud
    args = [command, "0b9a1c3e-3e55-4a55-9f4e-2c1ad0b7d1aa"] if command == "watch" else [command]
    nothing = f"http://127.0.0.1:{free_port()}"
    line = one_line(vigil(*args, "--endpoint", nothing, env=env), command)
    assert f"no answer from {nothing}" in line
    # Something answers there, but it is Keystone, not an instance-ha API.
    line = one_line(in_process(*args, "--endpoint", region.keystone_url, env=env), command)
    assert f"{region.keystone_url} is not an instance-ha API" in line
    line = one_line(in_process(*args, "--endpoint", "ftp://example", env=env), command)
    assert "is not an http(s) URL" in line


@pytest.mark.parametrize("command", ["watch", "dashboard"])
def test_bad_clouds_yaml_is_one_line_and_exit_2(cloud, command, tmp_path, in_process):
    region, api, env = cloud
    args = [command, "0b9a1c3e-3e55-4a55-9f4e-2c1ad0b7d1aa"] if command == "watch" else [command]
    broken = tmp_path / "broken.yaml"
    broken.write_text("clouds: [unclosed\n")
    line = one_line(in_process(*args, env={**env, "OS_CLIENT_CONFIG_FILE": str(broken)}), command)
    assert "clouds.yaml" in line and "not usable" in line
    missing = str(tmp_path / "absent.yaml")
    line = one_line(in_process(*args, env={**env, "OS_CLIENT_CONFIG_FILE": missing}), command)
    assert line.endswith(f"clouds.yaml not found: OS_CLIENT_CONFIG_FILE names {missing}")
    line = one_line(in_process(*args, "--os-cloud", "nowhere", env=env), command)
    assert "nowhere" in line
    wrong = yaml.safe_load(Path(region.clouds_yaml).read_text())
    wrong["clouds"][region.cloud_name]["auth"]["password"] = "not-the-password"
    bad_password = tmp_path / "clouds.yaml"
    bad_password.write_text(yaml.safe_dump(wrong))
    line = one_line(
        in_process(*args, env={**env, "OS_CLIENT_CONFIG_FILE": str(bad_password)}), command
    )
    assert f"cloud {region.cloud_name!r} cannot authenticate" in line


def test_dashboard_serves_the_page_and_proxies_reads_with_the_token(cloud):
    region, api, env = cloud
    process = subprocess.Popen(
        [*VIGIL, "dashboard", "--port", "0"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        assert first.startswith(f"Vigil dashboard for {api.url} (cloud {region.cloud_name}) at "), (
            first + process.stderr.read() if process.poll() is not None else first
        )
        url = first.rsplit(" at ", 1)[1].strip()
        page = requests.get(url, timeout=30)
        assert page.status_code == 200 and "dashboard.js" in page.text
        assert requests.get(url + "static/dashboard.js", timeout=30).status_code == 200
        summary = requests.get(
            url + "v1/summary", headers={"OpenStack-API-Version": "instance-ha 1.4"}, timeout=30
        )
        assert summary.status_code == 200 and summary.json()["summary"]["segments"] == []
        # Read-only, and only for pages on this machine.
        assert requests.post(url + "v1/segments", json={}, timeout=30).status_code == 405
        foreign = requests.get(url, headers={"Host": "attacker.example"}, timeout=30)
        assert foreign.status_code == 403
    finally:
        process.terminate()
        process.wait(30)
    assert process.returncode == 0
