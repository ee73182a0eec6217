"""Failover capacity, vSphere HA's admission control: can a segment absorb its largest host?

Figures come from Placement, not Nova's hypervisor view: since compute API 2.88 the
``os-hypervisors`` resource no longer reports vCPU, memory or disk figures, and only Placement
knows the allocation ratios and reserved amounts the scheduler really applies. A provider's
free amount of a class is ``(total - reserved) * allocation_ratio - used``. What a failed host
would need comes from Nova's server listing (the flavor embedded since compute 2.47) for the
servers a host failure evacuates: every server with ``evacuate_all_instances``, else the
HA-enabled ones.

The segment is sufficient when every such server of its largest host (the one needing the most
vCPUs, then memory, then disk) fits, first-fit by size, into the free room of the segment's
other usable hosts: enabled, up and not dead or on maintenance, plus its free reserved hosts.
Summed spare room is reported too, but fragmentation is judged per host, as the scheduler would.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from keystoneauth1 import exceptions as ksa_exc
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from shared import errors, segments
from shared.clients import CloudConfigError, openstack_connection
from shared.db import db_now, session_scope
from shared.events import emit
from shared.health.jobs import CAPACITY_JOB
from shared.models import Host, HostMonitorState, JobRun, Segment
from shared.recovery.host_tasks import truthy
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)

CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB")
FLAVOR_KEYS = {"VCPU": "vcpus", "MEMORY_MB": "ram", "DISK_GB": "disk"}
PLACEMENT_VERSION = "placement 1.14"
COMPUTE_VERSION = "2.53"  # flavor embedded in server views (2.47+), service ids as uuids
PAGE = 1000

Resources = dict[str, int]


class CapacityHostView(BaseModel):
    name: str
    reserved: bool
    free: Resources
    ha_servers: int


class CapacityView(BaseModel):
    """Microversion 1.4 Vigil extension: whether a segment can absorb its largest host."""

    segment_uuid: str
    segment_name: str
    sufficient: bool
    largest_host: str | None
    needed: Resources
    spare: Resources
    hosts: list[CapacityHostView]
    source: str = "placement"


class CapacityUnavailable(errors.ServiceUnavailable):
    """Placement or Nova did not answer; the API turns it into a 503."""


def _zero() -> Resources:
    return dict.fromkeys(CLASSES, 0)


@dataclass
class HostFigures:
    name: str
    reserved: bool
    usable: bool
    free: Resources = field(default_factory=_zero)
    servers: list[Resources] = field(default_factory=list)

    @property
    def needed(self) -> Resources:
        total = _zero()
        for server in self.servers:
            for key in CLASSES:
                total[key] += server[key]
        return total


class _Cloud:
    """The Placement and Nova reads, over Vigil's one openstacksdk session."""

    def __init__(self) -> None:
        try:
            self.conn = openstack_connection()
        except CloudConfigError as exc:
            raise CapacityUnavailable(service="Placement") from exc
        self.timeout = get_settings().nova_request_timeout

    def _get(self, service: str, path: str, version: str, params: dict | None = None) -> Any:
        header = version if service == "placement" else f"compute {version}"
        try:
            response = self.conn.session.get(
                path,
                endpoint_filter={
                    "service_type": service,
                    "interface": self.conn.config.get_interface(),
                    "region_name": self.conn.config.get_region_name(),
                },
                headers={"OpenStack-API-Version": header, "Accept": "application/json"},
                params=params,
                timeout=self.timeout,
                raise_exc=False,
            )
        except ksa_exc.ClientException as exc:
            log.warning("capacity: %s %s failed: %s", service, path, exc)
            raise CapacityUnavailable(service=service.capitalize()) from exc
        if response.status_code >= 400:
            log.warning("capacity: %s answered %s to %s", service, response.status_code, path)
            raise CapacityUnavailable(service=service.capitalize())
        return response.json()

    def placement(self, path: str) -> Any:
        return self._get("placement", path, PLACEMENT_VERSION)

    def providers(self) -> dict[str, str]:
        """Provider name → uuid (compute node providers are named for the hypervisor)."""
        found = self.placement("/resource_providers")["resource_providers"]
        return {p["name"]: p["uuid"] for p in found}

    def free(self, provider: str) -> Resources:
        inventories = self.placement(f"/resource_providers/{provider}/inventories")["inventories"]
        usages = self.placement(f"/resource_providers/{provider}/usages")["usages"]
        free = _zero()
        for key in CLASSES:
            inventory = inventories.get(key)
            if inventory:
                room = (inventory["total"] - inventory.get("reserved", 0)) * inventory.get(
                    "allocation_ratio", 1.0
                )
                free[key] = max(0, int(room) - int(usages.get(key, 0)))
        return free

    def services(self) -> dict[str, dict[str, Any]]:
        found = self._get("compute", "/os-services", COMPUTE_VERSION, {"binary": "nova-compute"})[
            "services"
        ]
        return {s["host"]: s for s in found}

    def servers(self, host: str) -> list[dict[str, Any]]:
        servers: list[dict[str, Any]] = []
        params: dict[str, Any] = {"all_tenants": 1, "host": host, "limit": PAGE}
        while True:
            page = self._get("compute", "/servers/detail", COMPUTE_VERSION, params)["servers"]
            servers += page
            if len(page) < PAGE:
                return servers
            params["marker"] = page[-1]["id"]


