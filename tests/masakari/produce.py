"""Re-create the Masakari 22.0.0 dumps in this folder from the real Masakari (see README.md).

    bash scripts/masakari-venv                      # .venv-masakari with masakari==22.0.0
    .venv/bin/python tests/masakari/produce.py      # rewrites the *.sql files here

1. starts a throwaway MariaDB (vigil/localmariadb.py) and runs Masakari's own
   ``masakari-manage db sync``; dumps the schema (``mariadb-schema.sql``);
2. does the same on the embedded PostgreSQL (``postgresql-schema.sql``);
3. starts the simulated region (Keystone + Nova) and the real ``masakari-api`` against the
   MariaDB, with keystonemiddleware validating tokens at the region's Keystone and the region's
   Nova answering Masakari's compute-service checks;
4. fills it through Masakari's API with openstacksdk (segments, hosts, notifications, one
   deleted segment and host), then dumps the rows (``mariadb-data.sql``);
5. writes Masakari's own sample policy (``oslopolicy-sample-generator --namespace masakari``)
   to ``policy.yaml.sample``.

The suite only loads these files; it never installs Masakari.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MASAKARI_VENV = ROOT / ".venv-masakari"
TABLES = ("failover_segments", "hosts", "notifications", "vmoves")
SEGMENTS = [
    ("rack-a", "auto", "automatic evacuation"),
    ("rack-b", "reserved_host", "spare hosts in rack b"),
    ("rack-c", "rh_priority", None),
]


def masakari_conf(folder: Path, database: str, region=None, port: int = 0) -> Path:
    lines = [
        "[DEFAULT]",
        "transport_url = fake://",
        "masakari_api_listen = 127.0.0.1",
        f"masakari_api_listen_port = {port}",
        "masakari_api_workers = 1",
        "[wsgi]",
        f"api_paste_config = {MASAKARI_VENV / 'etc/masakari/api-paste.ini'}",
        "[database]",
        f"connection = {database}",
        "[taskflow]",
        f"connection = {database}",
    ]
    if region is not None:
        creds = region.admin_credentials
        lines[1:1] = [
            "auth_strategy = keystone",
            f"os_privileged_user_name = {creds['username']}",
            f"os_privileged_user_password = {creds['password']}",
            f"os_privileged_user_tenant = {creds['project_name']}",
            f"os_privileged_user_auth_url = {region.keystone_url}/v3",
            "os_user_domain_name = Default",
            "os_project_domain_name = Default",
            "os_region_name = RegionOne",
        ]
        lines += [
            "[keystone_authtoken]",
            f"www_authenticate_uri = {region.keystone_url}/v3",
            f"auth_url = {region.keystone_url}/v3",
            "auth_type = password",
            f"username = {creds['username']}",
            f"password = {creds['password']}",
            f"project_name = {creds['project_name']}",
            "user_domain_name = Default",
            "project_domain_name = Default",
            "service_token_roles_required = true",
        ]
    path = folder / "masakari.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def db_sync(conf: Path) -> None:
    subprocess.run(
        [str(MASAKARI_VENV / "bin/masakari-manage"), "--config-file", str(conf), "db", "sync"],
        check=True,
        capture_output=True,
    )


def mariadb_dump(server, *args: str) -> str:
    out = subprocess.run(
        [
            "mariadb-dump", "-h", "127.0.0.1", "-P", str(server.port), "-u", "root",
            "--skip-comments", "--skip-dump-date", "--skip-extended-insert", "--complete-insert",
            *args,
        ],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return out


def header(what: str) -> str:
    return (
        f"-- {what}, made by tests/masakari/produce.py from masakari==22.0.0\n"
        "-- (`masakari-manage db sync`; see tests/masakari/README.md). Do not edit by hand.\n"
    )


def produce_mariadb(folder: Path) -> None:
    from vigil import localmariadb

    server = localmariadb.start()
    try:
        url = server.create_database("masakari", fresh=True)
        conf = masakari_conf(folder, url)
        db_sync(conf)
        schema = mariadb_dump(server, "--no-data", "masakari")
        versions = mariadb_dump(
            server, "--no-create-info", "masakari", "masakari_alembic_version", "alembic_version"
        )
        (HERE / "mariadb-schema.sql").write_text(
            header("Masakari's schema on MariaDB") + schema + versions
        )
        fill_through_api(folder, server, url)
        data = mariadb_dump(server, "--no-create-info", "masakari", *TABLES)
        (HERE / "mariadb-data.sql").write_text(
            header("Rows written by the real masakari-api") + data
        )
    finally:
        server.stop()


def produce_postgresql(folder: Path) -> None:
    from vigil import localdb

    server = localdb.start(durable=False)
    try:
        url = server.create_database("masakari").replace("+pg8000", "+psycopg2")
        db_sync(masakari_conf(folder, url))
        dump = [
            str(localdb._bin_dir() / "pg_dump"), "-h", "127.0.0.1", "-p", str(server.port),
            "-U", "postgres", "--no-owner", "--no-privileges", "masakari",
        ]  # fmt: skip
        versions = ["--data-only", "--inserts", "-t", "masakari_alembic_version"]
        schema = "".join(
            subprocess.run(dump + extra, check=True, capture_output=True, text=True).stdout
            for extra in (["--schema-only"], [*versions, "-t", "alembic_version"])
        )
        # Comments and pg_dump's per-run `\restrict` keys would make every dump differ.
        kept = [line for line in schema.splitlines() if not line.startswith(("--", "\\"))]
        (HERE / "postgresql-schema.sql").write_text(
            header("Masakari's schema on PostgreSQL") + "\n".join(kept) + "\n"
        )
    finally:
        server.stop()


def start_masakari_api(conf: Path, port: int) -> subprocess.Popen:
    with open(conf.parent / "masakari-api.log", "ab") as log:
        process = subprocess.Popen(
            [str(MASAKARI_VENV / "bin/masakari-api"), "--config-file", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((conf.parent / "masakari-api.log").read_text()[-3000:])
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("masakari-api did not start")


def fill_through_api(folder: Path, server, url: str) -> None:
    import openstack
    from openstack import config as os_config

    from vigil.localdb import free_port
    from vigilsim import Region

    port = free_port()
    region = Region.start(hosts=8, instance_ha_url=f"http://127.0.0.1:{port}")
    api = None
    try:
        api = start_masakari_api(masakari_conf(folder, url, region, port), port)
        cloud = os_config.OpenStackConfig(config_files=[region.clouds_yaml]).get_one(
            cloud=region.cloud_name
        )
        conn = openstack.connection.Connection(config=cloud)
        fill(conn.instance_ha, region.hosts)
    finally:
        if api is not None:
            api.terminate()
            api.wait(30)
        region.stop()


def fill(ha, hosts: list[str]) -> None:
    """Segments with hosts of every kind, one deleted segment, notifications of each type."""
    names = iter(hosts)
    made = {}
    for name, method, description in SEGMENTS:
        segment = ha.create_segment(
            name=name, recovery_method=method, service_type="COMPUTE", description=description
        )
        made[name] = (segment, [])
        for reserved in (False, True):
            host = ha.create_host(
                segment.uuid,
                name=next(names),
                type="COMPUTE",
                control_attributes="SSH",
                reserved=reserved,
            )
            made[name][1].append(host)
    spare_segment, (_, spare) = made["rack-a"]
    ha.update_host(spare.uuid, spare_segment.uuid, on_maintenance=True)
    gone = ha.create_segment(name="retired", recovery_method="auto", service_type="COMPUTE")
    retired = ha.create_host(gone.uuid, name=next(names), type="COMPUTE", control_attributes="")
    ha.delete_host(retired.uuid, gone.uuid)
    ha.delete_segment(gone.uuid)
    compute = made["rack-b"][1][0].name
    other = made["rack-c"][1][0].name
    stamp = "2026-11-30T10:00:00.000000"
    ha.create_notification(
        type="COMPUTE_HOST",
        hostname=compute,
        generated_time=stamp,
        payload={"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"},
    )
    ha.create_notification(
        type="VM",
        hostname=other,
        generated_time=stamp,
        payload={"event": "LIFECYCLE", "instance_uuid": "a3a0f3c6-7b0e-4b9c-9f7e-2c1d3b4a5e6f",
                 "vir_domain_event": "STOPPED_FAILED"},
    )  # fmt: skip
    ha.create_notification(
        type="PROCESS",
        hostname=other,
        generated_time=stamp,
        payload={"event": "STOPPED", "process_name": "nova-compute"},
    )


def main() -> int:
    if not (MASAKARI_VENV / "bin/masakari-manage").exists():
        print("run `bash scripts/masakari-venv` first", file=sys.stderr)
        return 1
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    with tempfile.TemporaryDirectory(prefix="vigil-masakari-") as tmp:
        produce_mariadb(Path(tmp))
        produce_postgresql(Path(tmp))
    subprocess.run(
        [
            str(MASAKARI_VENV / "bin/oslopolicy-sample-generator"), "--namespace", "masakari",
            "--output-file", str(HERE / "policy.yaml.sample"),
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    made = [*sorted(HERE.glob("*.sql")), HERE / "policy.yaml.sample"]
    print(f"wrote {', '.join(p.name for p in made)} in {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
