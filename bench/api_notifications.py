"""API benchmark: notification POSTs per second and list latency with 100,000 notifications stored.

Serves the real ``api`` function (functions-framework app, threaded werkzeug server, noauth) on
an embedded PostgreSQL, seeds the notifications in bulk with one ``INSERT … SELECT
generate_series``, then measures over HTTP. Prints figures; asserts nothing about speed.

    .venv/bin/python bench/api_notifications.py [--rows 100000] [--posts 300] [--gets 100] [--threads 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from sqlalchemy import text

from shared.db import get_engine, session_scope, utcnow
from shared.migrate import upgrade
from shared.models import Host, Segment
from shared.settings import get_settings
from tests.servers import serve_function
from vigil import localdb

HOSTS = 50

SEED = text(
    """
    INSERT INTO notifications (notification_uuid, generated_time, type, payload, status,
                               source_host_uuid, failover_segment_uuid, message, created_at,
                               deleted, attempt, retried)
    SELECT gen_random_uuid()::text,
           CAST(:start AS timestamp) + (g * interval '1 second'),
           'COMPUTE_HOST',
           jsonb_build_object('event', 'STOPPED', 'host_status', 'NORMAL', 'seq', g::text),
           (ARRAY['finished', 'finished', 'finished', 'ignored', 'failed'])[1 + mod(g, 5)],
           (CAST(:hosts AS text[]))[1 + mod(g, :host_count)],
           :segment,
           NULL,
           date_trunc('second', CAST(:start AS timestamp) + (g * interval '1 second')),
           0, 1, false
    FROM generate_series(1, :rows) AS g
    """
)


def seed(rows: int) -> tuple[list[str], str]:
    now = utcnow().replace(microsecond=0)
    with session_scope() as session:
        segment = Segment(
            uuid=str(uuid.uuid4()),
            name="bench",
            service_type="COMPUTE",
            recovery_method="auto",
            created_at=now,
            deleted=0,
        )
        session.add(segment)
        session.flush()
        hosts = [
            Host(
                uuid=str(uuid.uuid4()),
                name=f"bench-{i:03d}",
                type="COMPUTE",
                control_attributes="",
                failover_segment_id=segment.uuid,
                created_at=now,
                deleted=0,
            )
            for i in range(HOSTS)
        ]
        session.add_all(hosts)
    started = time.perf_counter()
    with get_engine().begin() as conn:
        conn.execute(
            SEED,
            {
                "start": now - dt.timedelta(seconds=rows + 3600),
                "rows": rows,
                "hosts": [h.uuid for h in hosts],
                "host_count": HOSTS,
                "segment": segment.uuid,
            },
        )
        conn.execute(text("ANALYZE notifications"))
    print(
        f"seeded {rows} notifications over {HOSTS} hosts in {time.perf_counter() - started:.1f} s"
    )
    return [h.name for h in hosts], segment.uuid


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def measure_posts(url: str, hostnames: list[str], posts: int, threads: int) -> None:
    counter = iter(range(posts))
    lock = threading.Lock()
    codes: list[int] = []
    latencies: list[float] = []

    def worker() -> None:
        session = requests.Session()
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            body = {
                "notification": {
                    "type": "COMPUTE_HOST",
                    "hostname": hostnames[i % len(hostnames)],
                    "generated_time": (utcnow() + dt.timedelta(minutes=i)).isoformat(),
                    "payload": {
                        "event": "STOPPED",
                        "host_status": "NORMAL",
                        "cluster_status": "OFFLINE",
                    },
                }
            }
            t = time.perf_counter()
            r = session.post(url + "/v1/notifications", json=body, timeout=60)
            with lock:
                latencies.append(time.perf_counter() - t)
                codes.append(r.status_code)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    accepted = codes.count(202)
    print(
        f"POST /v1/notifications: {accepted}/{len(codes)} accepted, {threads} clients, "
        f"{accepted / elapsed:.1f} notifications/s, p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
    )


def measure_gets(url: str, label: str, query: str, gets: int) -> None:
    session = requests.Session()
    latencies = []
    size = 0
    for _ in range(gets):
        t = time.perf_counter()
        r = session.get(url + "/v1/notifications" + query, timeout=60)
        latencies.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text
        size = len(r.json()["notifications"])
    print(
        f"GET {label:<42} rows/page {size:>4}: p50 {percentile(latencies, 0.5) * 1000:7.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--gets", type=int, default=100)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = None
    if not os.environ.get("VIGIL_DATABASE_URL"):
        server = localdb.start(durable=False)
        os.environ["VIGIL_DATABASE_URL"] = server.url
    os.environ["VIGIL_AUTH_STRATEGY"] = "noauth"
    os.environ.pop("K_SINK", None)
    get_settings.cache_clear()
    upgrade(os.environ["VIGIL_DATABASE_URL"])
    served = serve_function("api")
    try:
        hostnames, _segment = seed(args.rows)
        measure_gets(served.url, "list (default: limit capped at 1000)", "", args.gets)
        measure_gets(served.url, "list limit=100", "?limit=100", args.gets)
        marker = args.rows // 2
        measure_gets(
            served.url,
            "list limit=100 marker=<middle id>",
            f"?limit=100&marker={marker}",
            args.gets,
        )
        measure_gets(
            served.url, "list status=failed limit=100", "?status=failed&limit=100", args.gets
        )
        measure_posts(served.url, hostnames, args.posts, args.threads)
        print("(no event sink configured: each POST logs that its trigger was not published)")
    finally:
        served.stop()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
