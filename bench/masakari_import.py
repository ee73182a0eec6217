"""Masakari import benchmark: ``vigil db import-masakari`` of 100,000 notifications.

A real MariaDB (vigil/localmariadb.py) gets Masakari 22.0.0's schema and the API-made rows of
tests/masakari/, then ``--notifications`` finished COMPUTE_HOST notifications (each with
``--vmoves-per`` vmoves) spread over its hosts. The import runs as its own process (the
command a user types) into an embedded PostgreSQL, then again (nothing new). The baseline,
measured in the same run, is the floor any importer pays: reading the same rows from MariaDB
plus writing them into an empty copy of Vigil's tables with one multi-row INSERT per 1,000 rows,
without the checks. Prints figures; asserts nothing about speed.

    .venv/bin/python bench/masakari_import.py [--notifications 100000] [--vmoves-per 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from shared import masakari_import as mi  # noqa: E402
from shared.db import get_engine, session_scope  # noqa: E402
from shared.migrate import upgrade  # noqa: E402
from vigil import localdb, localmariadb  # noqa: E402

DUMPS = ROOT / "tests" / "masakari"


def seed(source_url: str, notifications: int, vmoves_per: int) -> None:
    """Rows made by MariaDB itself (its SEQUENCE engine), spread over the live hosts."""
    payload = json.dumps({"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"})
    engine = mi.source_engine(source_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TEMPORARY TABLE live AS SELECT ROW_NUMBER() OVER (ORDER BY id) - 1 AS k, "
                "uuid, failover_segment_id, name FROM hosts WHERE deleted = 0"
            )
        )
        hosts = conn.execute(text("SELECT COUNT(*) FROM live")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO notifications (created_at, updated_at, deleted, notification_uuid, "
                "generated_time, source_host_uuid, type, payload, status, failover_segment_uuid) "
                "SELECT t, t, 0, UUID(), t, live.uuid, 'COMPUTE_HOST', :p, 'finished', "
                "live.failover_segment_id FROM (SELECT seq, '2026-01-01 00:00:00' + INTERVAL seq "
                f"SECOND AS t FROM seq_1_to_{notifications}) s JOIN live ON live.k = s.seq % :h"
            ),
            {"p": payload, "h": hosts},
        )
        for _ in range(vmoves_per):
            conn.execute(
                text(
                    "INSERT INTO vmoves (created_at, deleted, uuid, notification_uuid, "
                    "instance_uuid, instance_name, source_host, dest_host, start_time, end_time, "
                    "type, status) SELECT n.created_at, 0, UUID(), n.notification_uuid, UUID(), "
                    "'vm', h.name, 'compute-003', n.created_at, n.created_at, 'evacuation', "
                    "'succeeded' FROM notifications n JOIN hosts h ON h.uuid = n.source_host_uuid "
                    "WHERE n.payload = :p"
                ),
                {"p": payload},
            )
    engine.dispose()


def run_import(source_url: str, target_url: str) -> tuple[float, str, int]:
    started = time.perf_counter()
    result = subprocess.run(
        [str(ROOT / ".venv/bin/vigil"), "db", "import-masakari", "--from", source_url],
        capture_output=True,
        text=True,
        env=dict(os.environ, VIGIL_DATABASE_URL=target_url),
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"import failed: {result.stderr}")
    return wall, result.stdout, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def baseline(source_url: str, target_url: str) -> float:
    """Read every row as the importer does, then write it in one go with no checks at all."""
    from shared.models import Host, Notification, Segment, VMove

    started = time.perf_counter()
    source = mi.read_source(source_url)
    with session_scope(target_url) as session:
        for model, rows in (
            (Segment, source.segments),
            (Host, source.hosts),
            (Notification, source.notifications),
            (VMove, source.vmoves),
        ):
            for row in rows:
                if isinstance(row.get("payload"), str):
                    row["payload"] = json.loads(row["payload"])
            for start in range(0, len(rows), mi.BATCH_ROWS):
                mi.insert_rows(session, model, rows[start : start + mi.BATCH_ROWS])
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=100_000)
    parser.add_argument("--vmoves-per", type=int, default=1)
    args = parser.parse_args()

    maria = localmariadb.start()
    postgres = localdb.start(durable=False)
    try:
        source = maria.create_database("masakari", fresh=True)
        maria.load("masakari", DUMPS / "mariadb-schema.sql")
        maria.load("masakari", DUMPS / "mariadb-data.sql")
        t = time.perf_counter()
        seed(source, args.notifications, args.vmoves_per)
        print(f"seeded {args.notifications:,} notifications and "
              f"{args.notifications * args.vmoves_per:,} vmoves in MariaDB in "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip

        target = postgres.create_database("vigil_import")
        upgrade(target)
        first, out, rss = run_import(source, target)
        rows = int(out.rsplit("imported ", 1)[1].split()[0])
        second, out2, _ = run_import(source, target)
        assert "imported 0 rows" in out2, out2

        floor_db = postgres.create_database("vigil_floor")
        upgrade(floor_db)
        floor = baseline(source, floor_db)
        with get_engine(target).connect() as conn:
            counted = conn.execute(text("SELECT count(*) FROM notifications")).scalar_one()

        print(f"first import:  {rows:,} rows in {first:.1f} s = {rows / first:,.0f} rows/s "
              f"(peak RSS {rss / 1024:.0f} MiB); {counted:,} notifications in Vigil")  # fmt: skip
        print(f"second import: nothing new, {second:.1f} s (reads and compares everything)")
        print(f"baseline (read + unchecked bulk INSERT, same run): {floor:.1f} s; "
              f"import / baseline = {first / floor:.2f}")  # fmt: skip
    finally:
        maria.stop()
        postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
