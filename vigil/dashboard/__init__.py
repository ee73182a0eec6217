"""``vigil dashboard``: Vigil's live dashboard on localhost, for any Vigil deployment.

Authenticates with the operator's clouds.yaml like the openstack CLI, finds the instance-ha
endpoint in the catalog (or takes --endpoint), and serves the dashboard page on a loopback
port, forwarding the page's read-only API calls with the operator's token.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from vigil import cloudauth

DEFAULT_PORT = 8765


def run(args: argparse.Namespace) -> int:
    from vigil.dashboard.server import DashboardServer
    from vigil.dev import quiet_warnings

    quiet_warnings()
    try:
        api = cloudauth.connect(args.os_cloud, args.endpoint)
    except cloudauth.CloudError as exc:
        print(f"vigil dashboard: {exc}", file=sys.stderr)
        return 2
    try:
        server = DashboardServer(api, port=args.port).start()
    except OSError as exc:
        print(f"vigil dashboard: cannot listen on port {args.port}: {exc}", file=sys.stderr)
        return 2
    print(f"Vigil dashboard for {api.root} (cloud {api.cloud}) at {server.url}", flush=True)
    print("Ctrl-C stops it.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way to stop it
            stop.wait()
    finally:
        server.stop()
    return 0


def register(sub, db_sub) -> None:
    parser = sub.add_parser(
        "dashboard",
        help="serve Vigil's live dashboard on localhost for the cloud in clouds.yaml",
        description=__doc__.split("\n\n")[1],
    )
    cloudauth.add_arguments(parser)
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"local port (default {DEFAULT_PORT}; 0 = any free)",
    )
    parser.set_defaults(func=run)
