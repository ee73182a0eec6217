"""A PostgreSQL restart under load: 503 ``serviceUnavailable`` with Retry-After, never a 500,
and every accepted notification is still there afterwards (issue 13).

The test runs its own embedded PostgreSQL (vigil/localdb.py) so it can stop and start it.
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from sqlalchemy import select

from shared.db import dispose_engines, session_scope
from shared.migrate import upgrade
from shared.models import Notification
from shared.settings import get_settings
from tests.api.conftest import add_host, add_segment
from tests.servers import serve_function
from vigil import localdb

CLIENTS = 6


@dataclass
class Restartable:
    """An embedded PostgreSQL on a fixed folder and port, so it can come back as it was."""

    port: int
    data_dir: Path | None = None
    server: localdb.LocalDatabase | None = None

    def start(self) -> None:
        """The first start makes the folder (as localdb does for its own); later ones reuse it."""
        self.server = localdb.start(self.data_dir, self.port, durable=False)
        self.data_dir = self.server.data_dir
        self.server._owned_dir = False

    def stop_fast(self) -> None:
        """PostgreSQL's fast shutdown: sessions are ended, then the server exits."""
        assert self.server is not None and self.server.process is not None
        self.server.process.send_signal(signal.SIGINT)
        self.server.process.wait(60)
        self.server.process = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture
def restartable(served, noauth, monkeypatch):
    db = Restartable(localdb.free_port())
    db.start()
    assert db.server is not None
    upgrade(db.server.url)
    monkeypatch.setenv("VIGIL_DATABASE_URL", db.server.url)
    get_settings.cache_clear()
    yield db
    db.stop()
    dispose_engines()
    get_settings.cache_clear()


@dataclass
class Load:
    """Clients posting notifications and reading lists until told to stop."""

    url: str
    hostname: str
    replies: list[tuple[str, int, dict, dict]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._client, daemon=True) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        return threads

    def _client(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            body = {
                "notification": {
                    "type": "PROCESS",
                    "hostname": self.hostname,
                    "generated_time": "2026-05-01T10:00:00",
                    "payload": {"process_name": f"p-{uuid.uuid4()}", "event": "STOPPED"},
                }
            }
            for method, path, data in (
                ("POST", "/v1/notifications", body),
                ("GET", "/v1/notifications?limit=5", None),
            ):
                r = session.request(method, self.url + path, json=data, timeout=60)
                reply = r.json() if r.content else {}
                with self.lock:
                    self.replies.append((method, r.status_code, reply, dict(r.headers)))

    def count(self, status: int) -> int:
        with self.lock:
            return sum(1 for _, code, _, _ in self.replies if code == status)


def wait_for(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def dead_letter() -> tuple[dict, bytes]:
    event = CloudEvent(
        {
            "type": "org.openstack.vigil.internal.recovery.requested",
            "source": "/vigil/api",
            "id": str(uuid.uuid4()),
            "knativeerrordest": "http://recover.vigil.svc.cluster.local",
            "knativeerrorcode": "503",
        },
        {"reason": "created"},
    )
    headers, body = to_binary(event)
    return dict(headers), body


def assert_unavailable(r: requests.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["serviceUnavailable"]["code"] == 503
    assert int(r.headers["Retry-After"]) > 0


@pytest.fixture
def sink_function(restartable):
    """The dead-letter sink function, on the same database."""
    server = serve_function("deadletters")
    yield server
    server.stop()


def test_database_restart_under_load_is_503_never_500_and_loses_nothing(
    served, restartable, sink_function
):
    host = add_host(add_segment("seg"), "compute-0")
    load = Load(served.url, host.name)
    threads = load.run()
    try:
        wait_for(lambda: load.count(202) >= 20, "notifications accepted before the restart")
        restartable.stop_fast()

        # While the database is down, the api and the dead-letter sink both say "retry later".
        headers, body = dead_letter()
        assert_unavailable(requests.post(sink_function.url, headers=headers, data=body))
        assert_unavailable(requests.get(served.url + "/v1/notifications"))
        wait_for(lambda: load.count(503) >= 10, "503s from the clients while the database is down")

        restartable.start()
        accepted_before = load.count(202)
        wait_for(lambda: load.count(202) >= accepted_before + 20, "acceptance after the restart")
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(60)

    statuses = {code for _, code, _, _ in load.replies}
    assert statuses <= {200, 202, 503}, [r for r in load.replies if r[1] not in (200, 202, 503)][:3]
    for _, code, reply, reply_headers in load.replies:
        if code == 503:
            assert reply["serviceUnavailable"]["code"] == 503
            assert int(reply_headers["Retry-After"]) > 0
    accepted = {
        reply["notification"]["notification_uuid"]
        for method, code, reply, _ in load.replies
        if method == "POST" and code == 202
    }
    with session_scope() as session:
        stored = set(session.scalars(select(Notification.notification_uuid)))
    assert accepted <= stored
