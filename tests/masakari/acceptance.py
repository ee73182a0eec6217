"""Masakari → Vigil, end to end, with the real Masakari 22.0.0 (needs scripts/masakari-venv).

    bash scripts/masakari-venv && .venv/bin/python tests/masakari/acceptance.py

Fills a MariaDB through the real masakari-api (as produce.py does), imports it into Vigil twice
with ``vigil db import-masakari``, then asks both services the same questions with openstacksdk
and with ``openstack segment list`` / ``openstack notification list``: the answers, UUIDs
included, must be equal. Exits 0 only then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from tests.masakari.produce import fill, masakari_conf, start_masakari_api  # noqa: E402


def connect(region):
    import openstack
    from openstack import config as os_config

    cloud = os_config.OpenStackConfig(config_files=[region.clouds_yaml]).get_one(
        cloud=region.cloud_name
    )
    return openstack.connection.Connection(config=cloud).instance_ha


def snapshot(ha) -> dict:
    """What a client sees: every field of every segment, host and notification."""

    def fields(resource) -> str:
        return json.dumps(resource.to_dict(computed=False), sort_keys=True, default=str)

    segments = list(ha.segments())
    return {
        "segments": sorted(fields(s) for s in segments),
        "hosts": sorted(fields(h) for s in segments for h in ha.hosts(s.uuid)),
        "notifications": sorted(fields(n) for n in ha.notifications()),
    }


def openstack_cli(region, *args: str) -> str:
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=region.clouds_yaml, OS_CLOUD=region.cloud_name)
    return subprocess.run(
        [str(ROOT / ".venv/bin/openstack"), *args],
        check=True, capture_output=True, text=True, env=env,
    ).stdout  # fmt: skip


def vigil(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / ".venv/bin/vigil"), *args],
        capture_output=True, text=True, env=dict(os.environ, **env),
    )  # fmt: skip


def main() -> int:
    from shared.migrate import upgrade
    from tests.servers import serve_function
    from vigil import localdb, localmariadb
    from vigil.localdb import free_port
    from vigilsim import Region

    failures = 0
    with tempfile.TemporaryDirectory(prefix="vigil-accept-") as tmp:
        folder = Path(tmp)
        maria = localmariadb.start()
        postgres = localdb.start(durable=False)
        masakari_port = free_port()
        masakari_region = Region.start(hosts=8, instance_ha_url=f"http://127.0.0.1:{masakari_port}")
        masakari_api = served = vigil_region = None
        try:
            source = maria.create_database("masakari", fresh=True)
            conf = masakari_conf(folder, source, masakari_region, masakari_port)
            subprocess.run(
                [str(ROOT / ".venv-masakari/bin/masakari-manage"), "--config-file", str(conf),
                 "db", "sync"], check=True, capture_output=True,
            )  # fmt: skip
            masakari_api = start_masakari_api(conf, masakari_port)
            fill(connect(masakari_region), masakari_region.hosts)
            print(f"Masakari 22.0.0 API at http://127.0.0.1:{masakari_port}, filled through it")

            upgrade(postgres.url)
            env = {"VIGIL_DATABASE_URL": postgres.url}
            for run in ("first", "second"):
                result = vigil("db", "import-masakari", "--from", source, env=env)
                print(f"$ vigil db import-masakari --from {localmariadb_url(maria)}   # {run}")
                print(result.stdout + result.stderr, end="")
                failures += result.returncode != 0
            failures += "imported 0 rows" not in result.stdout

            os.environ.update(env)
            os.environ["VIGIL_AUTH_STRATEGY"] = "keystone"
            served = serve_function("api")
            vigil_region = Region.start(hosts=8, instance_ha_url=served.url + "/v1")
            os.environ["VIGIL_CLOUDS_YAML"] = vigil_region.clouds_yaml
            os.environ["VIGIL_CLOUD"] = "vigil"
            from shared.settings import get_settings

            get_settings.cache_clear()

            theirs, ours = snapshot(connect(masakari_region)), snapshot(connect(vigil_region))
            for kind in theirs:
                same = theirs[kind] == ours[kind]
                failures += not same
                print(f"openstacksdk {kind}: Masakari {len(theirs[kind])}, Vigil {len(ours[kind])}"
                      f", {'identical' if same else 'DIFFERENT'}")  # fmt: skip
            for command in (["segment", "list"], ["notification", "list"]):
                outputs = []
                for name, region in (("Masakari", masakari_region), ("Vigil", vigil_region)):
                    table = openstack_cli(region, *command)
                    parsed = openstack_cli(region, *command, "-f", "json")
                    outputs.append(sorted(json.loads(parsed), key=json.dumps))
                    print(f"$ openstack {' '.join(command)}   # against {name}\n{table}", end="")
                same = outputs[0] == outputs[1]
                failures += not same
                print(f"openstack {' '.join(command)}: {'identical' if same else 'DIFFERENT'}")
        finally:
            for thing in (served, vigil_region, masakari_region):
                if thing is not None:
                    thing.stop()
            if masakari_api is not None:
                masakari_api.terminate()
                masakari_api.wait(30)
            maria.stop()
            postgres.stop()
    print("acceptance:", "PASSED" if failures == 0 else f"FAILED ({failures})")
    return 1 if failures else 0


def localmariadb_url(server) -> str:
    return server.url_for("masakari").replace("mysql+pymysql", "mysql").split("?")[0]


if __name__ == "__main__":
    sys.exit(main())
