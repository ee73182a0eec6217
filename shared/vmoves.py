"""VM moves of a COMPUTE_HOST notification (api.md §11), read-only for the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import errors, listing, notifications
from shared.models import VMove
from shared.schemas import VMoveView, dump

SORT_KEYS = {
    "id", "uuid", "notification_uuid", "instance_uuid", "instance_name", "source_host",
    "dest_host", "start_time", "end_time", "type", "status", "message", "created_at",
    "updated_at", "deleted", "deleted_at",
}  # fmt: skip


def _host_notification(session: Session, notification_id: str) -> None:
    """404 for an unknown notification (also for show, §13.4); 400 unless COMPUTE_HOST."""
    notification = notifications.find(session, notification_id)
    if notification.type != "COMPUTE_HOST":
        raise errors.NotificationWithoutVMoves(id=notification_id)


def list_vmoves(session: Session, notification_id: str, args: Any) -> list[dict[str, Any]]:
    _host_notification(session, notification_id)
    params = listing.list_params(args)
    query = select(VMove).where(VMove.notification_uuid == notification_id, VMove.deleted == 0)
    for name in ("status", "type"):
        if name in args:
            query = query.where(getattr(VMove, name) == args.get(name))
    return [dump(VMoveView, row) for row in listing.page(session, VMove, query, params, SORT_KEYS)]


def get_vmove(session: Session, notification_id: str, vmove_id: str) -> dict[str, Any]:
    """Like Masakari, the vmove is returned even if it belongs to another notification."""
    _host_notification(session, notification_id)
    row = session.scalars(select(VMove).where(VMove.uuid == vmove_id, VMove.deleted == 0)).first()
    if row is None:
        raise errors.VMoveNotFound(id=vmove_id)
    return dump(VMoveView, row)