def _provider_for(host: str, providers: dict[str, str]) -> str | None:
    """A compute node provider is named for its hypervisor, possibly the host's FQDN."""
    if host in providers:
        return providers[host]
    for name, provider in providers.items():
        if name.split(".", 1)[0] == host:
            return provider
    return None


def _evacuated(server: dict[str, Any], settings: Settings) -> bool:
    if settings.host_failure.evacuate_all_instances:
        return True
    key = settings.host_failure.ha_enabled_instance_metadata_key
    return truthy((server.get("metadata") or {}).get(key, ""))  # as recovery judges it


def _needs(server: dict[str, Any]) -> Resources:
    flavor = server.get("flavor") or {}
    return {key: int(flavor.get(FLAVOR_KEYS[key]) or 0) for key in CLASSES}


def _fits(servers: list[Resources], rooms: list[Resources]) -> bool:
    """First fit, largest servers first, into copies of the hosts' free room."""
    free = [dict(room) for room in rooms]
    for server in sorted(servers, key=lambda s: tuple(s[k] for k in CLASSES), reverse=True):
        for room in free:
            if all(room[k] >= server[k] for k in CLASSES):
                for k in CLASSES:
                    room[k] -= server[k]
                break
        else:
            return False
    return True


def judge(segment: Segment, hosts: list[HostFigures]) -> dict[str, Any]:
    """The capacity view of one segment from its hosts' figures."""
    candidates = [h for h in hosts if not h.reserved and h.servers]
    largest = max(candidates, key=lambda h: tuple(h.needed[k] for k in CLASSES), default=None)
    takers = [h for h in hosts if h.usable and h is not largest]
    spare = _zero()
    for taker in takers:
        for key in CLASSES:
            spare[key] += taker.free[key]
    needed = largest.needed if largest else _zero()
    sufficient = largest is None or _fits(largest.servers, [t.free for t in takers])
    return CapacityView(
        segment_uuid=segment.uuid,
        segment_name=segment.name,
        sufficient=sufficient,
        largest_host=largest.name if largest else None,
        needed=needed,
        spare=spare,
        hosts=[
            CapacityHostView(
                name=h.name, reserved=h.reserved, free=h.free, ha_servers=len(h.servers)
            )
            for h in hosts
        ],
    ).model_dump(mode="json")


def _segment_hosts(session: Session, segment: Segment) -> list[tuple[Host, str | None]]:
    return list(
        session.execute(
            select(Host, HostMonitorState.settled_state)
            .outerjoin(HostMonitorState, HostMonitorState.host_name == Host.name)
            .where(Host.failover_segment_id == segment.uuid, Host.deleted == 0)
            .order_by(Host.name)
        ).all()
    )


