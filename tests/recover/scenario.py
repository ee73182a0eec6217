"""Building recovery scenarios: Vigil rows for a region's hosts, notifications, CloudEvents."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import requests
from cloudevents.conversion import to_binary, to_structured
from sqlalchemy import select

from shared import events
from shared.db import session_scope, utcnow
from shared.models import Host, Notification, RecoveryAttempt, Segment, VMove
from shared.notifications import create_notification
from shared.progress import workflow_details

SETTLED = ("finished", "ignored", "error", "failed")


def make_segment(
    recovery_method: str, hosts: list[str], reserved: list[str] = (), enabled: bool = True
) -> str:
    """A segment with Vigil host rows; reserved hosts are created last (newest first when claimed)."""
    segment_uuid = str(uuid.uuid4())
    base = utcnow() - dt.timedelta(hours=1)
    with session_scope() as session:
        session.add(
            Segment(
                uuid=segment_uuid,
                name=f"seg-{segment_uuid[:8]}",
                service_type="COMPUTE",
                recovery_method=recovery_method,
                enabled=enabled,
                created_at=base,
            )
        )
        session.flush()
        for i, name in enumerate([*hosts, *reserved]):
            session.add(
                Host(
                    uuid=str(uuid.uuid4()),
                    name=name,
                    reserved=name in reserved,
                    type="COMPUTE",
                    control_attributes="SSH",
                    on_maintenance=False,
                    failover_segment_id=segment_uuid,
                    created_at=base + dt.timedelta(seconds=i),
                )
            )
    return segment_uuid


def notify(
    hostname: str, type_: str, payload: dict[str, Any], generated: dt.datetime | None = None
) -> str:
    """Create through the real creation path (api and monitor share it); returns the uuid."""
    view = create_notification(
        {
            "type": type_,
            "hostname": hostname,
            "generated_time": (generated or utcnow()).isoformat(),
            "payload": payload,
        },
        "monitor",
    )
    return view["notification_uuid"]


def host_down(hostname: str) -> str:
    return notify(
        hostname,
        "COMPUTE_HOST",
        {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"},
    )


def trigger_event(notification_uuid: str, reason: str = "created", type_: str = "COMPUTE_HOST"):
    return events.build(
        events.recovery_trigger_type(),
        "api",
        notification_uuid,
        {"notification_uuid": notification_uuid, "type": type_, "reason": reason},
    )


def ping_event():
    return events.build(events.PING_TYPE, "/apis/v1/namespaces/vigil/pingsources/sweep", None, {})


def deliver(url: str, event, mode: str = "binary", timeout: float = 120) -> requests.Response:
    headers, body = (to_binary if mode == "binary" else to_structured)(event)
    return requests.post(url, headers=headers, data=body, timeout=timeout)


def notification(notification_uuid: str) -> Notification:
    with session_scope() as session:
        return session.scalar(
            select(Notification).where(Notification.notification_uuid == notification_uuid)
        )


def host_row(name: str) -> Host:
    with session_scope() as session:
        return session.scalar(select(Host).where(Host.name == name))


def vmoves(notification_uuid: str) -> list[VMove]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(VMove).where(VMove.notification_uuid == notification_uuid).order_by(VMove.id)
            )
        )


def attempts(notification_uuid: str) -> list[RecoveryAttempt]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(RecoveryAttempt)
                .where(RecoveryAttempt.notification_uuid == notification_uuid)
                .order_by(RecoveryAttempt.number)
            )
        )


def details(notification_uuid: str) -> list[dict[str, Any]]:
    with session_scope() as session:
        return workflow_details(session, notification_uuid)


def wait_settled(notification_uuid: str, timeout: float = 60) -> Notification:
    deadline = time.monotonic() + timeout
    while True:
        row = notification(notification_uuid)
        if row.status in SETTLED:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(
                f"notification {notification_uuid} still {row.status} after {timeout} s"
            )
        time.sleep(0.05)
