"""Recovery benchmark: wall time to recover a failed host with N servers.

A simulated region at time scale 1 (each evacuation takes 5 real seconds), an embedded
PostgreSQL, and the real ``recover`` function served by functions-framework receiving the
trigger over HTTP. The limit a perfect engine could reach is
``ceil(N / parallelism) * evacuation time + fixed steps``, where the fixed steps (fence/force
down/disable and the paginated listing) are measured in the same run from the progress rows.
Next to the ratio it prints the server reads the recovery made (every ``GET /servers/{id}`` and
``GET /servers/detail`` page Nova served, from the region's request log): polling shares one
read per interval across the servers in flight, so reads grow with the evacuation time, not
with servers x polls. Prints figures; asserts nothing.

    .venv/bin/python bench/recover_wall_time.py [--servers 50 200] [--evacuation 5] [--threads 16]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import os
import re
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from cloudevents.conversion import to_binary  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from shared import events  # noqa: E402
from shared.clients import reset_clients  # noqa: E402
from shared.db import session_scope, utcnow  # noqa: E402
from shared.migrate import upgrade  # noqa: E402
from shared.models import Base, Host, Notification, RecoveryProgress, Segment, VMove  # noqa: E402
from shared.progress import TIMESTAMP_FORMAT  # noqa: E402
from shared.settings import get_settings  # noqa: E402
from tests.servers import serve_function  # noqa: E402
from vigil import localdb  # noqa: E402
from vigilsim.region import Region  # noqa: E402

FAILED = "compute-000"
SERVER_READ = re.compile(r"^/v2\.1/servers/(detail|[0-9a-f-]{36})$")


def server_reads(log: list[tuple[str, str, str, int]]) -> int:
    return sum(
        1
        for api, method, path, _ in log
        if api == "nova" and method == "GET" and SERVER_READ.match(path)
    )


def seed(region: Region, servers: int, healthy: int) -> str:
    """Fresh tables, one segment with the region's hosts, one ``new`` host-down notification."""
    segment_uuid = str(uuid.uuid4())
    now = utcnow()
    with session_scope() as session:
        session.execute(
            text(f"TRUNCATE {', '.join(t.name for t in Base.metadata.sorted_tables)} CASCADE")
        )
        session.add(
            Segment(
                uuid=segment_uuid,
                name=f"bench-{segment_uuid[:8]}",
                service_type="COMPUTE",
                recovery_method="auto",
                enabled=True,
                created_at=now,
            )
        )
        session.flush()
        for i in range(healthy + 1):
            session.add(
                Host(
                    uuid=str(uuid.uuid4()),
                    name=f"compute-{i:03d}",
                    reserved=False,
                    type="COMPUTE",
                    control_attributes="SSH",
                    on_maintenance=False,
                    failover_segment_id=segment_uuid,
                    created_at=now,
                )
            )
        notification_uuid = str(uuid.uuid4())
        host_uuid = session.scalar(select(Host.uuid).where(Host.name == FAILED))
        session.add(
            Notification(
                notification_uuid=notification_uuid,
                generated_time=now,
                type="COMPUTE_HOST",
                payload={"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"},
                status="new",
                source_host_uuid=host_uuid,
                failover_segment_uuid=segment_uuid,
                created_at=now,
            )
        )
    for i in range(servers):
        region.boot_server(FAILED, metadata={"HA_Enabled": "True"} if i % 2 == 0 else {})
    return notification_uuid


def fixed_steps_seconds(notification_uuid: str) -> float:
    """Disable (fence, force down, disable) start → Prepare done, from the recorded progress."""
    with session_scope() as session:
        rows = {
            r.step_name: r
            for r in session.scalars(
                select(RecoveryProgress).where(
                    RecoveryProgress.notification_uuid == notification_uuid
                )
            )
        }

    def stamp(step: str, index: int) -> dt.datetime:
        return dt.datetime.strptime(rows[step].details[index]["timestamp"], TIMESTAMP_FORMAT)

    return (
        stamp("PrepareHAEnabledInstancesTask", -1) - stamp("DisableComputeServiceTask", 0)
    ).total_seconds()


