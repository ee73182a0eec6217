"""Reading the monitoring plane: Kubernetes Nodes and Leases, Nova compute services (§3.1-3.3).

Each reader makes one list call per cycle for all hosts and raises ``ChannelUnavailable`` when
its API cannot be reached in time, so the cycle can drop itself (partition check, §9.1).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any

from shared.clients import CloudConfigError, kubernetes_client, openstack_connection
from shared.settings import Settings

log = logging.getLogger(__name__)

OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service"


class ChannelUnavailable(RuntimeError):
    """A monitoring channel (kubernetes, nova, probes) could not be read this cycle."""

    def __init__(self, channel: str, reason: str):
        super().__init__(f"{channel} unreachable: {reason}")
        self.channel = channel
        self.reason = reason


@dataclass(frozen=True)
class NodeSignal:
    ready: str | None  # "True" | "False" | "Unknown" | None (no Ready condition)
    out_of_service: bool
    lease_renew_time: dt.datetime | None
    lease_age: float | None  # seconds, measured on the API server's clock


@dataclass(frozen=True)
class NovaSignal:
    state: str | None  # up | down
    status: str | None  # enabled | disabled
    forced_down: bool | None


def _naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _server_clock(headers) -> dt.datetime | None:
    """The API server's ``Date`` header: lease ages use its clock, not this pod's."""
    raw = headers.get("Date") if headers else None
    if not raw:
        return None
    return _naive_utc(email.utils.parsedate_to_datetime(raw))


def _parse_time(value: str | None) -> dt.datetime | None:
    return _naive_utc(dt.datetime.fromisoformat(value)) if value else None


def _node_fields(node: dict) -> tuple[str | None, bool]:
    """The Ready status and whether the out-of-service taint is set."""
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c.get("status") for c in conditions if c.get("type") == "Ready"), None)
    taints = (node.get("spec") or {}).get("taints") or []
    return ready, any(t.get("key") == OUT_OF_SERVICE_TAINT for t in taints)


def _renew_time(lease: dict) -> dt.datetime | None:
    return _parse_time((lease.get("spec") or {}).get("renewTime"))


def _signals(
    nodes: dict[str, tuple[str | None, bool]],
    renewals: dict[str, dt.datetime | None],
    now: dt.datetime,
) -> dict[str, NodeSignal]:
    signals: dict[str, NodeSignal] = {}
    for name, (ready, out_of_service) in nodes.items():
        renew = renewals.get(name)
        signals[name] = NodeSignal(
            ready=ready,
            out_of_service=out_of_service,
            lease_renew_time=renew,
            lease_age=(now - renew).total_seconds() if renew else None,
        )
    return signals


def kubernetes_configured(settings: Settings) -> bool:
    """A kubeconfig is named or the monitor runs in a cluster."""
    return bool(
        settings.kubernetes.kubeconfig
        or os.environ.get("KUBECONFIG")
        or os.environ.get("KUBERNETES_SERVICE_HOST")
    )


def _kube_errors():
    from kubernetes import client
    from urllib3.exceptions import HTTPError

    return client.ApiException, (HTTPError, OSError, CloudConfigError)


def _unavailable(exc: Exception) -> ChannelUnavailable:
    api_error, _ = _kube_errors()
    if isinstance(exc, api_error):
        return ChannelUnavailable("kubernetes", f"HTTP {exc.status} {exc.reason}")
    if isinstance(exc, (ValueError, KeyError, TypeError)):
        return ChannelUnavailable("kubernetes", f"unexpected body: {exc}")
    return ChannelUnavailable("kubernetes", str(exc))


def _list(settings: Settings):
    """One list of the selected Nodes and one of the node Leases, as plain JSON.

    Bodies are read without the client's model objects (``_preload_content=False``): building
    them for thousands of Nodes costs more than the rest of the cycle.
    """
    from kubernetes import client

    cfg = settings.kubernetes
    timeout = settings.safety.api_timeout
    api = kubernetes_client()
    nodes_response = client.CoreV1Api(api).list_node(
        label_selector=cfg.monitoring_node_labels or None,
        _request_timeout=timeout,
        _preload_content=False,
    )
    nodes = _body(nodes_response)
    leases_response = client.CoordinationV1Api(api).list_namespaced_lease(
        cfg.lease_namespace, _request_timeout=timeout, _preload_content=False
    )
    leases = _body(leases_response)
    return nodes, leases, _server_clock(leases_response.headers)


def _body(response) -> dict:
    """A JSON body, giving the connection back to the pool."""
    try:
        return json.loads(response.data)
    finally:
        response.release_conn()


def read_kubernetes(settings: Settings) -> tuple[dict[str, NodeSignal], dt.datetime]:
    """Ready condition, out-of-service taint and Lease age of every selected node, by one list
    of each; returns the signals by node name and the API server's time they were measured
    against."""
    api_error, transport = _kube_errors()
    try:
        nodes, leases, now = _list(settings)
        renewals = {lease["metadata"]["name"]: _renew_time(lease) for lease in leases["items"]}
        fields = {node["metadata"]["name"]: _node_fields(node) for node in nodes["items"]}
    except (api_error, *transport, ValueError, KeyError, TypeError) as exc:
        raise _unavailable(exc) from exc
    if now is None:
        raise ChannelUnavailable(
            "kubernetes", "API server sent no Date header to measure Lease age"
        )
    return _signals(fields, renewals, now), now


class KubernetesWatch:
    """Nodes and Leases listed once, then kept current by two watches, for one tick's rounds.

    Each round after the first costs one small request (``GET /version``): it proves the API
    server answers and gives its clock, against which the Lease ages are measured. A watch
    that ends is resumed from its last resourceVersion; one that fails (410 Expired, a broken
    stream) makes the next round list again.
    """

    WATCH_SECONDS = 60  # server-side length of one watch request

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._nodes: dict[str, tuple[str | None, bool]] = {}
        self._renewals: dict[str, dt.datetime | None] = {}
        self._broken: str | None = "not listed yet"
        self._threads: list[threading.Thread] = []
        self._responses: dict[str, Any] = {}
        self.lists = 0

    def read(self) -> tuple[dict[str, NodeSignal], dt.datetime]:
        api_error, transport = _kube_errors()
        if self._broken is not None:
            if self.lists:
                log.info("Kubernetes watch restarted by a new list: %s", self._broken)
            self._restart()
            try:
                nodes, leases, now = _list(self.settings)
                with self._lock:
                    self._nodes = {n["metadata"]["name"]: _node_fields(n) for n in nodes["items"]}
                    self._renewals = {
                        lease["metadata"]["name"]: _renew_time(lease) for lease in leases["items"]
                    }
                    self._broken = None
            except (api_error, *transport, ValueError, KeyError, TypeError) as exc:
                self._broken = str(exc)
                raise _unavailable(exc) from exc
            self.lists += 1
            self._start("nodes", nodes["metadata"]["resourceVersion"])
            self._start("leases", leases["metadata"]["resourceVersion"])
        else:
            now = self._server_time()
        if now is None:
            raise ChannelUnavailable(
                "kubernetes", "API server sent no Date header to measure Lease age"
            )
        with self._lock:
            return _signals(dict(self._nodes), dict(self._renewals), now), now

    def _server_time(self) -> dt.datetime | None:
        from kubernetes import client

        api_error, transport = _kube_errors()
        try:
            response = client.VersionApi(kubernetes_client()).get_code(
                _request_timeout=self.settings.safety.api_timeout, _preload_content=False
            )
            response.release_conn()
        except (api_error, *transport) as exc:
            raise _unavailable(exc) from exc
        return _server_clock(response.headers)

    def _start(self, kind: str, version: str) -> None:
        thread = threading.Thread(
            target=self._follow, args=(kind, version), name=f"monitor-watch-{kind}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _open(self, kind: str, version: str):
        from kubernetes import client

        cfg = self.settings.kubernetes
        api = kubernetes_client()
        common = {
            "watch": True,
            "resource_version": version,
            "timeout_seconds": self.WATCH_SECONDS,
            "allow_watch_bookmarks": True,
            "_preload_content": False,
            "_request_timeout": (
                self.settings.safety.api_timeout,
                self.WATCH_SECONDS + self.settings.safety.api_timeout,
            ),
        }
        if kind == "nodes":
            return client.CoreV1Api(api).list_node(
                label_selector=cfg.monitoring_node_labels or None, **common
            )
        return client.CoordinationV1Api(api).list_namespaced_lease(cfg.lease_namespace, **common)

    def _follow(self, kind: str, version: str) -> None:
        """Apply one resource's watch events until stopped; a failure marks the view broken."""
        try:
            while not self._stop.is_set():
                response = self._open(kind, version)
                self._responses[kind] = response
                try:
                    for line in _lines(response):
                        version = self._apply(kind, json.loads(line)) or version
                finally:
                    response.release_conn()
        except Exception as exc:  # noqa: BLE001 - any failure: the next round lists again
            if not self._stop.is_set():
                with self._lock:
                    self._broken = f"{kind} watch failed: {exc}"

    def _apply(self, kind: str, event: dict) -> str | None:
        obj = event.get("object") or {}
        if event.get("type") == "ERROR":
            raise RuntimeError(obj.get("message") or "watch error")
        meta = obj.get("metadata") or {}
        if event.get("type") != "BOOKMARK":
            name = meta["name"]
            with self._lock:
                if kind == "nodes":
                    if event["type"] == "DELETED":
                        self._nodes.pop(name, None)
                    else:
                        self._nodes[name] = _node_fields(obj)
                elif event["type"] == "DELETED":
                    self._renewals.pop(name, None)
                else:
                    self._renewals[name] = _renew_time(obj)
        return meta.get("resourceVersion")

    def _restart(self) -> None:
        self.close()
        self._stop = threading.Event()
        self._threads = []

    def close(self) -> None:
        """Stop the watches: their sockets are shut down, so the readers see the stream end.

        Closing the response instead would wait for the lock its reader holds.
        """
        self._stop.set()
        for response in list(self._responses.values()):
            sock = getattr(getattr(response, "connection", None), "sock", None)
            if sock is None:
                continue
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError as exc:  # already closed by the server or the reader
                log.debug("shutting down a watch stream: %s", exc)
        self._responses = {}


def _lines(response):
    """The newline-separated JSON events of a watch stream."""
    pending = b""
    for chunk in response.stream(65536, decode_content=True):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield line


def read_nova(settings: Settings) -> dict[str, NovaSignal]:
    """Every nova-compute service, by host, in one ``GET /os-services`` (2.11: ``forced_down``)."""
    try:
        conn = openstack_connection()
        response = conn.compute.get(
            "/os-services",
            params={"binary": "nova-compute"},
            microversion="2.11",
            timeout=settings.safety.api_timeout,
            raise_exc=False,
        )
    except Exception as exc:  # keystoneauth connect/timeout failures, config errors
        raise ChannelUnavailable("nova", str(exc)) from exc
    if response.status_code != 200:
        raise ChannelUnavailable("nova", f"GET /os-services answered {response.status_code}")
    try:
        services = response.json()["services"]
    except (ValueError, KeyError) as exc:
        raise ChannelUnavailable("nova", "GET /os-services returned no 'services' list") from exc
    return {
        service["host"]: NovaSignal(
            state=service.get("state"),
            status=service.get("status"),
            forced_down=service.get("forced_down"),
        )
        for service in services
    }
