"""Simulated-region benchmark: requests/s of Nova server list and show at 5,000 hosts / 50,000 servers.

The region runs in its own process pinned to ONE core (``vigil sim``); the load generator runs in
this process on the other core(s), with keep-alive connections in a few threads. Prints figures
and the ratio against the 500 requests/s floor the issue sets; asserts nothing.

    .venv/bin/python bench/sim_throughput.py [--hosts 5000] [--servers-per-host 10] [--seconds 5] [--threads 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FLOOR = 500.0  # requests/s the issue requires


def start_region(hosts: int, per_host: int, core: int) -> tuple[subprocess.Popen, dict]:
    workdir = tempfile.mkdtemp(prefix="vigilsim-bench-")
    vigil = Path(sys.executable).parent / "vigil"
    proc = subprocess.Popen(
        [
            str(vigil),
            "sim",
            "--hosts",
            str(hosts),
            "--servers-per-host",
            str(per_host),
            "--host-capacity",
            str(max(200, per_host * 4)),
            "--workdir",
            workdir,
        ],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )
    info = {}
    for line in proc.stdout:
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
        if line.startswith("Ctrl-C"):
            break
    return proc, info


def token(keystone_url: str) -> str:
    host, _, path = keystone_url.split("//", 1)[1].partition("/")
    conn = http.client.HTTPConnection(host)
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": "admin",
                        "domain": {"name": "Default"},
                        "password": "vigil-sim-admin",
                    }
                },
            },
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
        }
    }
    conn.request(
        "POST",
        f"/{path}/v3/auth/tokens?nocatalog",
        json.dumps(body),
        {"Content-Type": "application/json"},
    )
    reply = conn.getresponse()
    reply.read()
    return reply.getheader("X-Subject-Token")


def get_json(nova_url: str, auth: str, path: str):
    host, _, base = nova_url.split("//", 1)[1].partition("/")
    conn = http.client.HTTPConnection(host)
    conn.request(
        "GET",
        f"/{base}{path}",
        headers={"X-Auth-Token": auth, "OpenStack-API-Version": "compute 2.96"},
    )
    reply = conn.getresponse()
    return json.loads(reply.read())


def load(
    url: str, auth: str, paths: list[str], seconds: float, threads: int
) -> tuple[float, list[float]]:
    """Keep-alive GETs below ``url`` over ``threads`` connections for ``seconds``; (requests/s, latencies)."""
    host, _, base = url.split("//", 1)[1].partition("/")
    headers = {"X-Auth-Token": auth, "OpenStack-API-Version": "compute 2.96"}
    latencies: list[float] = []
    errors = []
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(seed: int):
        rng = random.Random(seed)
        conn = http.client.HTTPConnection(host)
        mine = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            conn.request("GET", f"/{base}{rng.choice(paths)}", headers=headers)
            reply = conn.getresponse()
            reply.read()
            if reply.status != 200:
                errors.append(reply.status)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - started
    if errors:
        print(f"  !! {len(errors)} non-200 replies: {sorted(set(errors))}")
    return len(latencies) / elapsed, latencies


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--servers-per-host", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    cores = sorted(os.sched_getaffinity(0))
    region_core = cores[0]
    if len(cores) > 1:
        os.sched_setaffinity(0, set(cores[1:]))
    started = time.monotonic()
    proc, info = start_region(args.hosts, args.servers_per_host, region_core)
    boot = time.monotonic() - started
    try:
        nova_url = info["nova"]
        auth = token(info["keystone"])
        print(
            f"region: {args.hosts} hosts, {args.hosts * args.servers_per_host} servers, process pinned to cores "
            f"{sorted(os.sched_getaffinity(proc.pid))}; ready in {boot:.1f} s (process start included)"
        )
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss = int(status.split("VmRSS:")[1].split()[0]) // 1024
        print(f"region resident memory: {rss} MiB")
        rng = random.Random(7)
        hosts = [f"compute-{i:03d}" for i in range(args.hosts)]
        sample = [rng.choice(hosts) for _ in range(200)]
        ids = []
        for h in sample[:50]:
            ids += [
                s["id"]
                for s in get_json(nova_url, auth, f"/servers?all_tenants=1&host={h}")["servers"]
            ]
        scenarios = [
            ("server show  GET /servers/{id}", [f"/servers/{i}" for i in ids]),
            (
                "server list  GET /servers/detail?all_tenants=1&host=H (10 servers)",
                [f"/servers/detail?all_tenants=1&host={h}" for h in sample],
            ),
            (
                "server list  GET /servers?all_tenants=1&host=H",
                [f"/servers?all_tenants=1&host={h}" for h in sample],
            ),
        ]
        print(f"load: {args.threads} keep-alive connections, {args.seconds:.0f} s per scenario\n")
        print(f"{'scenario':70} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs 500/s':>9}")
        for name, paths in scenarios:
            rate, lat = load(nova_url, auth, paths, args.seconds, args.threads)
            print(
                f"{name:70} {rate:8.0f} {pct(lat, 0.5):8.2f} {pct(lat, 0.99):8.2f} {rate / FLOOR:8.2f}x"
            )
        print()
        for name, path in [
            (
                "whole-region page GET /servers/detail?all_tenants=1 (1,000 servers)",
                "/servers/detail?all_tenants=1",
            ),
            (
                "GET /os-services?binary=nova-compute (every service)",
                "/os-services?binary=nova-compute",
            ),
        ]:
            rate, lat = load(nova_url, auth, [path], min(args.seconds, 3.0), 1)
            print(f"{name:70} {rate:8.1f} {pct(lat, 0.5):8.2f} ms median")
        kube = info["kubernetes"]
        for name, path in [
            ("GET /api/v1/nodes (every Node)", "/api/v1/nodes"),
            (
                "GET kube-node-lease leases (every Lease)",
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            ),
            ("GET /api/v1/nodes/H (one Node)", f"/api/v1/nodes/{sample[0]}"),
        ]:
            rate, lat = load(kube, auth, [path], min(args.seconds, 3.0), 1)
            print(f"{name:70} {rate:8.1f} {pct(lat, 0.5):8.2f} ms median")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
