"""Purge benchmark: remove 1,000,000 qualifying rows and watch API latency while it runs.

On an embedded PostgreSQL: seeds finished notifications 40 days old, each with one vmove, one
progress row and one attempt, plus old health samples, so that ``--rows`` rows qualify in total,
and keeps a live set (recent and running notifications) that the API lists. Serves the real
``api`` function with ``functions-framework`` in its own process (noauth) and measures
``GET /v1/notifications?limit=50`` p50/p99 while idle, then while ``vigil db purge`` runs as its
own process. If the api cannot answer, a representative SELECT (the list query) is timed instead,
and the output says so. Prints figures; asserts nothing about speed.

    .venv/bin/python bench/purge_rows.py [--rows 1000000] [--live 10000] [--idle-gets 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from sqlalchemy import text  # noqa: E402

from shared.db import get_engine  # noqa: E402
from shared.migrate import upgrade  # noqa: E402
from shared.settings import get_settings  # noqa: E402
from vigil import localdb  # noqa: E402

NOTIFICATIONS = text(
    """
    INSERT INTO notifications (notification_uuid, generated_time, type, payload, status,
                               source_host_uuid, failover_segment_uuid, created_at, updated_at)
    SELECT gen_random_uuid()::text, ts, 'COMPUTE_HOST',
           '{"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}',
           status, 'bench-host', 'bench-segment', ts, ts
    FROM (SELECT now() AT TIME ZONE 'utc' - make_interval(days => :days) + g * interval '1 ms' AS ts,
                 (CAST(:statuses AS text[]))[1 + mod(g, cardinality(CAST(:statuses AS text[])))] AS status
          FROM generate_series(1, :n) AS g) AS s
    """
)
CHILDREN = [
    text(
        """
        INSERT INTO vmoves (uuid, notification_uuid, instance_uuid, instance_name, type, status,
                            created_at)
        SELECT gen_random_uuid()::text, notification_uuid, gen_random_uuid()::text, 'vm',
               'evacuation', 'succeeded', created_at
        FROM notifications WHERE updated_at < now() AT TIME ZONE 'utc' - interval '30 days'
        """
    ),
    text(
        """
        INSERT INTO recovery_progress (notification_uuid, attempt, run, step_name, state,
                                       progress, details, created_at)
        SELECT notification_uuid, 1, 0, 'evacuate_instances_task', 'SUCCESS', 1.0, '[]', created_at
        FROM notifications WHERE updated_at < now() AT TIME ZONE 'utc' - interval '30 days'
        """
    ),
    text(
        """
        INSERT INTO recovery_attempts (notification_uuid, number, kind, outcome, started_at)
        SELECT notification_uuid, 1, 'auto', 'succeeded', created_at
        FROM notifications WHERE updated_at < now() AT TIME ZONE 'utc' - interval '30 days'
        """
    ),
]
SAMPLES = text(
    """
    INSERT INTO health_samples (host_name, sampled_at, ready, verdict)
    SELECT 'compute-' || mod(g, 1000), now() AT TIME ZONE 'utc' - interval '10 days' + g * interval '1 ms',
           'True', 'up'
    FROM generate_series(1, :n) AS g
    """
)
LIST_QUERY = text(
    "SELECT * FROM notifications WHERE deleted = 0 ORDER BY created_at DESC, id DESC LIMIT 50"
)


def seed(rows: int, live: int) -> None:
    """``rows`` qualifying rows: 4 per old notification (itself + 3 children), rest samples."""
    old = rows // 5
    samples = rows - 4 * old
    started = time.perf_counter()
    with get_engine().begin() as conn:
        conn.execute(
            NOTIFICATIONS, {"days": 40, "n": old, "statuses": ["finished", "failed", "ignored"]}
        )
        for statement in CHILDREN:
            conn.execute(statement)
        conn.execute(
            NOTIFICATIONS, {"days": 1, "n": live, "statuses": ["finished", "running", "new"]}
        )
        conn.execute(SAMPLES, {"n": samples})
        conn.execute(text("ANALYZE"))
    print(
        f"seeded {rows:,} qualifying rows ({old:,} old notifications + {old:,} vmoves + {old:,} "
        f"progress + {old:,} attempts + {samples:,} health samples) and {live:,} live "
        f"notifications in {time.perf_counter() - started:.1f} s"
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def serve_api(database_url: str) -> tuple[subprocess.Popen, str]:
    port = localdb.free_port()
    env = dict(os.environ, VIGIL_DATABASE_URL=database_url, VIGIL_AUTH_STRATEGY="noauth")
    env.pop("K_SINK", None)
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/functions-framework"),
            "--target",
            "api",
            "--source",
            str(ROOT / "functions/api/main.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}"


def api_probe(url: str, proc: subprocess.Popen) -> Callable[[], None] | None:
    """One GET of the notification list, or None when the api cannot answer it."""
    session = requests.Session()

    def get() -> None:
        response = session.get(url + "/v1/notifications?limit=50", timeout=30)
        if response.status_code != 200 or len(response.json()["notifications"]) != 50:
            raise RuntimeError(f"api answered {response.status_code}: {response.text[:200]}")

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            get()
            return get
        except (requests.RequestException, RuntimeError, KeyError, ValueError) as exc:
            last = exc
            time.sleep(0.5)
    print(
        f"api not usable ({locals().get('last', 'process exited')}); timing the list SELECT instead"
    )
    return None


def select_probe() -> Callable[[], None]:
    conn = get_engine().connect()

    def run() -> None:
        with conn.begin():
            assert len(conn.execute(LIST_QUERY).all()) == 50

    return run


def sample(probe: Callable[[], None], stop: Callable[[], bool]) -> list[float]:
    latencies = []
    while not stop():
        started = time.perf_counter()
        probe()
        latencies.append(time.perf_counter() - started)
    return latencies


def describe(label: str, latencies: list[float]) -> str:
    return (
        f"{label}: {len(latencies)} requests, p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms, "
        f"mean {statistics.fmean(latencies) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--live", type=int, default=10_000)
    parser.add_argument("--idle-gets", type=int, default=300)
    parser.add_argument("--select", action="store_true", help="time the list SELECT, not the api")
    args = parser.parse_args()

    server = localdb.start(durable=False)
    api = None
    try:
        os.environ["VIGIL_DATABASE_URL"] = server.url
        get_settings.cache_clear()
        upgrade(server.url)
        seed(args.rows, args.live)
        probe = None
        if not args.select:
            api, url = serve_api(server.url)
            probe = api_probe(url, api)
        target = "GET /v1/notifications?limit=50 (api function, noauth)"
        if probe is None:
            probe, target = select_probe(), "list SELECT (ORDER BY created_at DESC LIMIT 50)"

        count = iter(range(args.idle_gets))
        idle = sample(probe, lambda: next(count, None) is None)

        settings = get_settings().purge
        started = time.perf_counter()
        purge = subprocess.Popen(
            [str(ROOT / ".venv/bin/vigil"), "db", "purge", "--age-in-days", "30"],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        during: list[float] = []
        watcher = threading.Thread(
            target=lambda: during.extend(sample(probe, lambda: purge.poll() is not None))
        )
        watcher.start()
        output, _ = purge.communicate()
        elapsed = time.perf_counter() - started
        watcher.join()

        removed = next((line for line in output.splitlines() if line.startswith("purged")), output)
        total = int(removed.split()[1]) if removed.startswith("purged") else 0
        with get_engine().connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM notifications")).scalar_one()
        print(f"vigil db purge: {removed}")
        print(
            f"purge: {total:,} rows in {elapsed:.1f} s = {total / elapsed:,.0f} rows/s "
            f"(batch {settings.purge_batch_size}, lock_timeout {settings.lock_timeout_ms} ms, "
            f"wall time includes the command's start-up); {left:,} live notifications left"
        )
        print(f"latency of {target}")
        print("  " + describe("idle        ", idle))
        print("  " + describe("during purge", during))
        ratio = percentile(during, 0.99) / percentile(idle, 0.99)
        print(f"  p99 during purge / idle p99 = {ratio:.2f}")
    finally:
        if api is not None:
            api.terminate()
            api.wait(10)
        server.stop()


if __name__ == "__main__":
    main()
