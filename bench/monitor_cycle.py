"""Monitor benchmark: sampling rounds at 5,000 hosts, and detection latency from power-off to report.

Runs the real ``Monitor`` rounds and ``run_tick`` against the simulated region and an embedded PostgreSQL; counts
database statements with a SQLAlchemy ``before_cursor_execute`` listener (one statement = one
round trip on pg8000). Prints figures; asserts nothing about speed.

    .venv/bin/python bench/monitor_cycle.py [--hosts 5000] [--rounds 8] [--latency-hosts 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, func, select

from shared.clients import reset_clients
from shared.db import get_engine, session_scope
from shared.health.signals import read_kubernetes, read_nova
from shared.migrate import upgrade
from shared.models import HealthSample, Notification
from shared.settings import get_settings
from tests.monitor.conftest import register as monitor_register
from vigil import localdb
from vigilsim.region import Region


class StatementCounter:
    """Statements sent (``before_cursor_execute``) and transactions committed."""

    def __init__(self, engine):
        self.count = 0
        self.commits = 0
        self.seconds = 0.0
        self._started = 0.0
        event.listen(engine, "before_cursor_execute", self._seen)
        event.listen(engine, "after_cursor_execute", self._done)
        event.listen(engine, "commit", self._committed)

    def _seen(self, *args) -> None:
        self.count += 1
        self._started = time.perf_counter()

    def _done(self, *args) -> None:
        self.seconds += time.perf_counter() - self._started

    def _committed(self, *args) -> None:
        self.commits += 1


def register(names: list[str], segment_size: int = 100) -> None:
    """Hosts in segments of ``segment_size``, stored as the API would store them."""
    monitor_register(
        {
            f"bench-{start}": names[start : start + segment_size]
            for start in range(0, len(names), segment_size)
        }
    )


def configure(region, url: str, workdir: str) -> None:
    os.environ.update(
        {
            "VIGIL_DATABASE_URL": url,
            "VIGIL_CLOUDS_YAML": region.clouds_yaml,
            "VIGIL_CLOUD": region.cloud_name,
            "VIGIL_KUBERNETES__KUBECONFIG": region.kubeconfig,
            "VIGIL_HOST__MONITORING_INTERVAL": "1",
            "VIGIL_FENCING__DRIVER": "redfish",
            "VIGIL_FENCING__REDFISH_URL_TEMPLATE": region.redfish_url_template,
            "VIGIL_SAFETY__API_TIMEOUT": "30",
        }
    )
    os.environ.pop("K_SINK", None)
    os.environ.pop("VIGIL_SINK", None)
    get_settings.cache_clear()
    reset_clients()


def reset(url: str) -> None:
    from sqlalchemy import text

    from shared.models import Base

    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def serve_region(hosts: int, workdir: str, commands, replies) -> None:
    """The simulated region in its own process, as the real APIs are remote to the monitor:
    the monitor's rounds then pay only for their own work, not for serving the region."""
    with Region.start(hosts=hosts, time_scale=1, workdir=workdir) as region:
        replies.put(
            {
                "clouds_yaml": region.clouds_yaml,
                "cloud_name": region.cloud_name,
                "kubeconfig": region.kubeconfig,
                "redfish_url_template": region.redfish_url_template,
                "hosts": region.hosts,
            }
        )
        mark = 0
        while (command := commands.get()) != "stop":
            log = region.request_log[mark:]
            mark = len(region.request_log)
            if command == "calls":
                replies.put(
                    {api: sum(1 for r in log if r[0] == api) for api in {r[0] for r in log}}
                )


