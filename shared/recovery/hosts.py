"""Vigil's own host writes during recovery, each announced as ``host.update.*`` (events.md §3.2).

Reserved hosts are claimed with a row lock that skips rows another claim holds (recovery.md
§15.8), so two failures recovering at once never get the same reserved host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import events
from shared.db import session_scope, utcnow
from shared.models import Host, Segment
from shared.recovery.lifecycle import host_payload


def _candidates(segment_uuid: str):
    return select(Host).where(
        Host.failover_segment_id == segment_uuid,
        Host.reserved.is_(True),
        Host.on_maintenance.is_(False),
        Host.deleted == 0,
    )


def any_reserved_host(segment_uuid: str) -> bool:
    with session_scope() as session:
        return session.scalar(_candidates(segment_uuid).limit(1)) is not None


def claim_reserved_host(
    segment_uuid: str, record: Callable[[Session, dict[str, Any]], None]
) -> dict[str, Any] | None:
    """Take the newest live reserved host of the segment; it is not returned to the pool.

    ``record`` writes the claim where it belongs in the same transaction, and may refuse it.
    """
    with session_scope() as session:
        host = session.scalar(
            _candidates(segment_uuid)
            .order_by(Host.created_at.desc(), Host.id.desc())
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if host is None:
            return None
        segment = session.scalar(select(Segment).where(Segment.uuid == segment_uuid))
        events.emit("host.update.start", "recover", host.uuid, host_payload(host, segment))
        host.reserved = False
        host.updated_at = utcnow()
        session.flush()
        claimed = host_payload(host, segment)
        record(session, claimed)
    events.emit("host.update.end", "recover", claimed["uuid"], claimed)
    return claimed


def mark_on_maintenance(host_uuid: str, clear_reserved: bool) -> None:
    """Set ``on_maintenance`` (and clear ``reserved`` for a failed host); kept afterwards."""
    with session_scope() as session:
        host = session.scalar(select(Host).where(Host.uuid == host_uuid).with_for_update())
        if host is None:
            return
        if host.on_maintenance and not (clear_reserved and host.reserved):
            return
        segment = session.scalar(select(Segment).where(Segment.uuid == host.failover_segment_id))
        events.emit("host.update.start", "recover", host.uuid, host_payload(host, segment))
        host.on_maintenance = True
        if clear_reserved:
            host.reserved = False
        host.updated_at = utcnow()
        session.flush()
        changed = host_payload(host, segment)
    events.emit("host.update.end", "recover", changed["uuid"], changed)
