"""Failover segments (api.md §8): CRUD with Masakari's conflicts and soft delete."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from shared import errors, listing
from shared.db import session_scope, utcnow
from shared.models import Host, Notification, Segment
from shared.schemas import SegmentView, dump
from shared.writes import announced, apply_changes, ended, insert

SORT_KEYS = {
    "id", "uuid", "name", "service_type", "enabled", "description", "recovery_method",
    "created_at", "updated_at", "deleted", "deleted_at",
}  # fmt: skip
ACTIVE_STATUSES = ("new", "running", "error")


def view(row: Segment) -> dict[str, Any]:
    return dump(SegmentView, row)


def event_data(row: Segment) -> dict[str, Any]:
    """``SegmentApiPayload`` fields (events.md §3.3); ``id`` only once the row exists."""
    data: dict[str, Any] = {
        "uuid": row.uuid, "name": row.name, "service_type": row.service_type,
        "description": row.description, "recovery_method": row.recovery_method,
        "enabled": row.enabled,
    }  # fmt: skip
    if row.id is not None:
        data["id"] = row.id
    return data


def find(session: Session, segment_id: str, lock: str | None = None) -> Segment:
    """The live segment; ``lock`` ``"update"`` or ``"share"`` also locks its row, and PostgreSQL
    re-checks ``deleted`` after any wait, so a segment deleted meanwhile is a 404."""
    query = select(Segment).where(Segment.uuid == segment_id, Segment.deleted == 0)
    if lock:
        query = query.with_for_update(read=lock == "share").execution_options(
            populate_existing=True
        )
    row = session.scalars(query).first()
    if row is None:
        raise errors.SegmentNotFound(id=segment_id)
    return row


def hold_hosts(session: Session, segment_uuid: str) -> list[Host]:
    """Lock the segment's live hosts before judging "in use" (§8, §9).

    Creating a notification locks its host's row, so a concurrent one either commits first and
    the in-use check sees it, or waits until this change is done.
    """
    return list(
        session.scalars(
            select(Host)
            .where(Host.failover_segment_id == segment_uuid, Host.deleted == 0)
            .order_by(Host.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def in_use(session: Session, segment_uuid: str) -> bool:
    """A live host of the segment has a notification in new, running or error (§8)."""
    host_uuids = select(Host.uuid).where(
        Host.failover_segment_id == segment_uuid, Host.deleted == 0
    )
    return bool(
        session.scalar(
            select(
                exists().where(
                    Notification.source_host_uuid.in_(host_uuids),
                    Notification.status.in_(ACTIVE_STATUSES),
                    Notification.deleted == 0,
                )
            )
        )
    )


def list_segments(session: Session, args: Any) -> list[dict[str, Any]]:
    params = listing.list_params(args)
    query = select(Segment).where(Segment.deleted == 0)
    for name in ("recovery_method", "service_type"):
        if name in args:
            query = query.where(getattr(Segment, name) == args.get(name))
    enabled = listing.bool_filter(args, "enabled")
    if enabled is not None:
        query = query.where(Segment.enabled.is_(enabled))
    return [view(row) for row in listing.page(session, Segment, query, params, SORT_KEYS)]


def get_segment(session: Session, segment_id: str) -> dict[str, Any]:
    return view(find(session, segment_id))


def create_segment(fields: dict[str, Any]) -> dict[str, Any]:
    row = Segment(
        uuid=str(uuid.uuid4()),
        name=fields["name"],
        service_type=fields["service_type"],
        description=fields.get("description"),
        recovery_method=fields["recovery_method"],
        enabled=fields.get("enabled", True),
        created_at=utcnow().replace(microsecond=0),
        deleted=0,
    )
    insert("segment", row, lambda: event_data(row), errors.SegmentExists(name=row.name))
    return view(row)


def update_segment(segment_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    with session_scope() as session:
        row = find(session, segment_id, lock="update")
        hold_hosts(session, row.uuid)
        if in_use(session, row.uuid):
            raise errors.SegmentInUseUpdate(uuid=row.uuid)
        with announced("segment", "update", row.uuid, {**event_data(row), **fields}):
            apply_changes(session, row, fields, errors.SegmentExists(name=fields.get("name")))
    ended("segment", "update", row.uuid, event_data(row))
    return view(row)


def delete_segment(segment_id: str) -> None:
    """Soft-deletes the segment and every host in it, in one transaction."""
    with session_scope() as session:
        row = find(session, segment_id, lock="update")
        hold_hosts(session, row.uuid)
        if in_use(session, row.uuid):
            raise errors.SegmentInUseDelete(uuid=row.uuid)
        data = event_data(row)
        with announced("segment", "delete", row.uuid, data):
            now = utcnow()
            session.execute(
                update(Host)
                .where(Host.failover_segment_id == row.uuid, Host.deleted == 0)
                .values(deleted=Host.id, deleted_at=now)
            )
            row.deleted = row.id
            row.deleted_at = now
            session.flush()  # a failing write is reported by segment.delete.error
    ended("segment", "delete", row.uuid, data)