def _figures(cloud: _Cloud, rows, providers, services, settings) -> list[HostFigures]:
    figures = []
    for host, settled in rows:
        service = services.get(host.name) or {}
        alive = settled != "dead" and not host.on_maintenance
        # A reserved host's compute service is usually disabled until recovery enables it.
        enabled = host.reserved or (
            service.get("status") == "enabled" and service.get("state") == "up"
        )
        provider = _provider_for(host.name, providers)
        figures.append(
            HostFigures(
                name=host.name,
                reserved=host.reserved,
                usable=alive and enabled and provider is not None,
                free=cloud.free(provider) if provider else _zero(),
                servers=[_needs(s) for s in cloud.servers(host.name) if _evacuated(s, settings)],
            )
        )
    return figures


def segment_capacity(segment_id: str) -> dict[str, Any]:
    """The API extension's answer for one segment (404 for an unknown segment)."""
    with session_scope() as session:
        segment = segments.find(session, segment_id)
        rows = _segment_hosts(session, segment)
    cloud = _Cloud()
    settings = get_settings()
    return judge(segment, _figures(cloud, rows, cloud.providers(), cloud.services(), settings))


def all_segments() -> list[dict[str, Any]]:
    """Every enabled segment's capacity view, with one provider and service listing."""
    with session_scope() as session:
        found = [
            (segment, _segment_hosts(session, segment))
            for segment in session.scalars(
                select(Segment).where(Segment.deleted == 0, Segment.enabled.is_(True))
            )
        ]
    if not found:
        return []
    cloud = _Cloud()
    providers, services, settings = cloud.providers(), cloud.services(), get_settings()
    return [
        judge(segment, _figures(cloud, rows, providers, services, settings))
        for segment, rows in found
    ]


def capacity_handler(req) -> Any:
    """``GET /v1/segments/{segment_id}/capacity`` (microversion 1.4, Vigil extension)."""
    from shared.api import policy
    from shared.api.handlers import Reply

    policy.authorize(req.context, "segments", "capacity")
    return Reply(200, {"capacity": segment_capacity(req.params["segment_id"])})


def check(settings: Settings | None = None) -> None:
    """The monitor's optional check: store every segment's capacity for ``/metrics`` and emit
    ``segment.capacity.lost`` / ``segment.capacity.restored`` when a segment's verdict changes.

    Runs at most once per ``check_interval`` across instances; never raises into the cycle.
    """
    settings = settings or get_settings()
    if not settings.capacity.check:
        return
    try:
        with session_scope() as session:
            now = db_now(session)
            previous = session.execute(
                select(JobRun.last_run_at, JobRun.last_result).where(JobRun.name == CAPACITY_JOB)
            ).first()
        interval = dt.timedelta(seconds=settings.capacity.check_interval)
        if previous is not None and previous.last_run_at and now - previous.last_run_at < interval:
            return
        views = all_segments()
    except (errors.VigilError, SQLAlchemyError, OSError) as exc:
        log.warning("failover capacity check skipped this tick: %s", exc)
        return
    except Exception:  # a check must never cost the cycle its verdicts
        log.exception("failover capacity check failed; monitoring goes on")
        return
    before = ((previous.last_result if previous else None) or {}).get("segments", {})
    stored = {}
    for view in views:
        name = view["segment_name"]
        stored[name] = {"uuid": view["segment_uuid"], "sufficient": view["sufficient"]}
        was = before.get(name, {}).get("sufficient")
        if was is not None and was != view["sufficient"]:
            change = "restored" if view["sufficient"] else "lost"
            log.warning(
                "segment %s failover capacity %s: largest host %s needs %s, spare %s",
                name,
                change,
                view["largest_host"],
                view["needed"],
                view["spare"],
            )
            emit(f"segment.capacity.{change}", "monitor", view["segment_uuid"], view)
        elif was is None and not view["sufficient"]:
            log.warning("segment %s has no failover capacity for %s", name, view["largest_host"])
            emit("segment.capacity.lost", "monitor", view["segment_uuid"], view)
    with session_scope() as session:
        result = {"segments": stored}
        session.execute(
            insert(JobRun)
            .values(name=CAPACITY_JOB, last_run_at=now, last_result=result)
            .on_conflict_do_update(
                index_elements=[JobRun.name], set_={"last_run_at": now, "last_result": result}
            )
        )
