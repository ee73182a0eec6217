"""Scrape cost of ``/metrics``: the database part of a scrape at 100,000 notifications.

On an embedded PostgreSQL, seeds ``--notifications`` notifications (mixed types and statuses),
one recovery attempt and ``--vmoves-per`` ended vmoves each, 1,000 hosts in 10 segments with
monitor states, a day of health samples for them and some dead letters. Then it times the real
``/metrics`` answer of the api function (served in-process through functions-framework's app),
first on a baseline of ``--baseline`` notifications, then on the full set, and prints the median
and p95 of each and their ratio against the limit (``--limit`` seconds). Asserts nothing.

    .venv/bin/python bench/metrics_scrape.py [--notifications 100000] [--scrapes 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from shared.db import get_engine  # noqa: E402
from shared.migrate import upgrade  # noqa: E402
from shared.settings import get_settings  # noqa: E402
from vigil import localdb  # noqa: E402

SEED = [
    """
    INSERT INTO failover_segments (uuid, name, service_type, recovery_method, created_at)
    SELECT 'seg-' || g, 'segment-' || g, 'COMPUTE', 'auto', now() FROM generate_series(0, 9) g
    """,
    """
    INSERT INTO hosts (uuid, name, reserved, type, control_attributes, failover_segment_id,
                       created_at)
    SELECT 'host-' || g, 'compute-' || g, mod(g, 20) = 0, 'COMPUTE', 'SSH', 'seg-' || mod(g, 10),
           now()
    FROM generate_series(0, 999) g
    """,
    """
    INSERT INTO host_monitor_states (host_name, host_uuid, settled_state, transitions)
    SELECT 'compute-' || g, 'host-' || g, CASE WHEN mod(g, 50) = 0 THEN 'dead' ELSE 'alive' END,
           '[]'
    FROM generate_series(0, 999) g
    """,
    """
    INSERT INTO health_samples (host_name, sampled_at, ready, verdict)
    SELECT 'compute-' || mod(g, 1000), now() AT TIME ZONE 'utc' - g * interval '60 ms', 'True', 'up'
    FROM generate_series(1, 1440000) g
    """,
    """
    INSERT INTO dead_letters (received_at, event_id, event_type, source, attributes)
    SELECT now(), 'e' || g, 'org.openstack.vigil.internal.recovery.requested', '/vigil/api', '{}'
    FROM generate_series(1, 20) g
    """,
]
NOTIFICATIONS = """
    INSERT INTO notifications (notification_uuid, generated_time, type, payload, status,
                               source_host_uuid, failover_segment_uuid, created_at, updated_at)
    SELECT gen_random_uuid()::text, ts, (ARRAY['COMPUTE_HOST','VM','PROCESS'])[1 + mod(g, 3)],
           '{}', (ARRAY['finished','finished','finished','ignored','failed','error','new',
                        'running'])[1 + mod(g, 8)],
           'host-' || mod(g, 1000), 'seg-' || mod(g, 10), ts, ts
    FROM (SELECT g, now() AT TIME ZONE 'utc' - g * interval '1 s' AS ts
          FROM generate_series(CAST(:first AS int), CAST(:last AS int)) g) s
"""
CHILDREN = [
    """
    INSERT INTO recovery_attempts (notification_uuid, number, kind, outcome, started_at, ended_at)
    SELECT notification_uuid, 1, 'auto', 'succeeded', created_at,
           created_at + (mod(id, 900) + 5) * interval '1 s'
    FROM notifications WHERE id BETWEEN :first AND :last
    """,
    """
    INSERT INTO vmoves (uuid, notification_uuid, instance_uuid, instance_name, type, status,
                        start_time, end_time, created_at)
    SELECT gen_random_uuid()::text, n.notification_uuid, gen_random_uuid()::text, 'vm',
           'evacuation', CASE WHEN mod(n.id + v, 17) = 0 THEN 'failed' ELSE 'succeeded' END,
           n.created_at, n.created_at + (mod(n.id + v, 120) + 1) * interval '1 s', n.created_at
    FROM notifications n CROSS JOIN generate_series(1, CAST(:per AS int)) v
    WHERE n.id BETWEEN :first AND :last AND n.type = 'COMPUTE_HOST'
    """,
]


def seed_notifications(engine, first: int, last: int, per: int) -> None:
    with engine.begin() as conn:
        conn.execute(text(NOTIFICATIONS), {"first": first, "last": last})
        for sql in CHILDREN:
            conn.execute(text(sql), {"first": first, "last": last, "per": per})
    # What autovacuum does after bulk inserts: statistics and the visibility map (index-only scans).
    vacuum = create_engine(engine.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with vacuum.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))


def time_scrapes(client, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        reply = client.get("/metrics")
        times.append(time.perf_counter() - started)
        assert reply.status_code == 200 and b"vigil_database_up 1.0" in reply.data, reply.data
    return times


def time_queries(engine) -> dict[str, float]:
    """Median seconds of each statement the collector runs, to see where a scrape goes."""
    from shared import metrics

    found = {}
    with engine.connect() as conn:
        for name in metrics.STATEMENTS:
            times = []
            for _ in range(5):
                started = time.perf_counter()
                conn.execute(getattr(metrics, name)).all()
                times.append(time.perf_counter() - started)
            found[name] = statistics.median(times)
    return found


def summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=100)
    parser.add_argument("--vmoves-per", type=int, default=10)
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--limit", type=float, default=1.0, help="seconds a scrape may take")
    args = parser.parse_args()

    server = localdb.start(durable=False)
    try:
        upgrade(server.url)
        os.environ["VIGIL_DATABASE_URL"] = server.url
        os.environ["VIGIL_AUTH_STRATEGY"] = "noauth"
        os.environ["VIGIL_LOGGING__LEVEL"] = "ERROR"
        get_settings.cache_clear()
        engine = get_engine(server.url)
        with engine.begin() as conn:
            for sql in SEED:
                conn.execute(text(sql))
        seed_notifications(engine, 1, args.baseline, args.vmoves_per)

        from functions_framework import create_app

        app = create_app("api", str(ROOT / "functions" / "api" / "main.py"))
        client = app.test_client()
        time_scrapes(client, 3)  # warm: imports, connection pool, plans
        base = summary(time_scrapes(client, args.scrapes))

        seed_notifications(engine, args.baseline + 1, args.notifications, args.vmoves_per)
        with engine.connect() as conn:
            counts = {
                table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("notifications", "recovery_attempts", "vmoves", "health_samples")
            }
        time_scrapes(client, 3)
        full = summary(time_scrapes(client, args.scrapes))
        per_query = time_queries(engine)
    finally:
        server.stop()

    print("rows: " + ", ".join(f"{table}={count:,}" for table, count in counts.items()))
    print(
        f"scrape at {args.baseline:,} notifications: median {base[0] * 1000:.1f} ms, "
        f"p95 {base[1] * 1000:.1f} ms"
    )
    print(
        f"scrape at {args.notifications:,} notifications: median {full[0] * 1000:.1f} ms, "
        f"p95 {full[1] * 1000:.1f} ms"
    )
    print("per statement: " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in per_query.items()))
    print(
        f"ratio full/baseline (median): {full[0] / base[0]:.1f}x; "
        f"p95 / limit {args.limit:g} s: {full[1] / args.limit:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
