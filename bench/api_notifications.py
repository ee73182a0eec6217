"""API benchmark: notification POSTs per second against masakari-api 22.0.0, and list latency.

Both APIs run as their own server process with one worker on the same embedded PostgreSQL in
the same run: Vigil's ``api`` function under functions-framework (gunicorn, one worker, 16
threads, noauth, a real HTTP event sink), masakari-api 22.0.0 from ``.venv-masakari`` (created
by scripts/masakari-venv; noauth2, fake RPC transport, its own database made with
``masakari-manage db sync``, and ``notification_delay_max = 0``: Masakari 22 otherwise sleeps
up to 5 s before each notification, so the comparison would measure that pause, not work). Rounds alternate between the two; the best round of each is
compared and the POST-throughput ratio printed. Then the 1,000- and 100-row lists are read from
Vigil with 100,000 notifications stored. Prints figures; asserts nothing about speed.

    .venv/bin/python bench/api_notifications.py [--clients 16] [--posts 1500] [--rounds 3]
                                                [--rows 100000] [--gets 100]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shared.db import get_engine, normalise_url, session_scope, utcnow
from shared.migrate import upgrade
from shared.models import Host, Segment
from vigil import localdb

ROOT = Path(__file__).resolve().parent.parent
MASAKARI_VENV = ROOT / ".venv-masakari"
HOSTS = 200

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


@dataclass
class Round:
    name: str
    accepted: int
    refused: dict[int, int]
    per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_post: float

    def line(self) -> str:
        refused = f", refused {self.refused}" if self.refused else ""
        return (
            f"  {self.name:<9} {self.per_second:7.1f} POST/s  p50 {self.p50_ms:6.1f} ms  "
            f"p99 {self.p99_ms:6.1f} ms  server CPU {self.cpu_ms_per_post:5.2f} ms/POST "
            f"({self.accepted} accepted{refused})"
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its children (gunicorn and oslo.service fork workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def notification_body(hostnames: list[str], i: int) -> dict:
    """One COMPUTE_HOST report; a host's reports are an hour apart, so none is a duplicate."""
    when = dt.datetime(2026, 1, 1) + dt.timedelta(hours=i // len(hostnames))
    return {
        "notification": {
            "type": "COMPUTE_HOST",
            "hostname": hostnames[i % len(hostnames)],
            "generated_time": when.isoformat(),
            "payload": {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"},
        }
    }


def measure_posts(
    name: str, url: str, hostnames: list[str], first: int, posts: int, clients: int, pid: int
) -> Round:
    counter = iter(range(first, first + posts))
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
            t = time.perf_counter()
            r = session.post(
                url + "/v1/notifications", json=notification_body(hostnames, i), timeout=120
            )
            with lock:
                latencies.append(time.perf_counter() - t)
                codes.append(r.status_code)

    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(clients)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_before
    accepted = codes.count(202)
    refused: dict[int, int] = {}
    for code in codes:
        if code != 202:
            refused[code] = refused.get(code, 0) + 1
    return Round(
        name,
        accepted,
        refused,
        accepted / elapsed,
        percentile(latencies, 0.5) * 1000,
        percentile(latencies, 0.99) * 1000,
        cpu / max(len(codes), 1) * 1000,
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


class Sink:
    """The event sink Vigil's api publishes to (a Knative broker answers 202 at once too)."""

    def __init__(self) -> None:
        self.received = 0

        @Request.application
        def app(request: Request) -> Response:
            request.get_data()
            self.received += 1
            return Response("", status=202)

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited; see {log}:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(requests.RequestException):  # not listening yet
            if requests.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise SystemExit(f"server at {url} not ready within {timeout}s; see {log}")


def start_vigil(database_url: str, sink_url: str, clients: int, workdir: Path) -> Server:
    port = localdb.free_port()
    log = workdir / "vigil-api.log"
    env = {
        **os.environ,
        "VIGIL_DATABASE_URL": database_url,
        "VIGIL_AUTH_STRATEGY": "noauth",
        "K_SINK": sink_url,
        "THREADS": str(clients),
        "WORKERS": "1",
    }
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "functions-framework"),
            "--target", "api", "--source", str(ROOT / "functions" / "api" / "main.py"),
            "--host", "127.0.0.1", "--port", str(port),
        ],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/healthcheck", process, log)
    return Server(url, process, log)


MASAKARI_CONF = """[DEFAULT]
auth_strategy = noauth2
masakari_api_listen = 127.0.0.1
masakari_api_listen_port = {port}
masakari_api_workers = 1
transport_url = fake:/
notification_delay_max = 0
[database]
connection = {url}
[taskflow]
connection = {url}
[oslo_messaging_notifications]
driver = noop
[wsgi]
api_paste_config = {paste}
"""


def start_masakari(database_url: str, workdir: Path) -> Server:
    """masakari-api 22.0.0 on its own database of the same PostgreSQL."""
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "masakari-venv")], check=True, stdout=subprocess.DEVNULL
    )
    port = localdb.free_port()
    conf = workdir / "masakari.conf"
    conf.write_text(
        MASAKARI_CONF.format(
            port=port,
            url=database_url,
            paste=MASAKARI_VENV / "etc" / "masakari" / "api-paste.ini",
        )
    )
    bin_dir = MASAKARI_VENV / "bin"
    subprocess.run(
        [str(bin_dir / "masakari-manage"), "--config-file", str(conf), "db", "sync"],
        check=True, capture_output=True,
    )  # fmt: skip
    log = workdir / "masakari-api.log"
    process = subprocess.Popen(
        [str(bin_dir / "masakari-api"), "--config-file", str(conf)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/v1", process, log)
    return Server(url, process, log)


def seed_masakari(url: str, database_url: str) -> list[str]:
    """A segment through Masakari's API; the hosts straight into its table (no Nova needed)."""
    reply = requests.post(
        url + "/v1/segments",
        json={"segment": {"name": "bench", "recovery_method": "auto", "service_type": "COMPUTE"}},
        timeout=60,
    )
    reply.raise_for_status()
    segment = reply.json()["segment"]["uuid"]
    names = [f"bench-{i:03d}" for i in range(HOSTS)]
    engine = create_engine(database_url.replace("+psycopg2", "+pg8000"))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO hosts (created_at, deleted, uuid, name, reserved, type, "
                "control_attributes, failover_segment_id, on_maintenance) "
                "VALUES (now(), 0, :uuid, :name, false, 'COMPUTE', '', :segment, false)"
            ),
            [{"uuid": str(uuid.uuid4()), "name": n, "segment": segment} for n in names],
        )
    engine.dispose()
    return names


def masakari_database(vigil_url: str) -> str:
    """A second database on the server Vigil uses, reached with psycopg2 as Masakari
    deployments on PostgreSQL usually are."""
    name = "masakari_bench"
    admin = create_engine(normalise_url(vigil_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    url = admin.url.set(database=name, drivername="postgresql+psycopg2")
    return url.render_as_string(hide_password=False)


def best(rounds: list[Round]) -> Round:
    return max(rounds, key=lambda r: r.per_second)


def compare_posts(args: argparse.Namespace, vigil_url: str, workdir: Path) -> None:
    sink = Sink()
    masakari_url = masakari_database(vigil_url)
    vigil = start_vigil(vigil_url, sink.url, args.clients, workdir)
    masakari = start_masakari(masakari_url, workdir)
    try:
        vigil_hosts = [f"bench-{i:03d}" for i in range(HOSTS)]
        masakari_hosts = seed_masakari(masakari.url, masakari_url)
        targets: list[tuple[str, Server, list[str]]] = [
            ("Vigil", vigil, vigil_hosts),
            ("Masakari", masakari, masakari_hosts),
        ]
        results: dict[str, list[Round]] = {"Vigil": [], "Masakari": []}
        first = 0
        for name, server, hosts in targets:  # warm-up: connections, caches, imports
            measure_posts(name, server.url, hosts, first, 200, args.clients, server.process.pid)
        first += 200
        print(f"POST /v1/notifications, {args.clients} clients, {args.posts} per round:")
        for round_no in range(args.rounds):
            order = targets if round_no % 2 == 0 else list(reversed(targets))
            for name, server, hosts in order:
                result = measure_posts(
                    name, server.url, hosts, first, args.posts, args.clients, server.process.pid
                )
                results[name].append(result)
                print(result.line())
            first += args.posts
        v, m = best(results["Vigil"]), best(results["Masakari"])
        print(
            f"best rounds: Vigil {v.per_second:.1f} POST/s (p99 {v.p99_ms:.0f} ms), Masakari "
            f"{m.per_second:.1f} POST/s (p99 {m.p99_ms:.0f} ms): ratio {v.per_second / m.per_second:.2f}x"
        )
        print(f"events received by Vigil's sink: {sink.received}")
    finally:
        vigil.stop()
        masakari.stop()
        sink.stop()


def list_latency(args: argparse.Namespace, vigil_url: str, workdir: Path) -> None:
    with get_engine().begin() as conn:
        conn.execute(
            text("TRUNCATE notifications, hosts, failover_segments RESTART IDENTITY CASCADE")
        )
    seed(args.rows)
    sink = Sink()
    vigil = start_vigil(vigil_url, sink.url, args.clients, workdir)
    try:
        measure_gets(vigil.url, "list (default: limit capped at 1000)", "", args.gets)
        measure_gets(vigil.url, "list limit=100", "?limit=100", args.gets)
        measure_gets(
            vigil.url,
            "list limit=100 marker=<middle id>",
            f"?limit=100&marker={args.rows // 2}",
            args.gets,
        )
        measure_gets(
            vigil.url, "list status=failed limit=100", "?status=failed&limit=100", args.gets
        )
    finally:
        vigil.stop()
        sink.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--posts", type=int, default=1500, help="POSTs per round and API")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000, help="0 skips the list figures")
    parser.add_argument("--gets", type=int, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = None
    if not os.environ.get("VIGIL_DATABASE_URL"):
        server = localdb.start(durable=False)
        os.environ["VIGIL_DATABASE_URL"] = server.url
    vigil_url = os.environ["VIGIL_DATABASE_URL"]
    upgrade(vigil_url)
    try:
        with tempfile.TemporaryDirectory(prefix="vigil-bench-") as workdir:
            seed(0)
            compare_posts(args, vigil_url, Path(workdir))
            if args.rows:
                list_latency(args, vigil_url, Path(workdir))
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
