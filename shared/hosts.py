"""Hosts of a failover segment (api.md §9), and their monitor health (microversion 1.4).

A host's name must be a nova-compute service host: creating or renaming one asks Nova, with
Vigil's own credentials. Names are unique among live hosts of every segment.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from oslo_utils import uuidutils
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import errors, listing, segments
from shared.db import session_scope, utcnow
from shared.models import HealthSample, Host, HostMonitorState, Segment
from shared.schemas import HealthSampleView, HostHealthView, HostView, SegmentView, dump
from shared.settings import get_settings
from shared.writes import announced, apply_changes, ended, insert

log = logging.getLogger(__name__)


def monitor_state_fields(state: HostMonitorState | None, view: type[BaseModel]) -> dict[str, Any]:
    """The ``view``'s fields that are columns of ``host_monitor_states`` (the monitor's settled
    view of a host), read from ``state``; all None for a host never sampled. The host's own
    name and UUID come from its host row."""
    return {
        name: getattr(state, name) if state else None
        for name in (column.name for column in HostMonitorState.__table__.columns)
        if name in view.model_fields and name not in ("host_name", "host_uuid")
    }


SORT_KEYS = {
    "id", "uuid", "name", "reserved", "type", "control_attributes", "on_maintenance",
    "failover_segment_id", "created_at", "updated_at", "deleted", "deleted_at",
}  # fmt: skip
DEFAULT_HEALTH_SAMPLES = 20


def view(row: Host, segment: Segment) -> dict[str, Any]:
    return dump(HostView, row, failover_segment=dump(SegmentView, segment))


def event_data(row: Host, segment: Segment) -> dict[str, Any]:
    """``HostApiPayload`` fields (events.md §3.3)."""
    data = {
        "uuid": row.uuid, "name": row.name, "type": row.type, "reserved": row.reserved,
        "control_attributes": row.control_attributes, "on_maintenance": row.on_maintenance,
        "failover_segment": segments.event_data(segment),
    }  # fmt: skip
    if row.id is not None:
        data["id"] = row.id
    return data


def check_compute_service(name: str) -> None:
    """400 unless Nova has a nova-compute service on exactly ``name``; 503 if Nova can't say."""
    from keystoneauth1 import exceptions as ks_exc
    from openstack import exceptions as sdk_exc

    from shared import clients

    try:
        response = clients.openstack_connection().compute.get(
            "/os-services",
            params={"binary": "nova-compute", "host": name},
            timeout=get_settings().api_upstream_timeout,
        )
        sdk_exc.raise_from_response(response)
        found = response.json().get("services", [])
    except (
        clients.CloudConfigError,
        sdk_exc.SDKException,
        ks_exc.ClientException,
        ValueError,
    ) as exc:
        log.warning("cannot check the nova-compute service of host %s: %s", name, exc)
        raise errors.ServiceUnavailable(service="The Compute service (Nova)") from None
    if not any(service.get("host") == name for service in found):
        raise errors.ComputeNotFoundByName(name=name)


def _find(
    session: Session, segment_id: str, host_id: str, strict_uuid: bool = False
) -> tuple[Host, Segment]:
    """The live host under the live segment; GET names a non-UUID id differently (§9)."""
    if strict_uuid and not uuidutils.is_uuid_like(host_id):
        raise errors.HostNotFound(id=host_id)
    found = session.execute(
        select(Host, Segment)
        .join(Segment, Segment.uuid == Host.failover_segment_id)
        .where(
            Host.uuid == host_id,
            Host.deleted == 0,
            Segment.uuid == segment_id,
            Segment.deleted == 0,
        )
    ).first()
    if found is None:
        raise errors.HostNotFoundUnderSegment(host_id=host_id, segment_id=segment_id)
    return found[0], found[1]


def list_hosts(session: Session, segment_id: str, args: Any) -> list[dict[str, Any]]:
    params = listing.list_params(args)
    segment = segments.find(session, segment_id)
    query = select(Host).where(Host.deleted == 0, Host.failover_segment_id == segment.uuid)
    for name in ("name", "type"):
        if name in args:
            query = query.where(getattr(Host, name) == args.get(name))
    for name in ("on_maintenance", "reserved"):
        value = listing.bool_filter(args, name)
        if value is not None:
            query = query.where(getattr(Host, name).is_(value))
    return [view(row, segment) for row in listing.page(session, Host, query, params, SORT_KEYS)]


