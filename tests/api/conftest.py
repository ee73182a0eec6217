"""The api function served on a real port, on the real test PostgreSQL."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests

from shared.api import auth, policy
from shared.clients import reset_clients
from shared.db import session_scope, utcnow
from shared.events import flush as flush_events
from shared.models import Host, Segment
from shared.settings import get_settings
from tests.servers import serve_function


def _reset() -> None:
    get_settings.cache_clear()
    reset_clients()
    auth.cache.clear()
    policy.reset()


@pytest.fixture(scope="session")
def served(database_url):
    server = serve_function("api")
    yield server
    server.stop()


@pytest.fixture
def noauth(monkeypatch):
    monkeypatch.setenv("VIGIL_AUTH_STRATEGY", "noauth")
    monkeypatch.delenv("K_SINK", raising=False)
    monkeypatch.delenv("VIGIL_SINK", raising=False)
    _reset()
    yield
    _reset()


class Api:
    """A tiny client for the served api: JSON in, ``requests.Response`` out."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers.update(headers or {})

    def request(self, method: str, path: str, body=None, version: str | None = None, **kw):
        headers = dict(kw.pop("headers", {}))
        if version:
            headers["OpenStack-API-Version"] = f"instance-ha {version}"
        if body is not None:
            kw["json"] = body
        return self.session.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def api(db, served, noauth):
    """Admin client in noauth mode on an empty database."""
    return Api(served.url)


class Sink:
    """A real HTTP event sink recording every CloudEvent it receives.

    The served api sends its events from a background sender in this process; reading
    ``events`` first waits until that sender has delivered everything it holds.
    """

    def __init__(self) -> None:
        from cloudevents.http import from_http
        from werkzeug.serving import make_server
        from werkzeug.wrappers import Request, Response

        self.received: list = []
        self.status = 202

        @Request.application
        def app(request):
            self.received.append(from_http(dict(request.headers), request.get_data()))
            return Response("", status=self.status)

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def events(self) -> list:
        assert flush_events(), "the api's event sender did not drain"
        return self.received

    def types(self) -> list[str]:
        return [e["type"].rsplit("vigil.", 1)[-1] for e in self.events]

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def sink(monkeypatch, noauth):
    receiver = Sink()
    monkeypatch.setenv("K_SINK", receiver.url)
    yield receiver
    receiver.stop()


def add_segment(name: str = "seg", **kw) -> Segment:
    """Rows for tests that need a segment or host without going through Nova."""
    with session_scope() as session:
        row = Segment(
            uuid=str(uuid.uuid4()),
            name=name,
            service_type="COMPUTE",
            recovery_method=kw.pop("recovery_method", "auto"),
            created_at=utcnow().replace(microsecond=0),
            deleted=0,
            **kw,
        )
        session.add(row)
    return row


def add_host(segment: Segment, name: str, **kw) -> Host:
    with session_scope() as session:
        row = Host(
            uuid=str(uuid.uuid4()),
            name=name,
            type="COMPUTE",
            control_attributes="",
            failover_segment_id=segment.uuid,
            created_at=utcnow().replace(microsecond=0),
            deleted=0,
            **kw,
        )
        session.add(row)
    return row


@pytest.fixture(scope="session")
def sim(served):
    """One simulated region for the api tests; its Keystone catalog lists the served api."""
    from vigilsim import Region

    region = Region.start(hosts=4, time_scale=100, instance_ha_url=served.url + "/v1")
    yield region
    region.stop()


def use_region(monkeypatch, region) -> None:
    """Vigil's own credentials (clouds.yaml entry ``vigil``) point at the simulated region."""
    monkeypatch.setenv("VIGIL_CLOUDS_YAML", region.clouds_yaml)
    monkeypatch.setenv("VIGIL_CLOUD", "vigil")
    _reset()
