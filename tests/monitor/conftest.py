"""The monitor on a simulated region: hosts registered in PostgreSQL, the function served by
functions-framework, ticks delivered as CloudEvents over HTTP, emitted events captured by a
local HTTP receiver."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shared.clients import reset_clients
from shared.db import session_scope
from shared.events import PING_TYPE
from shared.health.signals import read_kubernetes, read_nova
from shared.models import HealthSample, Host, HostMonitorState, Notification, Segment
from shared.settings import get_settings
from tests.servers import serve_function

TIME_SCALE = 100  # cloud seconds per real second
TICK_SPACING = 0.6  # real seconds between ticks: more than half the 1 s interval


class EventReceiver:
    """A sink for Vigil's CloudEvents (binary or structured mode), kept in order of arrival."""

    def __init__(self):
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @Request.application
    def _app(self, request: Request) -> Response:
        if request.content_type and request.content_type.startswith("application/cloudevents+json"):
            event = json.loads(request.get_data())
        else:
            event = {
                k[3:].lower(): v for k, v in request.headers.items() if k.lower().startswith("ce-")
            }
            event["data"] = json.loads(request.get_data() or b"null")
        with self._lock:
            self.events.append(event)
        return Response(status=202)

    def of_type(self, suffix: str) -> list[dict]:
        with self._lock:
            return [e for e in self.events if e.get("type", "").endswith(suffix)]

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@dataclass
class Rig:
    region: object
    url: str
    sink: EventReceiver
    hosts: dict[str, str] = field(default_factory=dict)  # name -> segment name
    last_tick: float = 0.0

    def tick(self, structured: bool = False, spaced: bool = True) -> requests.Response:
        """Deliver one PingSource tick over HTTP, as Knative would, TICK_SPACING after the last."""
        wait = self.last_tick + TICK_SPACING - time.monotonic()
        if spaced and wait > 0:
            time.sleep(wait)
        self.last_tick = time.monotonic()
        event_id = str(uuid.uuid4())
        attrs = {
            "specversion": "1.0",
            "type": PING_TYPE,
            "id": event_id,
            "source": "/apis/v1/namespaces/vigil/pingsources/monitor-tick",
        }
        if structured:
            body = json.dumps({**attrs, "datacontenttype": "application/json", "data": {}})
            headers = {"Content-Type": "application/cloudevents+json"}
        else:
            body = "{}"
            headers = {
                "Content-Type": "application/json",
                **{f"ce-{k}": v for k, v in attrs.items()},
            }
        response = requests.post(self.url, data=body, headers=headers, timeout=60)
        assert response.status_code < 300, response.text
        return response

    def ticks_until(self, condition: Callable[[], object], limit: int = 15) -> int:
        """Tick every TICK_SPACING seconds until ``condition()`` holds; return the tick count."""
        for count in range(1, limit + 1):
            self.tick()
            if condition():
                return count
        raise AssertionError(f"condition not met after {limit} ticks")

    def run_ticks(self, count: int) -> None:
        for _ in range(count):
            self.tick()

    def notifications(self, host: str | None = None) -> list[Notification]:
        with session_scope() as session:
            query = select(Notification).order_by(Notification.id)
            rows = session.scalars(query).all()
            if host:
                uuids = {h.uuid for h in session.scalars(select(Host).where(Host.name == host))}
                rows = [r for r in rows if r.source_host_uuid in uuids]
            return rows

    def samples(self, host: str) -> list[HealthSample]:
        with session_scope() as session:
            return session.scalars(
                select(HealthSample).where(HealthSample.host_name == host).order_by(HealthSample.id)
            ).all()

    def all_samples(self) -> list[HealthSample]:
        with session_scope() as session:
            return session.scalars(select(HealthSample).order_by(HealthSample.id)).all()

    def state(self, host: str) -> HostMonitorState | None:
        with session_scope() as session:
            return session.get(HostMonitorState, host)


def register(segments: dict[str, list[str]]) -> dict[str, str]:
    """Create failover segments and their hosts as the API would store them."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    placed = {}
    with session_scope() as session:
        for name, members in segments.items():
            segment = Segment(
                uuid=str(uuid.uuid4()),
                name=name,
                service_type="COMPUTE",
                recovery_method="auto",
                created_at=now,
            )
            session.add(segment)
            session.flush()
            for host in members:
                session.add(
                    Host(
                        uuid=str(uuid.uuid4()),
                        name=host,
                        type="COMPUTE",
                        control_attributes="SSH",
                        failover_segment_id=segment.uuid,
                        created_at=now,
                    )
                )
                placed[host] = name
    return placed


@pytest.fixture
def monitor_rig(db, region_factory, monkeypatch, tmp_path):
    """``monitor_rig(hosts=8, segments=None, env={...}, env_factory=None, **region_kw)`` → a Rig.

    ``env_factory(region)`` returns settings that depend on the started region.

    Default: one segment holding every host; fencing through the region's Redfish service;
    1 s sampling interval; the sim at 100× so a cloud minute passes in 0.6 s.
    """
    started = []

    def start(
        hosts: int = 8,
        segments: dict[str, list[str]] | None = None,
        env: dict[str, str] | None = None,
        env_factory=None,
        register_hosts: bool = True,
        **region_kw,
    ) -> Rig:
        region_kw.setdefault("time_scale", TIME_SCALE)
        region = region_factory(hosts=hosts, **region_kw)
        sink = EventReceiver()
        settings = {
            "VIGIL_CLOUDS_YAML": region.clouds_yaml,
            "VIGIL_CLOUD": region.cloud_name,
            "VIGIL_KUBERNETES__KUBECONFIG": region.kubeconfig,
            "VIGIL_SINK": sink.url,
            "VIGIL_HOST__MONITORING_INTERVAL": "1",
            "VIGIL_HOST__STEADY_SAMPLE_INTERVAL": "0",
            "VIGIL_FENCING__DRIVER": "redfish",
            "VIGIL_FENCING__REDFISH_URL_TEMPLATE": region.redfish_url_template,
            "VIGIL_FENCING__RETRY_MAX": "0",
            "VIGIL_SAFETY__API_TIMEOUT": "2",
            **(env or {}),
            **(env_factory(region) if env_factory else {}),
        }
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("K_SINK", raising=False)
        get_settings.cache_clear()
        reset_clients()
        names = region.hosts
        placed = register(segments or {"segment-1": list(names)}) if register_hosts else {}
        # Authenticate and connect once up front: a cold first cycle would stretch the first
        # tick period and make the next ticks take several samples each.
        if get_settings().kubernetes.kubeconfig:
            read_kubernetes(get_settings())
        read_nova(get_settings())
        served = serve_function("monitor")
        started.append((served, sink))
        return Rig(region, served.url, sink, placed)

    yield start
    for served, sink in started:
        served.stop()
        sink.stop()
    get_settings.cache_clear()
    reset_clients()
