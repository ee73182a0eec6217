"""Monitor benchmark: one cycle at 5,000 hosts, and detection latency from power-off to report.

Runs the real ``run_tick`` against the simulated region and an embedded PostgreSQL; counts
database statements with a SQLAlchemy ``before_cursor_execute`` listener (one statement = one
round trip on pg8000). Prints figures; asserts nothing about speed.

    .venv/bin/python bench/monitor_cycle.py [--hosts 5000] [--cycles 3] [--latency-hosts 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, func, select

from shared.clients import reset_clients
from shared.db import get_engine, session_scope
from shared.health.signals import read_kubernetes, read_nova
from shared.migrate import upgrade
from shared.models import HealthSample, Host, Notification, Segment
from shared.settings import get_settings
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
    """Hosts in segments of ``segment_size``, bulk-inserted as the API would store them."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with session_scope() as session:
        for start in range(0, len(names), segment_size):
            seg = Segment(
                uuid=str(uuid.uuid4()),
                name=f"bench-{start}",
                service_type="COMPUTE",
                recovery_method="auto",
                created_at=now,
            )
            session.add(seg)
            session.flush()
            session.add_all(
                Host(
                    uuid=str(uuid.uuid4()),
                    name=n,
                    type="COMPUTE",
                    control_attributes="SSH",
                    failover_segment_id=seg.uuid,
                    created_at=now,
                )
                for n in names[start : start + segment_size]
            )


def configure(region: Region, url: str, workdir: str) -> None:
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


def bench_cycle(url: str, hosts: int, cycles: int) -> None:
    from shared.health.cycle import run_round

    with (
        tempfile.TemporaryDirectory() as workdir,
        Region.start(hosts=hosts, time_scale=1, workdir=workdir) as region,
    ):
        configure(region, url, workdir)
        reset(url)
        register(region.hosts)
        counter = StatementCounter(get_engine(url))
        settings = get_settings()
        for number in range(1, cycles + 1):
            counter.count = counter.commits = 0
            counter.seconds = 0.0
            started = time.perf_counter()
            result = run_round(settings)
            wall = time.perf_counter() - started
            print(
                f"cycle {number} at {hosts} hosts: {wall:.2f} s wall, {counter.count} database "
                f"statements + {counter.commits} commits ({counter.seconds:.2f} s in statements), "
                f"{result.samples} samples, "
                f"dropped={result.dropped}"
            )
        started = time.perf_counter()
        read_kubernetes(settings)
        kube = time.perf_counter() - started
        started = time.perf_counter()
        read_nova(settings)
        nova = time.perf_counter() - started
        print(
            f"of which reading the plane: Kubernetes Nodes+Leases {kube:.2f} s, "
            f"Nova services {nova:.2f} s"
        )
        with session_scope() as session:
            rows = session.scalar(select(func.count()).select_from(HealthSample))
        print(f"health_samples rows after {cycles} cycles: {rows}")


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
        off_cloud, off_real = region.now(), time.perf_counter()
        region.power_off(victim)
        ticks = 0
        while True:
            ticks += 1
            run_tick()
            with session_scope() as session:
                found = session.scalar(select(func.count()).select_from(Notification))
            if found or ticks > 30:
                break
            time.sleep(1)
        cloud = (region.now() - off_cloud).total_seconds()
        real = time.perf_counter() - off_real
        settings = get_settings()
        print(
            f"detection latency at {hosts} hosts (interval 1 s = {time_scale:g} cloud s, lease "
            f"grace {settings.kubernetes.lease_grace_seconds} s, Nova service_down_time 60 s): "
            f"{cloud:.0f} cloud s ({real:.1f} real s, {ticks} ticks) from power-off to "
            f"{'notification' if found else 'NO notification'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--latency-hosts", type=int, default=50)
    parser.add_argument("--time-scale", type=float, default=20.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    server = localdb.start(durable=False)
    try:
        upgrade(server.url)
        bench_cycle(server.url, args.hosts, args.cycles)
        bench_latency(server.url, args.latency_hosts, args.time_scale)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
