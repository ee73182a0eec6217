"""Local wiring benchmark: the broker's delivery overhead, and `vigil demo` against its limit.

1. Router: N recovery-trigger events POSTed straight to a subscriber, then through the local
   broker (202, then delivery per the recover Trigger); prints per-event medians and the ratio.
2. Demo: runs `vigil demo` as the README's first command does (without the install step) and
   prints its wall time against the acceptance limit of 180 s.
Prints figures; asserts nothing about speed.

    .venv/bin/python bench/local_wiring.py [--events 300] [--demo-runs 1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from cloudevents.conversion import to_binary  # noqa: E402
from cloudevents.http import CloudEvent  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

from vigil.wiring import QuietRequestHandler, Router, load_manifests  # noqa: E402

DEMO_LIMIT = 180.0


def _subscriber():
    seen = threading.Semaphore(0)

    def app(environ, start_response):
        Request(environ).get_data()
        seen.release()
        return Response(status=200)(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}", seen


def _event(i: int):
    return to_binary(
        CloudEvent(
            {
                "type": "org.openstack.vigil.internal.recovery.requested",
                "source": "/vigil/bench",
                "id": f"bench-{i}",
            },
            {"notification_uuid": f"bench-{i}", "type": "VM", "reason": "created"},
        )
    )


def bench_router(events: int) -> None:
    server, url, seen = _subscriber()
    router = Router(load_manifests(), {"recover": url, "api": url}).start()
    session = requests.Session()
    try:
        direct, brokered = [], []
        for i in range(events):
            headers, body = _event(i)
            start = time.perf_counter()
            session.post(url, headers=headers, data=body, timeout=10)
            seen.acquire(timeout=10)
            direct.append(time.perf_counter() - start)
        for i in range(events):
            headers, body = _event(events + i)
            start = time.perf_counter()
            session.post(router.broker_urls["vigil"], headers=headers, data=body, timeout=10)
            seen.acquire(timeout=10)
            brokered.append(time.perf_counter() - start)
    finally:
        router.stop()
        server.shutdown()
    d, b = statistics.median(direct) * 1000, statistics.median(brokered) * 1000
    print(
        f"router: {events} events; median direct {d:.2f} ms, through the broker {b:.2f} ms "
        f"(ratio {b / d:.1f}x); {events / sum(brokered):.0f} events/s sequential through the broker"
    )


def bench_demo(runs: int) -> None:
    for run in range(runs):
        start = time.monotonic()
        done = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "vigil"), "demo"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - start
        verdict = "all recovered" if done.returncode == 0 else f"exit {done.returncode}"
        print(
            f"demo run {run + 1}: {wall:.1f} s wall ({verdict}); limit {DEMO_LIMIT:.0f} s, "
            f"ratio {wall / DEMO_LIMIT:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--demo-runs", type=int, default=1)
    args = parser.parse_args()
    bench_router(args.events)
    bench_demo(args.demo_runs)


if __name__ == "__main__":
    main()