def run_one(servers: int, evacuation: float, threads: int) -> dict:
    healthy = max(2, math.ceil(servers / 100))
    region = Region.start(
        hosts=healthy + 1, time_scale=1.0, evacuation_latency=evacuation, host_capacity=servers + 10
    )
    served = serve_function("recover")
    try:
        os.environ["VIGIL_CLOUDS_YAML"] = region.clouds_yaml
        os.environ["VIGIL_CLOUD"] = region.cloud_name
        os.environ["VIGIL_HOST_FAILURE_RECOVERY_THREADS"] = str(threads)
        get_settings.cache_clear()
        reset_clients()
        notification_uuid = seed(region, servers, healthy)
        region.power_off(FAILED)
        event = events.build(
            events.recovery_trigger_type(),
            "api",
            notification_uuid,
            {"notification_uuid": notification_uuid, "type": "COMPUTE_HOST", "reason": "created"},
        )
        headers, body = to_binary(event)
        logged = len(region.request_log)
        started = time.monotonic()
        requests.post(served.url, headers=headers, data=body, timeout=3600).raise_for_status()
        wall = time.monotonic() - started
        reads = server_reads(region.request_log[logged:])
        targets = len({s["host"] for s in region.servers() if s["host"] != FAILED})
        with session_scope() as session:
            status = session.scalar(
                select(Notification.status).where(
                    Notification.notification_uuid == notification_uuid
                )
            )
            moved = len(
                session.scalars(
                    select(VMove.id).where(
                        VMove.notification_uuid == notification_uuid, VMove.status == "succeeded"
                    )
                ).all()
            )
        fixed = fixed_steps_seconds(notification_uuid)
        limit = math.ceil(servers / threads) * evacuation + fixed
        return {
            "servers": servers,
            "status": status,
            "moved": moved,
            "wall": wall,
            "fixed": fixed,
            "limit": limit,
            "ratio": wall / limit,
            "reads": reads,
            "targets": targets,
            "masakari": math.ceil(servers / 3) * evacuation + 180,
        }
    finally:
        served.stop()
        region.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[50, 200])
    parser.add_argument(
        "--evacuation", type=float, default=5.0, help="seconds one evacuation takes"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="host_failure_recovery_threads (default: Vigil's default)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    threads = args.threads or get_settings().host_failure_recovery_threads
    server = localdb.start(durable=False)
    try:
        os.environ["VIGIL_DATABASE_URL"] = server.url
        upgrade(server.url)
        print(
            f"parallelism {threads}, evacuation {args.evacuation:.1f} s, "
            f"verify_interval {get_settings().verify_interval} s"
        )
        print(
            f"{'servers':>7} {'status':>9} {'moved':>5} {'wall s':>8} {'fixed s':>8} {'limit s':>8} "
            f"{'ratio':>6} {'reads':>6} {'hosts':>5} {'Masakari est. s':>15}"
        )
        for count in args.servers:
            r = run_one(count, args.evacuation, threads)
            print(
                f"{r['servers']:>7} {r['status']:>9} {r['moved']:>5} {r['wall']:>8.1f} {r['fixed']:>8.2f} "
                f"{r['limit']:>8.1f} {r['ratio']:>6.2f} {r['reads']:>6} {r['targets']:>5} "
                f"{r['masakari']:>15.0f}"
            )
        print(
            "limit = ceil(N/parallelism) x evacuation + fixed steps (measured); ratio = wall / limit."
        )
        print(
            "reads = server reads per recovery (GET /servers/{id} and /servers/detail pages); "
            "hosts = target hosts the servers landed on."
        )
        print("Masakari est. = ceil(N/3) x evacuation + 180 s fixed wait (computed, not measured).")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
