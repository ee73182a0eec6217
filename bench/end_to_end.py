"""End-to-end benchmark: a host loses power → notification → all its servers ACTIVE elsewhere.

The simulated region at real time (time scale 1), one host with N ``HA_Enabled`` servers,
evacuations of 5 s each, an embedded PostgreSQL, the monitor's rounds running in this process
at their defaults, and the real ``recover`` function behind a broker stand-in. Three paths:

* fenced: Redfish configured; the monitor suspects the host once its Lease is older than the
  suspect threshold and proves it off with one power read in the same round;
* taint: the fencing choice `taint` (no power driver); the Node gets the ``out-of-service`` taint when the power goes;
* no proof: the BMC does not answer; today's rule (Lease grace and Nova down) reports the
  host ``UNKNOWN``, which recovery ignores, so nothing moves.

The limit for the proven paths is measured in the same run: the time until the Lease turns
suspect (suspect threshold + lease renewal phase, the last renewal's offset from the
power-off) + one power read + ceil(N / threads) × evacuation. Masakari's pipeline is computed:
hostmonitor interval 60 s + the engine's 180 s wait + ceil(N / 3) × evacuation. Prints
figures; asserts nothing. The last line is for scripts (fenced path).

    .venv/bin/python bench/end_to_end.py [--servers 50] [--evacuation 5]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from shared.clients import reset_clients  # noqa: E402
from shared.db import session_scope  # noqa: E402
from shared.health.cycle import Monitor  # noqa: E402
from shared.migrate import upgrade  # noqa: E402
from shared.models import Base, Notification  # noqa: E402
from shared.settings import get_settings  # noqa: E402
from tests.monitor.conftest import register as monitor_register  # noqa: E402
from tests.recover.broker import Broker  # noqa: E402
from tests.servers import serve_function  # noqa: E402
from vigil import localdb  # noqa: E402
from vigilsim.region import Region  # noqa: E402

FAILED = "compute-000"
HEALTHY = 3
MASAKARI_INTERVAL = 60
MASAKARI_WAIT = 180
MASAKARI_THREADS = 3


def register(names: list[str]) -> None:
    """A clean database holding one segment of ``names``, as the API would store it."""
    with session_scope() as session:
        session.execute(
            text(f"TRUNCATE {', '.join(t.name for t in Base.metadata.sorted_tables)} CASCADE")
        )
    monitor_register({"bench-e2e": names})


class Rounds(threading.Thread):
    """The monitor's sampling rounds, as a tick runs them (``Monitor.run``)."""

    def __init__(self):
        super().__init__(name="bench-monitor", daemon=True)
        self.stop = threading.Event()

    def run(self) -> None:
        with Monitor(get_settings()) as monitor:
            monitor.run(float("inf"), self.stop)


def power_read_seconds(region: Region) -> float:
    """One Redfish power-state read, as the monitor makes it (median of five)."""
    url = region.redfish_url_template.format(host=FAILED)
    times = []
    with requests.Session() as http:
        for _ in range(5):
            started = time.perf_counter()
            http.get(url, timeout=5).raise_for_status()
            times.append(time.perf_counter() - started)
    return sorted(times)[2]


