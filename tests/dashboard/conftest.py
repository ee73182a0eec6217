"""A real headless Chromium (Debian's, driven by Playwright) started once per test session,
and a simulated host failure wired as in tests/monitor/test_end_to_end.py: region, api,
recover (behind a broker) and monitor, with the dashboard proxy in front of the api."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.monitor.conftest import Rig, monitor_rig  # noqa: F401 (fixture used by tests here)
from tests.recover.broker import Broker
from tests.recover.conftest import FAST
from tests.servers import ServedFunction, serve_function
from vigil.cloudauth import InstanceHA, connect
from vigil.dashboard.server import DashboardServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """Missing Chromium or Playwright is a failure that says how to install them."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `bash scripts/bootstrap test` as root "
            "(it runs `apt-get install -y chromium`), or `sudo apt-get install -y chromium`"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: run `bash scripts/bootstrap test`")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    yield opened
    context.close()


class Ticker:
    """Delivers monitor ticks in the background while the test watches the browser."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopped.is_set():
            self.rig.tick()

    def start(self) -> Ticker:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(30)


@dataclass
class Failure:
    """A region whose hosts sit in one segment registered through the api."""

    rig: Rig
    api: ServedFunction
    recover: ServedFunction
    broker: Broker
    ha: InstanceHA
    dashboard: DashboardServer
    segment_uuid: str
    host_uuids: dict[str, str]

    def ticking(self) -> Ticker:
        return Ticker(self.rig).start()


@pytest.fixture
def host_failure(monitor_rig) -> Iterator[Failure]:  # noqa: F811
    """Keystone-authenticated api found through the region's catalog; evacuations take 5 s."""
    recover = serve_function("recover")
    api = serve_function("api")
    broker = Broker(target=recover.url).start()
    dashboard = None
    try:
        rig = monitor_rig(
            hosts=4,
            servers_per_host=3,
            register_hosts=False,
            instance_ha_url=f"{api.url}/v1",
            evacuation_latency=500,
            env={**FAST, "VIGIL_SINK": broker.url},
        )
        ha = connect(rig.region.cloud_name, config_file=rig.region.clouds_yaml)
        segment = ha.session.post(
            f"{ha.root}/v1/segments",
            json={
                "segment": {"name": "rack-1", "service_type": "COMPUTE", "recovery_method": "auto"}
            },
        ).json()["segment"]
        host_uuids = {}
        for host in rig.region.hosts:
            created = ha.session.post(
                f"{ha.root}/v1/segments/{segment['uuid']}/hosts",
                json={"host": {"name": host, "type": "COMPUTE", "control_attributes": "SSH"}},
            )
            host_uuids[host] = created.json()["host"]["uuid"]
        dashboard = DashboardServer(ha).start()
        yield Failure(rig, api, recover, broker, ha, dashboard, segment["uuid"], host_uuids)
    finally:
        if dashboard is not None:
            dashboard.stop()
        broker.stop()
        api.stop()
        recover.stop()