def bench_cycle(url: str, hosts: int, rounds: int, spacing: float) -> None:
    """One tick's rounds through one ``Monitor``: the first lists Nodes and Leases and reads
    the settled states; the rest follow the watches and keep states in memory."""
    import multiprocessing
    import statistics
    from types import SimpleNamespace

    from shared.health.cycle import Monitor

    spawn = multiprocessing.get_context("spawn")
    commands, replies = spawn.Queue(), spawn.Queue()
    with tempfile.TemporaryDirectory() as workdir:
        child = spawn.Process(target=serve_region, args=(hosts, workdir, commands, replies))
        child.start()
        try:
            info = replies.get(timeout=600)
            region = SimpleNamespace(**info)
            configure(region, url, workdir)
            reset(url)
            register(region.hosts)
            counter = StatementCounter(get_engine(url))
            settings = get_settings()
            walls, cpus, statements, calls = [], [], [], []
            with Monitor(settings) as monitor:
                for number in range(1, rounds + 1):
                    counter.count = counter.commits = 0
                    counter.seconds = 0.0
                    commands.put("mark")
                    started, cpu = time.perf_counter(), time.process_time()
                    result = monitor.round()
                    wall = time.perf_counter() - started
                    cpu = time.process_time() - cpu
                    commands.put("calls")
                    by_api = dict(sorted(replies.get(timeout=60).items()))
                    print(
                        f"round {number} at {hosts} hosts: {wall:.2f} s wall ({cpu:.2f} s CPU), "
                        f"{counter.count} "
                        f"database statements + {counter.commits} commits ({counter.seconds:.2f} s "
                        f"in statements), API calls {by_api}, {result.samples} samples, "
                        f"{result.stored} stored, dropped={result.dropped}"
                    )
                    if number > 1:
                        walls.append(wall)
                        cpus.append(cpu)
                        statements.append(counter.count)
                        calls.append(sum(by_api.values()))
                    time.sleep(spacing)
            print(
                f"rounds 2-{rounds} at {hosts} hosts: median {statistics.median(walls):.2f} s "
                f"wall (max {max(walls):.2f} s; CPU median {statistics.median(cpus):.2f} s), "
                "database statements "
                f"{min(statements)}-{max(statements)}, API calls {min(calls)}-{max(calls)} "
                "per round"
            )
            started = time.perf_counter()
            read_kubernetes(settings)
            kube = time.perf_counter() - started
            started = time.perf_counter()
            read_nova(settings)
            nova = time.perf_counter() - started
            print(
                f"for comparison, one full list: Kubernetes Nodes+Leases {kube:.2f} s, "
                f"Nova services {nova:.2f} s"
            )
            with session_scope() as session:
                rows = session.scalar(select(func.count()).select_from(HealthSample))
            print(f"health_samples rows after {rounds} rounds: {rows}")
        finally:
            commands.put("stop")
            child.join(60)


def bench_latency(url: str, hosts: int, time_scale: float) -> None:
    from shared.health.cycle import run_tick

    with (
        tempfile.TemporaryDirectory() as workdir,
        Region.start(hosts=hosts, time_scale=time_scale, workdir=workdir) as region,
    ):
        configure(region, url, workdir)
        reset(url)
        names = region.hosts
        register(names)
        for _ in range(2):
            run_tick()
            time.sleep(1)
        victim = names[len(names) // 2]
        # Measured to the notification's stored time, not to the end of the tick that made it.
        off_real = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        region.power_off(victim)
        ticks = 0
        while True:
            ticks += 1
            run_tick()
            with session_scope() as session:
                found = session.scalar(select(func.min(Notification.generated_time)))
            if found or ticks > 30:
                break
            time.sleep(1)
        real = ((found or dt.datetime.now(dt.UTC).replace(tzinfo=None)) - off_real).total_seconds()
        cloud = real * time_scale
        settings = get_settings()
        print(
            f"detection latency at {hosts} hosts (interval 1 s = {time_scale:g} cloud s, lease "
            f"grace {settings.kubernetes.lease_grace_seconds} s, suspect "
            f"{settings.kubernetes.suspect_seconds} s, Nova service_down_time 60 s): "
            f"{cloud:.0f} cloud s ({real:.1f} real s, {ticks} ticks) from power-off to "
            f"{'notification' if found else 'NO notification'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--spacing", type=float, default=2.0, help="real seconds between rounds")
    parser.add_argument("--latency-hosts", type=int, default=50)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--time-scale", type=float, default=20.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    server = localdb.start(durable=False)
    try:
        upgrade(server.url)
        bench_cycle(server.url, args.hosts, args.rounds, args.spacing)
        if not args.skip_latency:
            bench_latency(server.url, args.latency_hosts, args.time_scale)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