def _find_for_change(session: Session, segment_id: str, host_id: str) -> tuple[Host, Segment]:
    """``_find``, then lock the segment and its live hosts as segment changes do, re-checking
    that the host is still live once the locks are held."""
    row, segment = _find(session, segment_id, host_id)
    try:
        segments.find(session, segment.uuid, lock="update")
    except errors.SegmentNotFound:
        raise errors.HostNotFoundUnderSegment(host_id=host_id, segment_id=segment_id) from None
    if row not in segments.hold_hosts(session, segment.uuid):
        raise errors.HostNotFoundUnderSegment(host_id=host_id, segment_id=segment_id)
    return row, segment


def get_host(session: Session, segment_id: str, host_id: str) -> dict[str, Any]:
    return view(*_find(session, segment_id, host_id, strict_uuid=True))


def create_host(segment_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    with session_scope() as session:
        segment = segments.find(session, segment_id)
    check_compute_service(fields["name"])
    row = Host(
        uuid=str(uuid.uuid4()),
        name=fields["name"],
        type=fields["type"],
        control_attributes=fields["control_attributes"],
        reserved=fields.get("reserved", False),
        on_maintenance=fields.get("on_maintenance", False),
        failover_segment_id=segment.uuid,
        created_at=utcnow().replace(microsecond=0),
        deleted=0,
    )
    # Nova was asked outside any transaction; the insert re-checks the segment under a share lock
    # so a segment deleted meanwhile gives 404, not a live host under a deleted segment.
    insert(
        "host",
        row,
        lambda: event_data(row, segment),
        errors.HostExists(name=row.name),
        guard=lambda session: segments.find(session, segment.uuid, lock="share"),
    )
    return view(row, segment)


def update_host(segment_id: str, host_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    with session_scope() as session:
        row, segment = _find_for_change(session, segment_id, host_id)
        if segments.in_use(session, segment.uuid):
            raise errors.HostInUseUpdate(uuid=row.uuid)
        if "name" in fields and fields["name"] != row.name:
            check_compute_service(fields["name"])
        with announced("host", "update", row.uuid, {**event_data(row, segment), **fields}):
            apply_changes(session, row, fields, errors.HostExists(name=fields.get("name")))
    ended("host", "update", row.uuid, event_data(row, segment))
    return view(row, segment)


def delete_host(segment_id: str, host_id: str) -> None:
    with session_scope() as session:
        row, segment = _find_for_change(session, segment_id, host_id)
        if segments.in_use(session, segment.uuid):
            raise errors.HostInUseDelete(uuid=row.uuid)
        data = event_data(row, segment)
        with announced("host", "delete", row.uuid, data):
            row.deleted = row.id
            row.deleted_at = utcnow()
            session.flush()  # a failing write is reported by host.delete.error
    ended("host", "delete", row.uuid, data)


def health_limit(args: Any) -> int:
    if "limit" not in args:
        return DEFAULT_HEALTH_SAMPLES
    return min(listing.int_param("limit", args.get("limit")), get_settings().osapi_max_limit)


def host_health(session: Session, segment_id: str, host_id: str, limit: int) -> dict[str, Any]:
    """The monitor's settled state of the host and its latest ``limit`` samples, newest first."""
    row, _segment = _find(session, segment_id, host_id)
    state = session.get(HostMonitorState, row.name)
    samples = session.scalars(
        select(HealthSample)
        .where(HealthSample.host_name == row.name)
        .order_by(HealthSample.sampled_at.desc(), HealthSample.id.desc())
        .limit(limit)
    )
    return HostHealthView(
        host_uuid=row.uuid,
        host_name=row.name,
        **monitor_state_fields(state, HostHealthView),
        samples=[HealthSampleView.model_validate(s) for s in samples],
    ).model_dump(mode="json")
