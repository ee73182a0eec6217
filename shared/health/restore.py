"""The way back: a recovered host returns to service by itself once it is healthy (opt-in).

Off by default, as in Masakari, where an operator clears ``forced_down``, re-enables the compute
service and clears ``on_maintenance`` by hand. With ``[host_return] enabled``, each monitor
round looks at the hosts Vigil itself put on maintenance (their latest COMPUTE_HOST recovery
finished and nobody changed the host since) that have settled alive for the hold period and are
not flapping, and checks them live: Node Ready, a fresh Lease, the BMC (when there is one) says
on; a host watched through Nova alone (no Node) needs its BMC to say on. Then, in Nova 34's
order (recovery.md §15.1): clear ``forced_down`` — Nova refuses until the host's nova-compute
has restarted, which is retried next round — wait until the service is seen ``up``, enable it
if Vigil disabled it (judged by the disable reason), and only then clear ``on_maintenance``.
Enabling a service Nova still counts down would leave the host unschedulable ("No valid host")
until its nova-compute restarted again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import events
from shared.clients import CloudConfigError, kubernetes_client
from shared.db import db_now, session_scope, utcnow
from shared.health.sampling import nova_only_patterns, watched_through_nova
from shared.health.signals import kubernetes_configured
from shared.models import Host, HostMonitorState, Notification, Segment
from shared.power import Fence, PowerError, power_fence
from shared.recovery.lifecycle import host_payload
from shared.recovery.nova import Nova, NovaError
from shared.settings import Settings

log = logging.getLogger(__name__)

OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service"


@dataclass(frozen=True)
class Candidate:
    name: str
    uuid: str
    updated_at: dt.datetime | None


class NotYet(Exception):
    """The host is not back yet; the reason is logged and the next round looks again."""


def return_recovered_hosts(settings: Settings) -> list[str]:
    """Return every recovered host that is healthy again; the names returned this round."""
    if not settings.host_return.enabled:
        return []
    with session_scope() as session:
        candidates = _candidates(session, settings)
    if not candidates:
        return []
    try:
        nova = Nova()
        fence = power_fence(settings)
    except (NovaError, CloudConfigError, PowerError) as exc:
        log.warning("way back: no host returned this round: %s", exc)
        return []
    returned = []
    for host in candidates:
        try:
            _check_alive(settings, fence, host.name)
            steps = _return_in_nova(settings, nova, host.name)
        except NotYet as why:
            log.info("host %s not returned to service yet: %s", host.name, why)
            continue
        except (NovaError, PowerError, CloudConfigError) as exc:
            log.warning("host %s not returned to service this round: %s", host.name, exc)
            continue
        if _clear_maintenance(host):
            steps.append("on_maintenance cleared")
            log.warning("host %s returned to service: %s", host.name, ", ".join(steps))
            returned.append(host.name)
    return returned


def _candidates(session: Session, settings: Settings) -> list[Candidate]:
    """Hosts Vigil put on maintenance, settled alive for the hold period, not flapping."""
    now = db_now(session)
    since = now - dt.timedelta(seconds=settings.host_return.hold_seconds)
    rows = session.execute(
        select(Host.name, Host.uuid, Host.updated_at)
        .join(HostMonitorState, HostMonitorState.host_name == Host.name)
        .where(
            Host.deleted == 0,
            Host.on_maintenance.is_(True),
            HostMonitorState.settled_state == "alive",
            HostMonitorState.settled_since <= since,
            (HostMonitorState.flapping_until.is_(None)) | (HostMonitorState.flapping_until <= now),
        )
    ).all()
    if not rows:
        return []
    latest: dict[str, Any] = {}
    for row in session.execute(
        select(Notification.source_host_uuid, Notification.status, Notification.updated_at)
        .where(
            Notification.source_host_uuid.in_([r.uuid for r in rows]),
            Notification.type == "COMPUTE_HOST",
            Notification.deleted == 0,
        )
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    ):
        latest.setdefault(row.source_host_uuid, row)  # newest first: keep each host's first
    chosen = []
    for row in rows:
        recovery = latest.get(row.uuid)
        if recovery is None or recovery.status != "finished":
            continue  # not Vigil's recovery, or not finished: the operator decides
        if row.updated_at and recovery.updated_at and row.updated_at > recovery.updated_at:
            continue  # changed by someone after the recovery: theirs now
        chosen.append(Candidate(row.name, row.uuid, row.updated_at))
    return chosen


def _check_alive(settings: Settings, fence: Fence | None, name: str) -> None:
    """Raise NotYet unless the host is healthy by every signal the monitor watches it with.

    A host with a selected Node needs it Ready, untainted, with a fresh Lease, and the BMC (if
    any) saying on. A host watched through Nova alone (``nova_only_hosts``) has only its BMC
    to say it is powered on; Nova's ``up`` is checked on the way back itself.
    """
    node = _selected_node(settings, name) if kubernetes_configured(settings) else None
    if node is None:
        if not watched_through_nova(nova_only_patterns(settings), name):
            raise NotYet("no Kubernetes Node is selected for it")
        if fence is None:
            raise NotYet("it has no Node and no BMC to prove it powered on")
    else:
        _check_node(settings, node, name)
    if fence is not None and fence.power_state(name) != "on":
        raise NotYet("its BMC reports it powered off")


def _selected_node(settings: Settings, name: str) -> dict | None:
    """The host's Node when the monitor's label selector picks it, else None."""
    from kubernetes import client

    with _kubernetes_answers():
        reply = client.CoreV1Api(kubernetes_client()).list_node(
            label_selector=settings.kubernetes.monitoring_node_labels or None,
            field_selector=f"metadata.name={name}",
            _request_timeout=settings.safety.api_timeout,
            _preload_content=False,
        )
        items = _json(reply)[0].get("items") or []
    return items[0] if items else None


def _check_node(settings: Settings, node: dict, name: str) -> None:
    from kubernetes import client

    with _kubernetes_answers():
        lease, server_time = _json(
            client.CoordinationV1Api(kubernetes_client()).read_namespaced_lease(
                name,
                settings.kubernetes.lease_namespace,
                _request_timeout=settings.safety.api_timeout,
                _preload_content=False,
            )
        )
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c.get("status") for c in conditions if c.get("type") == "Ready"), None)
    if ready != "True":
        raise NotYet(f"its Node is not Ready ({ready})")
    if any(
        t.get("key") == OUT_OF_SERVICE_TAINT for t in (node.get("spec") or {}).get("taints") or []
    ):
        raise NotYet("its Node still carries the out-of-service taint")
    renewed = (lease.get("spec") or {}).get("renewTime")
    if not renewed or server_time is None:
        raise NotYet("its Lease has no renewal")
    age = (server_time - _naive(dt.datetime.fromisoformat(renewed))).total_seconds()
    if age > settings.kubernetes.lease_grace_seconds:
        raise NotYet(f"its Lease is {age:.0f} s old")


@contextlib.contextmanager
def _kubernetes_answers() -> Iterator[None]:
    """Kubernetes refusing or unreachable means not yet, never an error of the round."""
    from kubernetes import client
    from urllib3.exceptions import HTTPError

    try:
        yield
    except client.ApiException as exc:
        raise NotYet(
            f"Kubernetes answered {exc.status} {exc.reason} for its Node or Lease"
        ) from exc
    except (HTTPError, OSError, CloudConfigError) as exc:
        raise NotYet(f"Kubernetes unreachable: {exc}") from exc


def _json(response) -> tuple[dict, dt.datetime | None]:
    """The body and the API server's Date (Lease ages use its clock, not this pod's)."""
    try:
        body = json.loads(response.data)
    finally:
        response.release_conn()
    date = response.headers.get("Date")
    return body, _naive(email.utils.parsedate_to_datetime(date)) if date else None


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _return_in_nova(settings: Settings, nova: Nova, name: str) -> list[str]:
    """Unforce, see the service up, enable (if Vigil disabled it); what was done, in order."""
    steps: list[str] = []
    service = nova.service(name)
    if service.get("forced_down"):
        try:
            nova.update_service(service, name, "nova-compute", forced_down=False)
        except NovaError as exc:
            if exc.status is not None and exc.status < 500:
                raise NotYet(
                    f"Nova keeps it forced down until nova-compute restarts ({exc})"
                ) from exc
            raise
        steps.append("forced_down cleared")
        service = nova.service(name)
    if service.get("state") != "up":
        raise NotYet(
            f"Nova counts its nova-compute {service.get('state')}"
            + (f" ({', '.join(steps)})" if steps else "")
        )
    reason = settings.host_failure.service_disable_reason
    if service.get("status") == "disabled":
        if service.get("disabled_reason") == reason:
            nova.update_service(service, name, "nova-compute", status="enabled")
            steps.append("compute service enabled")
        else:
            steps.append(f"compute service left disabled ({service.get('disabled_reason')!r})")
    return steps


def _clear_maintenance(candidate: Candidate) -> bool:
    """Clear ``on_maintenance`` unless the host changed meanwhile; ``host.update.*`` around it."""
    with session_scope() as session:
        host = session.scalar(
            select(Host).where(Host.uuid == candidate.uuid, Host.deleted == 0).with_for_update()
        )
        if host is None or not host.on_maintenance or host.updated_at != candidate.updated_at:
            return False
        segment = session.scalar(select(Segment).where(Segment.uuid == host.failover_segment_id))
        events.emit("host.update.start", "monitor", host.uuid, host_payload(host, segment))
        host.on_maintenance = False
        host.updated_at = utcnow()
        session.flush()
        changed = host_payload(host, segment)
    events.emit("host.update.end", "monitor", changed["uuid"], changed)
    return True
