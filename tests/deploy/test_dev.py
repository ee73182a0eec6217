"""`vigil dev` runs the four functions wired as infra/knative/ wires them, or says clearly why not."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from vigil.cli import main
from vigil.dev import DevOptions, LocalVigil, fast_ticks, shipped_postgres_major
from vigil.localdb import free_port
from vigil.wiring import load_manifests
from vigilsim import Region

TRIGGER_TYPE = "org.openstack.vigil.internal.recovery.requested"


@pytest.fixture(scope="module")
def api_port():
    return free_port()


@pytest.fixture(scope="module")
def cloud(api_port):
    """A region standing in for a real cloud: `vigil dev` only gets its clouds.yaml and kubeconfig,
    and the catalog lists Vigil as instance-ha. (`vigil demo`'s test covers the default, where
    `vigil dev` starts the region itself.)"""
    with Region.start(
        hosts=2, time_scale=50, instance_ha_url=f"http://127.0.0.1:{api_port}/v1"
    ) as region:
        yield region


def redfish(region) -> dict[str, str]:
    """A real cloud's monitor needs a fencing choice: the region's BMCs through Redfish."""
    return {
        "VIGIL_FENCING__DRIVER": "redfish",
        "VIGIL_FENCING__REDFISH_URL_TEMPLATE": region.redfish_url_template,
    }


@pytest.fixture(scope="module")
def local_vigil(cloud, api_port, tmp_path_factory):
    saved = os.environ.pop("VIGIL_DATABASE_URL", None)  # its own embedded database
    overrides, env = fast_ticks("2s", load_manifests())
    options = DevOptions(
        clouds_yaml=cloud.clouds_yaml,
        kubeconfig=cloud.kubeconfig,
        tick_overrides=overrides,
        env={**env, **redfish(cloud)},
        api_port=api_port,
        log_dir=tmp_path_factory.mktemp("dev-logs"),
    )
    try:
        with LocalVigil(options) as local:
            yield local
    finally:
        if saved is not None:
            os.environ["VIGIL_DATABASE_URL"] = saved


def test_vigil_dev_serves_healthcheck_and_routes_a_notification_to_recover(local_vigil, cloud):
    api = local_vigil.api_url
    reply = requests.get(f"{api}/healthcheck", timeout=10)
    assert (reply.status_code, reply.text.strip()) == (200, "OK")

    headers = {"X-Auth-Token": cloud.issue_token(admin=True)}
    segment = requests.post(
        f"{api}/v1/segments",
        headers=headers,
        timeout=10,
        json={"segment": {"name": "seg-dev", "service_type": "COMPUTE", "recovery_method": "auto"}},
    )
    assert segment.status_code == 201, segment.text
    segment_uuid = segment.json()["segment"]["uuid"]
    host = requests.post(
        f"{api}/v1/segments/{segment_uuid}/hosts",
        headers=headers,
        timeout=10,
        json={"host": {"name": "compute-000", "type": "COMPUTE", "control_attributes": "SSH"}},
    )
    assert host.status_code == 201, host.text
    notification = requests.post(
        f"{api}/v1/notifications",
        headers=headers,
        timeout=10,
        json={
            "notification": {
                "type": "VM",
                "hostname": "compute-000",
                "generated_time": "2026-01-01T00:00:00",
                "payload": {
                    "event": "LIFECYCLE",
                    "instance_uuid": str(uuid.uuid4()),
                    "vir_domain_event": "STOPPED_FAILED",
                },
            }
        },
    )
    assert notification.status_code == 202, notification.text
    notification_uuid = notification.json()["notification"]["notification_uuid"]

    router = local_vigil.router
    assert router.wait_for(
        lambda records: any(
            r.subject == notification_uuid and r.outcome == "delivered" for r in records
        ),
        60,
    )
    [record] = [r for r in router.records if r.subject == notification_uuid]
    assert (record.trigger, record.event_type) == ("recover", TRIGGER_TYPE)


def test_openstack_cli_manages_segments_through_vigil_dev(local_vigil, cloud):
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=cloud.clouds_yaml, OS_CLOUD=cloud.cloud_name)
    openstack = [str(Path(sys.executable).parent / "openstack")]

    def run(*args):
        done = subprocess.run(
            [*openstack, *args, "-f", "json"], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    created = run("segment", "create", "cli-segment", "auto", "COMPUTE")
    assert created["name"] == "cli-segment"
    assert "cli-segment" in [s["name"] for s in run("segment", "list")]


def test_vigil_dev_ping_ticks_are_acknowledged_by_monitor_and_purge(local_vigil):
    ticks = {t.name: t for t in local_vigil.scheduler.ticks}
    assert ticks["monitor-tick"].sink == local_vigil.functions["monitor"].url
    for name in ("monitor-tick", "purge-tick"):
        status = local_vigil.scheduler.fire(ticks[name])
        assert status is not None and 200 <= status < 300, (name, status)


def _run_dev(capsys, *args):
    status = main(["dev", *args])
    err = capsys.readouterr().err.strip()
    return status, err


def test_missing_clouds_yaml_is_one_clear_error(capsys, tmp_path):
    status, err = _run_dev(
        capsys, "--clouds-yaml", str(tmp_path / "nope.yaml"), "--kubeconfig", str(tmp_path / "kc")
    )
    assert status == 2
    assert err == f"vigil dev: clouds.yaml not found: {tmp_path / 'nope.yaml'}"


def test_clouds_yaml_without_the_cloud_is_one_clear_error(capsys, tmp_path):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  other:\n    auth: {auth_url: http://127.0.0.1:9/v3}\n")
    status, err = _run_dev(
        capsys, "--clouds-yaml", str(clouds), "--kubeconfig", str(tmp_path / "kc")
    )
    assert status == 2
    assert "has no cloud named 'vigil' (it has: other)" in err and len(err.splitlines()) == 1


def test_a_kubeconfig_without_a_clouds_yaml_is_refused(capsys, tmp_path):
    status, err = _run_dev(capsys, "--kubeconfig", str(tmp_path / "kc"))
    assert (status, err) == (
        2,
        "vigil dev: --kubeconfig needs --clouds-yaml (the real cloud's Nova)",
    )


def test_a_real_cloud_without_a_fencing_choice_is_one_clear_error(capsys, cloud, monkeypatch):
    for name in ("VIGIL_FENCING__DRIVER", "VIGIL_HOST__DISABLE_IPMI_CHECK"):
        monkeypatch.delenv(name, raising=False)
    status, err = _run_dev(capsys, "--clouds-yaml", cloud.clouds_yaml, "--api-port", "0")
    assert status == 2 and len(err.splitlines()) == 1
    assert err.startswith("vigil dev: the monitor would refuse to start: no fencing choice: set ")


def test_the_taint_choice_without_kubernetes_is_one_clear_error(capsys, cloud, monkeypatch):
    monkeypatch.setenv("VIGIL_FENCING__DRIVER", "taint")
    status, err = _run_dev(capsys, "--clouds-yaml", cloud.clouds_yaml, "--api-port", "0")
    assert status == 2 and len(err.splitlines()) == 1
    assert err.startswith("vigil dev: VIGIL_FENCING__DRIVER=taint reads the Nodes'")


def test_vigil_dev_runs_against_a_clouds_yaml_alone_with_bmc_fencing(cloud, tmp_path, monkeypatch):
    monkeypatch.delenv("VIGIL_DATABASE_URL", raising=False)
    options = DevOptions(clouds_yaml=cloud.clouds_yaml, env=redfish(cloud), api_port=0)
    with LocalVigil(options) as local:
        assert local.region is None and local.kubeconfig is None
        assert requests.get(f"{local.api_url}/healthcheck", timeout=10).status_code == 200
        monitor = local.functions["monitor"]
        assert monitor.process.poll() is None
        env = local.function_env(monitor.spec, 0)
        assert env["VIGIL_KUBERNETES__KUBECONFIG"] == ""
        assert env["VIGIL_FENCING__DRIVER"] == "redfish"
        assert "Kubernetes: none (hosts watched through Nova and their BMCs)" in local.describe()


def test_unusable_kubeconfig_is_one_clear_error(capsys, region):
    kubeconfig = os.path.join(region.workdir, "broken-kubeconfig")
    with open(kubeconfig, "w") as fh:
        fh.write("this: is not a kubeconfig\n")
    status, err = _run_dev(capsys, "--clouds-yaml", region.clouds_yaml, "--kubeconfig", kubeconfig)
    assert status == 2
    assert (
        err.startswith(f"vigil dev: kubeconfig {kubeconfig} is not usable")
        and len(err.splitlines()) == 1
    )


def test_port_in_use_is_one_clear_error(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status, err = _run_dev(capsys, "--api-port", str(port))
    assert status == 2
    assert (
        err
        == f"vigil dev: port {port} is already in use (another `vigil dev`?); choose another with --api-port"
    )


def test_embedded_database_still_held_by_a_running_server_is_one_clear_error(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.delenv("VIGIL_DATABASE_URL", raising=False)
    data = tmp_path / "pgdata"
    data.mkdir()
    (data / "PG_VERSION").write_text(f"{shipped_postgres_major()}\n")
    (data / "postmaster.pid").write_text(f"{os.getpid()}\n")
    status, err = _run_dev(capsys, "--api-port", "0", "--data-dir", str(data))
    assert status == 2
    assert err.startswith(
        f"vigil dev: embedded PostgreSQL in {data}: a PostgreSQL (pid {os.getpid()}) is already running"
    )


def test_vigil_dev_against_a_given_cloud_uses_its_clouds_yaml_and_kubeconfig(local_vigil, cloud):
    assert local_vigil.region is None
    env = local_vigil.function_env(local_vigil.functions["monitor"].spec, 0)
    assert (env["VIGIL_CLOUDS_YAML"], env["VIGIL_KUBERNETES__KUBECONFIG"], env["VIGIL_CLOUD"]) == (
        cloud.clouds_yaml,
        cloud.kubeconfig,
        "vigil",
    )
    assert env["K_SINK"] == local_vigil.router.broker_urls["vigil"]
    assert "K_SINK" not in local_vigil.function_env(local_vigil.functions["purge"].spec, 0)


def test_embedded_database_from_another_postgresql_version_is_one_clear_error(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.delenv("VIGIL_DATABASE_URL", raising=False)
    data = tmp_path / "pgdata"
    data.mkdir()
    (data / "PG_VERSION").write_text("9.6\n")
    status, err = _run_dev(capsys, "--api-port", "0", "--data-dir", str(data))
    assert status == 2
    assert err == (
        f"vigil dev: the embedded database in {data} was made by PostgreSQL 9.6, this Vigil ships "
        f"{shipped_postgres_major()}; move that folder away or choose another --data-dir"
    )


def test_the_triggers_dead_letter_sink_is_its_own_function_and_stores_what_it_gets(
    local_vigil, capsys
):
    from cloudevents.conversion import to_binary
    from cloudevents.http import CloudEvent

    [route] = [r for r in local_vigil.router.routes if r.name == "recover"]
    assert route.dead_letter_url == local_vigil.functions["dead-letters"].url
    dead = CloudEvent(
        {
            "type": TRIGGER_TYPE,
            "source": "/vigil/api",
            "id": "dev-dead-1",
            "knativeerrordest": route.subscriber,
            "knativeerrorcode": "503",
        },
        {"notification_uuid": "dev-dead-1", "type": "VM", "reason": "created"},
    )
    headers, body = to_binary(dead)
    reply = requests.post(route.dead_letter_url, headers=headers, data=body, timeout=10)
    assert reply.status_code == 201, reply.text
    capsys.readouterr()
    assert main(["dead-letters", "--json", "--database-url", local_vigil.database_url]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["event_id"], listed["error_code"], listed["error_dest"]) == (
        "dev-dead-1",
        "503",
        route.subscriber,
    )


def test_vigil_dev_writes_readable_text_logs_with_one_access_line_per_request(local_vigil):
    reply = requests.get(f"{local_vigil.api_url}/v1", timeout=10)
    request_id = reply.headers["x-openstack-request-id"]
    log = (local_vigil.options.log_dir / "api.log").read_text()
    [line] = [line for line in log.splitlines() if request_id in line]
    assert re.match(r"^\d{4}-\d\d-\d\dT[\d:.]+Z INFO api vigil\.access \[request_id=", line), line
    assert '"GET /v1" ' in line and not line.startswith("{")
