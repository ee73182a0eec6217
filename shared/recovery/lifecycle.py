"""Who owns a notification: compare-and-set claims, the renewed lease, the final write.

Every transition is one conditional UPDATE whose row count decides who proceeds
(recovery.md §15.5), timed by the database clock so pods never compare their own clocks.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, literal, or_, select, update

from shared.db import rows_changed, session_scope
from shared.models import Host, Notification, Segment
from shared.settings import get_settings

log = logging.getLogger(__name__)

SETTLED = ("finished", "ignored", "failed")
SEGMENT_DISABLED_MESSAGE = "Recovery aboart: the segment HA is disabled."
REASONS = ("created", "retry", "resume")


def sql_now():
    """``now()`` of the database as naive UTC, usable inside statements."""
    return func.timezone("utc", func.now())


def lease_expired():
    """SQL: the notification's lease has run out (or was released), so a resume may take it."""
    return or_(Notification.lease_expires_at.is_(None), Notification.lease_expires_at < sql_now())


def interval_seconds(value: float) -> Any:
    return func.make_interval(0, 0, 0, 0, 0, 0, value)


class HostBusy(RuntimeError):
    """Another notification of the same source host is running with a live lease (§3.4)."""


class LeaseLost(RuntimeError):
    """This worker no longer owns the notification; it must stop without writing."""


@dataclass
class Claim:
    """What an attempt knows after winning the claim; the rest is re-read as needed."""

    notification_uuid: str
    type: str
    payload: dict[str, Any]
    source_host_uuid: str
    segment_uuid: str
    reason: str
    owner: str
    retried: bool
    attempt: int
    generated_time: dt.datetime
    id: int
    host: dict[str, Any] = field(default_factory=dict)
    segment: dict[str, Any] = field(default_factory=dict)


@dataclass
class Skip:
    """No attempt: why the delivery is acknowledged without work (logged by the caller)."""

    why: str


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _claim_condition(reason: str):
    """What the row must look like for a trigger with this reason to act on it (§3 step 3)."""
    if reason == "created":
        return Notification.status == "new"
    if reason == "retry":
        return Notification.status.in_(("new", "error"))
    return and_(Notification.status == "running", lease_expired())


def claim(notification_uuid: str, reason: str) -> Claim | Skip:
    """Claim the notification for one attempt, or say why not. Raises HostBusy."""
    settings = get_settings()
    owner = new_owner()
    with session_scope() as session:
        row = session.scalar(
            select(Notification).where(
                Notification.notification_uuid == notification_uuid, Notification.deleted == 0
            )
        )
        if row is None:
            return Skip(f"unknown notification {notification_uuid}")
        if row.status in SETTLED:
            return Skip(f"notification {notification_uuid} is already {row.status}")
        now = session.scalar(select(sql_now()))
        actionable = session.scalar(
            select(Notification.id).where(Notification.id == row.id, _claim_condition(reason))
        )
        if actionable is None:
            return Skip(
                f"notification {notification_uuid} is {row.status}; nothing to claim for '{reason}'"
            )
        status_read = row.status
        host = session.scalar(
            select(Host).where(Host.uuid == row.source_host_uuid).with_for_update()
        )
        segment = session.scalar(select(Segment).where(Segment.uuid == row.failover_segment_uuid))
        if segment is not None and not segment.enabled:
            done = rows_changed(
                session.execute(
                    update(Notification)
                    .where(
                        Notification.notification_uuid == notification_uuid,
                        Notification.status == status_read,
                        _claim_condition(reason),  # never over a live owner's head
                    )
                    .values(
                        status="ignored",
                        message=SEGMENT_DISABLED_MESSAGE,
                        lease_owner=None,
                        lease_expires_at=None,
                        updated_at=sql_now(),
                    )
                )
            )
            return Skip(
                f"segment of {notification_uuid} is disabled: "
                + ("notification ignored" if done else "status changed meanwhile")
            )
        busy = session.scalar(
            select(Notification.notification_uuid).where(
                Notification.source_host_uuid == row.source_host_uuid,
                Notification.notification_uuid != notification_uuid,
                Notification.status == "running",
                # A live lease, or a hand-off waiting for its resume (released: no owner).
                or_(Notification.lease_expires_at > now, Notification.lease_owner.is_(None)),
                Notification.deleted == 0,
            )
        )
        if busy:
            raise HostBusy(
                f"notification {busy} of the same host is running; {notification_uuid} waits"
            )
        won = session.execute(
            update(Notification)
            .where(Notification.notification_uuid == notification_uuid, _claim_condition(reason))
            .values(
                status="running",
                lease_owner=owner,
                lease_expires_at=sql_now() + interval_seconds(settings.recovery_lease_seconds),
                updated_at=sql_now(),
                retried=or_(Notification.retried, literal(reason == "retry")),
            )
            .returning(Notification.retried, Notification.attempt)
        ).first()
        if won is None:
            return Skip(f"notification {notification_uuid} was claimed by another worker")
        return Claim(
            notification_uuid=notification_uuid,
            type=row.type,
            payload=dict(row.payload or {}),
            source_host_uuid=row.source_host_uuid,
            segment_uuid=row.failover_segment_uuid,
            reason=reason,
            owner=owner,
            retried=bool(won.retried),
            attempt=int(won.attempt or 0),
            generated_time=row.generated_time,
            id=row.id,
            host=host_payload(host, segment) if host is not None else {},
            segment=segment_payload(segment) if segment is not None else {},
        )