def run_path(path: str, db_url: str, servers: int, evacuation: float, wait: float) -> dict:
    region = Region.start(
        hosts=HEALTHY + 1,
        time_scale=1.0,
        evacuation_latency=evacuation,
        host_capacity=servers + 10,
        redfish=path != "no proof",
    )
    broker = None
    recover = serve_function("recover")
    rounds = Rounds()
    try:
        env = {
            "VIGIL_DATABASE_URL": db_url,
            "VIGIL_CLOUDS_YAML": region.clouds_yaml,
            "VIGIL_CLOUD": region.cloud_name,
            "VIGIL_KUBERNETES__KUBECONFIG": region.kubeconfig,
            "VIGIL_FENCING__DRIVER": "taint" if path == "taint" else "redfish",
            "VIGIL_FENCING__REDFISH_URL_TEMPLATE": region.redfish_url_template,
        }
        for name in ("VIGIL_HOST__MONITORING_INTERVAL", "K_SINK"):
            os.environ.pop(name, None)
        os.environ.update(env)
        broker = Broker(target=recover.url).start()
        os.environ["VIGIL_SINK"] = broker.url
        get_settings.cache_clear()
        reset_clients()
        settings = get_settings()
        register(region.hosts)
        victims = [
            region.boot_server(FAILED, metadata={"HA_Enabled": "True"}) for _ in range(servers)
        ]
        bmc = power_read_seconds(region) if path != "no proof" else 0.0
        rounds.start()
        time.sleep(2 * settings.host.monitoring_interval + 1)  # settle every host alive

        renewed = region.node(FAILED)["lease_renew_time"]
        off_at = time.monotonic()
        phase = (renewed - region.now()).total_seconds()  # last renewal, relative to power-off
        region.power_off(FAILED)
        if path == "taint":
            region.taint_out_of_service(FAILED)
        notified = active = None
        host_status = None
        deadline = off_at + wait
        while time.monotonic() < deadline and active is None:
            if notified is None:
                with session_scope() as session:
                    row = session.scalars(select(Notification).order_by(Notification.id)).first()
                if row is not None:
                    notified = time.monotonic() - off_at
                    host_status = row.payload.get("host_status")
                    if host_status != "NORMAL":
                        deadline = min(deadline, time.monotonic() + 20)
            elif all(
                (s := region.server(v))["host"] != FAILED and s["vm_state"] == "active"
                for v in victims
            ):
                active = time.monotonic() - off_at
            time.sleep(0.25)
        with session_scope() as session:
            reports = session.scalar(select(func.count()).select_from(Notification))
        threads = settings.host_failure_recovery_threads
        detection_limit = settings.kubernetes.suspect_seconds + phase + bmc
        return {
            "path": path,
            "interval": settings.host.monitoring_interval,
            "suspect": settings.kubernetes.suspect_seconds,
            "phase": phase,
            "bmc": bmc,
            "threads": threads,
            "notified": notified,
            "host_status": host_status,
            "reports": reports,
            "active": active,
            "detection_limit": detection_limit,
            "limit": detection_limit + math.ceil(servers / threads) * evacuation,
        }
    finally:
        rounds.stop.set()
        rounds.join(30)
        if broker is not None:
            broker.stop()
        recover.stop()
        region.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--evacuation", type=float, default=5.0)
    parser.add_argument(
        "--wait", type=float, default=150.0, help="real seconds to wait for each path"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    masakari = (
        MASAKARI_INTERVAL
        + MASAKARI_WAIT
        + math.ceil(args.servers / MASAKARI_THREADS) * args.evacuation
    )
    server = localdb.start(durable=False)
    results = []
    try:
        upgrade(server.url)
        for path in ("fenced", "taint", "no proof"):
            r = run_path(path, server.url, args.servers, args.evacuation, args.wait)
            results.append(r)
            notified = f"{r['notified']:.1f} s" if r["notified"] is not None else "none"
            if r["active"] is not None:
                moved = (
                    f"all {args.servers} ACTIVE elsewhere {r['active']:.1f} s, limit "
                    f"{r['limit']:.1f} s (detection limit {r['detection_limit']:.1f} s), ratio "
                    f"{r['active'] / r['limit']:.2f}, {masakari / r['active']:.1f}x faster than "
                    f"Masakari's {masakari:.0f} s; notification -> all ACTIVE "
                    f"{r['active'] - r['notified']:.1f} s vs "
                    f"{r['limit'] - r['detection_limit']:.0f} s of evacuation waves"
                )
            else:
                moved = f"servers not moved within {args.wait:.0f} s"
            print(
                f"{r['path']:>8}: interval {r['interval']} s, suspect {r['suspect']} s, lease "
                f"renewal phase {r['phase']:+.1f} s, power read {r['bmc'] * 1000:.0f} ms, "
                f"{r['threads']} threads; power-off -> notification {notified} "
                f"({r['reports']} report(s), host_status {r['host_status']}); {moved}"
            )
    finally:
        server.stop()
    print(
        f"Masakari's pipeline at defaults (computed): {MASAKARI_INTERVAL} s hostmonitor interval "
        f"+ {MASAKARI_WAIT} s wait + ceil({args.servers}/{MASAKARI_THREADS}) x "
        f"{args.evacuation:g} s = {masakari:.0f} s"
    )
    fenced = results[0]
    if fenced["active"] is None or fenced["notified"] is None:
        print("end-to-end: fenced path did not finish")
        sys.exit(1)
    print(
        f"end-to-end: {fenced['active']:.1f} s to all ACTIVE, detection "
        f"{fenced['notified']:.1f} s, ratio {fenced['active'] / fenced['limit']:.2f}"
    )


if __name__ == "__main__":
    main()
