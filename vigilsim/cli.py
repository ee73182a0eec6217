"""``vigil sim``: run a simulated region in the foreground, or break a running one.

vigil sim --hosts 8 --servers-per-host 10          # runs until Ctrl-C, prints where files are
vigil sim power-off compute-003 --url http://127.0.0.1:P
vigil sim faults nova --error-rate 0.1             # URL from VIGIL_SIM_URL when --url is absent
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

import requests

URL_ENV = "VIGIL_SIM_URL"


def _run(args: argparse.Namespace) -> int:
    from vigilsim.region import Region

    hosts = (
        [h.strip() for h in args.host_names.split(",") if h.strip()]
        if args.host_names
        else args.hosts
    )
    region = Region.start(
        hosts=hosts,
        servers_per_host=args.servers_per_host,
        time_scale=args.time_scale,
        port=args.port,
        workdir=args.workdir,
        instance_ha_url=args.instance_ha_url,
        service_down_time=args.service_down_time,
        evacuation_latency=args.evacuation_latency,
        rpc_response_timeout=args.rpc_response_timeout,
        node_monitor_grace=args.node_monitor_grace,
        host_capacity=args.host_capacity,
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(
        f"simulated region running: {len(region.hosts)} hosts, {len(region.model.servers)} servers, "
        f"time scale {args.time_scale}"
    )
    print(
        f"clouds.yaml:  {region.clouds_yaml}   (clouds: {region.cloud_name}, {region.cloud_name}-member)"
    )
    print(f"kubeconfig:   {region.kubeconfig}")
    print(f"keystone:     {region.keystone_url}")
    print(f"nova:         {region.nova_url}")
    print(f"kubernetes:   {region.kubernetes_url}")
    print(f"redfish:      {region.redfish_url_template}")
    print(f"control:      {region.control_url}")
    print(
        f"try:  OS_CLIENT_CONFIG_FILE={region.clouds_yaml} openstack --os-cloud {region.cloud_name} "
        "server list --all-projects"
    )
    print(
        f"      export {URL_ENV}={region.url}; vigil sim power-off {region.hosts[0] if region.hosts else 'HOST'}"
    )
    print("Ctrl-C stops it.", flush=True)
    try:
        done.wait()
    finally:
        region.stop()
    return 0


def _call(args: argparse.Namespace, operation: str, **kwargs) -> int:
    url = args.url or os.environ.get(URL_ENV)
    if not url:
        print(f"vigil sim: give --url or set {URL_ENV} to the region's base URL", file=sys.stderr)
        return 2
    try:
        if operation == "state":
            reply = requests.get(f"{url.rstrip('/')}/control/state", timeout=30)
        else:
            reply = requests.post(
                f"{url.rstrip('/')}/control/{operation}", json=kwargs, timeout=120
            )
    except requests.RequestException as exc:
        print(f"vigil sim: region at {url} not reachable: {exc}", file=sys.stderr)
        return 1
    body = (
        reply.json()
        if reply.headers.get("Content-Type", "").startswith("application/json")
        else reply.text
    )
    if reply.status_code >= 400:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else body
        print(f"vigil sim: {operation} refused ({reply.status_code}): {message}", file=sys.stderr)
        return 1
    result = body.get("result") if isinstance(body, dict) and "result" in body else body
    if result is not None:
        print(json.dumps(result, indent=2, default=str))
    return 0


def register(sub, db_sub) -> None:
    sim = sub.add_parser(
        "sim",
        help="run a simulated OpenStack region and Kubernetes cluster, or break one",
        description="Without a sub-command: run a region in the foreground.",
    )
    sim.add_argument(
        "--hosts", type=int, default=8, help="number of hosts compute-000.. (default 8)"
    )
    sim.add_argument("--host-names", help="comma-separated host names instead of --hosts")
    sim.add_argument("--servers-per-host", type=int, default=0)
    sim.add_argument("--time-scale", type=float, default=1.0, help="cloud seconds per real second")
    sim.add_argument("--port", type=int, default=0, help="HTTP port (default: a free one)")
    sim.add_argument("--workdir", help="where clouds.yaml and kubeconfig go (default: a temp dir)")
    sim.add_argument("--instance-ha-url", help="Vigil api URL for the catalog's instance-ha entry")
    sim.add_argument("--service-down-time", type=float, default=60)
    sim.add_argument("--evacuation-latency", type=float, default=5)
    sim.add_argument("--rpc-response-timeout", type=float, default=60)
    sim.add_argument("--node-monitor-grace", type=float, default=50)
    sim.add_argument("--host-capacity", type=int, default=200)
    sim.set_defaults(func=_run)

    ops = sim.add_subparsers(dest="sim_command", required=False, metavar="operation")

    def op(name: str, help_text: str, *positionals: str, build=None):
        parser = ops.add_parser(name, help=help_text)
        parser.add_argument("--url", help=f"region base URL (default ${URL_ENV})")
        for positional in positionals:
            parser.add_argument(positional)
        operation = name.replace("-", "_")

        def run(args):
            kwargs = build(args) if build else {p: getattr(args, p) for p in positionals}
            return _call(args, operation, **kwargs)

        parser.set_defaults(func=run)
        return parser

    op("power-off", "power a host off (heartbeats, Lease renewals and its networks stop)", "host")
    op("power-on", "power a host back on", "host")
    op("stop-service", "stop nova-compute or kubelet on a host", "host", "service")
    op("start-service", "start nova-compute or kubelet on a host", "host", "service")
    op("cut-network", "cut one network (management, tenant, storage) of a host", "host", "net")
    op("restore-network", "restore a cut network", "host", "net")
    op("taint-out-of-service", "apply node.kubernetes.io/out-of-service to a host's Node", "host")
    op("state", "print the region's URLs, clock and fault settings")
    down = op(
        "set-api-down",
        "make nova, kubernetes or keystone unreachable (--up to restore)",
        "api",
        build=lambda a: {"api": a.api, "down": not a.up},
    )
    down.add_argument("--up", action="store_true")
    faults = op(
        "inject-faults",
        "inject 5xx, timeouts and latency into one API",
        "api",
        build=lambda a: {
            "api": a.api,
            "error_rate": a.error_rate,
            "timeout_rate": a.timeout_rate,
            "latency": a.latency,
        },
    )
    faults.add_argument("--error-rate", type=float, default=0.0)
    faults.add_argument("--timeout-rate", type=float, default=0.0)
    faults.add_argument(
        "--latency", type=float, default=0.0, help="real seconds added to every request"
    )