def segment_payload(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "uuid": segment.uuid,
        "name": segment.name,
        "service_type": segment.service_type,
        "description": segment.description,
        "recovery_method": segment.recovery_method,
        "enabled": segment.enabled,
    }


def host_payload(host: Host, segment: Segment | None) -> dict[str, Any]:
    return {
        "id": host.id,
        "uuid": host.uuid,
        "name": host.name,
        "failover_segment": segment_payload(segment) if segment is not None else None,
        "type": host.type,
        "reserved": host.reserved,
        "control_attributes": host.control_attributes,
        "on_maintenance": host.on_maintenance,
    }


class Lease:
    """Renews the claim every heartbeat in a background thread while the attempt works."""

    def __init__(self, notification_uuid: str, owner: str):
        self.notification_uuid = notification_uuid
        self.owner = owner
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # When the lease was last known good (the claim or a renewal), on this process's clock.
        self._renewed_at = time.monotonic()

    def holds(self):
        """SQL condition true while this worker still owns the notification (its fencing token)."""
        return and_(
            Notification.notification_uuid == self.notification_uuid,
            Notification.status == "running",
            Notification.lease_owner == self.owner,
        )

    def renew(self) -> bool:
        settings = get_settings()
        try:
            with session_scope() as session:
                count = rows_changed(
                    session.execute(
                        update(Notification)
                        .where(self.holds())
                        .values(
                            lease_expires_at=sql_now()
                            + interval_seconds(settings.recovery_lease_seconds)
                        )
                    )
                )
        except Exception:
            # A database blip: the lease may still have time, so try again next beat. Once it may
            # have run out, another instance may own the notification: stop working on it.
            log.warning("lease renewal for %s failed", self.notification_uuid, exc_info=True)
            margin = settings.recovery_lease_seconds - settings.recovery_heartbeat_seconds
            if time.monotonic() - self._renewed_at > margin:
                self.lost.set()
            return not self.lost.is_set()
        if not count:
            self.lost.set()
        else:
            self._renewed_at = time.monotonic()
        return bool(count)

    def _beat(self) -> None:
        interval = get_settings().recovery_heartbeat_seconds
        while not self._stop.wait(interval):
            if not self.renew():
                log.warning("lease on %s lost; stopping this attempt", self.notification_uuid)
                return

    def __enter__(self) -> Lease:
        self._thread = threading.Thread(
            target=self._beat, name=f"lease-{self.notification_uuid[:8]}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"lease on {self.notification_uuid} lost")

    def finish(self, status: str, message: str | None) -> bool:
        """The final conditional write: only the lease owner can make it."""
        with session_scope() as session:
            count = rows_changed(
                session.execute(
                    update(Notification)
                    .where(self.holds())
                    .values(
                        status=status,
                        message=message,
                        lease_owner=None,
                        lease_expires_at=None,
                        updated_at=sql_now(),
                    )
                )
            )
        if not count:
            self.lost.set()
        return bool(count)

    def release(self) -> bool:
        """Hand off: keep ``running`` but expire the lease so a resume can claim it at once."""
        with session_scope() as session:
            count = rows_changed(
                session.execute(
                    update(Notification)
                    .where(self.holds())
                    .values(
                        lease_owner=None,
                        lease_expires_at=sql_now() - interval_seconds(1),
                        updated_at=sql_now(),
                    )
                )
            )
        return bool(count)
