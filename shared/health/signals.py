"""Reading the monitoring plane: Kubernetes Nodes and Leases, Nova compute services (§3.1-3.3).

Each reader makes one list call per cycle for all hosts and raises ``ChannelUnavailable`` when
its API cannot be reached in time, so the cycle can drop itself (partition check, §9.1).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from dataclasses import dataclass
from typing import Any

from shared.clients import CloudConfigError, kubernetes_client, openstack_connection
from shared.settings import Settings

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


def _items(response) -> list[dict]:
    """A list body's ``items``, giving the connection back to the pool."""
    try:
        return json.loads(response.data)["items"]
    finally:
        response.release_conn()


def read_kubernetes(settings: Settings) -> tuple[dict[str, NodeSignal], dt.datetime]:
    """Ready condition, out-of-service taint and Lease age of every selected node.

    Returns the signals by node name and the API server's time they were measured against.
    Bodies are read as plain JSON (``_preload_content=False``): building the client's model
    objects for thousands of Nodes costs more than the rest of the cycle.
    """
    from kubernetes import client
    from urllib3.exceptions import HTTPError

    cfg = settings.kubernetes
    timeout = settings.safety.api_timeout
    try:
        api = kubernetes_client()
        nodes_response = client.CoreV1Api(api).list_node(
            label_selector=cfg.monitoring_node_labels or None,
            _request_timeout=timeout,
            _preload_content=False,
        )
        nodes = _items(nodes_response)
        # _preload_content=False: the raw urllib3 response, whose Date header is the clock
        leases_response: Any = client.CoordinationV1Api(api).list_namespaced_lease(
            cfg.lease_namespace, _request_timeout=timeout, _preload_content=False
        )
        leases = _items(leases_response)
    except client.ApiException as exc:
        raise ChannelUnavailable("kubernetes", f"HTTP {exc.status} {exc.reason}") from exc
    except (HTTPError, OSError, CloudConfigError) as exc:
        raise ChannelUnavailable("kubernetes", str(exc)) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ChannelUnavailable("kubernetes", f"unexpected list body: {exc}") from exc
    now = _server_clock(leases_response.headers)
    if now is None:
        raise ChannelUnavailable(
            "kubernetes", "API server sent no Date header to measure Lease age"
        )
    renewals = {
        lease["metadata"]["name"]: _parse_time((lease.get("spec") or {}).get("renewTime"))
        for lease in leases
    }
    signals: dict[str, NodeSignal] = {}
    for node in nodes:
        name = node["metadata"]["name"]
        conditions = (node.get("status") or {}).get("conditions") or []
        ready = next((c.get("status") for c in conditions if c.get("type") == "Ready"), None)
        taints = (node.get("spec") or {}).get("taints") or []
        renew = renewals.get(name)
        signals[name] = NodeSignal(
            ready=ready,
            out_of_service=any(t.get("key") == OUT_OF_SERVICE_TAINT for t in taints),
            lease_renew_time=renew,
            lease_age=(now - renew).total_seconds() if renew else None,
        )
    return signals, now


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
