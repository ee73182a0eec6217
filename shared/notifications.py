"""Notifications: creation (the path the api and the monitor share) and reads (api.md §10).

Creation locks the source host's row, so concurrent identical reports from any number of api
or monitor instances are serialised and exactly one is accepted; the duplicate check then sees
every committed earlier report (api.md §10.2, §13.7).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from cloudevents.http import CloudEvent
from sqlalchemy import cast, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from shared import errors, events, listing
from shared.db import session_scope, utcnow
from shared.models import Host, Notification
from shared.progress import workflow_details
from shared.schemas import (
    PAYLOAD_MODELS,
    NotificationCreateRequest,
    NotificationDetailView,
    NotificationView,
    dump,
    parse_datetime,
    validate,
)
from shared.settings import get_settings

SORT_KEYS = {
    "id", "notification_uuid", "generated_time", "type", "payload", "status", "source_host_uuid",
    "failover_segment_uuid", "message", "created_at", "updated_at", "deleted", "deleted_at",
}  # fmt: skip
FILTERS = ("status", "type", "source_host_uuid")


def validate_body(body: Any) -> dict[str, Any]:
    """Envelope schema of ``POST /v1/notifications`` (step 1); returns the inner object."""
    return validate(NotificationCreateRequest, body).notification.model_dump()


def validate_payload(notification_type: str, payload: dict[str, Any]) -> None:
    """Per-type payload schema (step 3)."""
    validate(PAYLOAD_MODELS[notification_type], payload)


def event_data(row: Notification, with_id: bool = True) -> dict[str, Any]:
    """``NotificationApiPayload`` fields (events.md §3.3) of a notification row."""
    data = {
        "notification_uuid": row.notification_uuid,
        "generated_time": row.generated_time,
        "source_host_uuid": row.source_host_uuid,
        "type": row.type,
        "payload": row.payload,
        "status": row.status,
    }
    if with_id:
        data["id"] = row.id
    return data


def _is_duplicate(
    session: Session,
    host: Host,
    notification_type: str,
    generated: dt.datetime,
    payload: dict[str, Any],
) -> bool:
    window = dt.timedelta(seconds=get_settings().duplicate_notification_detection_interval)
    since = generated - window if generated - dt.datetime.min > window else dt.datetime.min
    found = session.scalar(
        select(Notification.id)
        .where(
            Notification.type == notification_type,
            Notification.source_host_uuid == host.uuid,
            Notification.generated_time >= since,
            Notification.payload == cast(payload, JSONB),
            Notification.deleted == 0,
        )
        .limit(1)
    )
    return found is not None


def create_notification(data: dict[str, Any], source: str = "api") -> dict[str, Any]:
    """Validate, store as ``new`` and trigger recovery; returns the API view of the row.

    ``data`` is the inner object of a POST body. Raises shared.errors (400 schema or unknown
    host, 409 on maintenance or duplicate). The host row is locked only for the duplicate check
    and the insert; the catalogue events and the trigger go to the background sender after the
    commit, and a trigger that never arrives leaves the row ``new`` for the retry sweep
    (recovery.md §9).
    """
    fields = validate_body({"notification": data})
    validate_payload(fields["type"], fields["payload"])
    hostname, notification_type = fields["hostname"], fields["type"]
    row: Notification | None = None
    start: CloudEvent | None = None
    try:
        with session_scope() as session:
            host = session.scalars(
                select(Host).where(Host.name == hostname, Host.deleted == 0).with_for_update()
            ).first()
            if host is None:
                raise errors.HostNotFoundByName(name=hostname)
            if host.on_maintenance:
                raise errors.HostOnMaintenance(hostname=hostname, type=notification_type)
            if _is_duplicate(
                session, host, notification_type, fields["generated_time"], fields["payload"]
            ):
                raise errors.DuplicateNotification(hostname=hostname, type=notification_type)
            row = Notification(
                notification_uuid=str(uuid.uuid4()),
                generated_time=fields["generated_time"],
                type=notification_type,
                payload=fields["payload"],
                status="new",
                source_host_uuid=host.uuid,
                failover_segment_uuid=host.failover_segment_id,
                created_at=utcnow().replace(microsecond=0),
                deleted=0,
            )
            start = events.catalogue_event(
                "notification.create.start",
                source,
                row.notification_uuid,
                event_data(row, with_id=False),
            )
            session.add(row)
            session.flush()
    except errors.VigilError:
        raise
    except Exception as exc:
        if start is not None and row is not None:
            error = events.catalogue_event(
                "notification.create.error",
                source,
                row.notification_uuid,
                event_data(row, with_id=False),
                fault=exc,
            )
            events.emit_later(start, error)
        raise
    assert start is not None and row is not None
    end = events.catalogue_event(
        "notification.create.end", source, row.notification_uuid, event_data(row)
    )
    events.emit_later(start, end)
    events.publish_recovery_trigger_later(row.notification_uuid, row.type, "created", source)
    return dump(NotificationView, row)


def get_notification(session: Session, notification_id: str, with_details: bool) -> dict[str, Any]:
    """At microversion >= 1.1 the view adds ``recovery_workflow_details`` (§10.3, §13.5)."""
    row = find(session, notification_id)
    if with_details:
        return dump(
            NotificationDetailView,
            row,
            recovery_workflow_details=workflow_details(session, row.notification_uuid),
        )
    return dump(NotificationView, row)


def find(session: Session, notification_id: str) -> Notification:
    row = session.scalars(
        select(Notification).where(
            Notification.notification_uuid == notification_id, Notification.deleted == 0
        )
    ).first()
    if row is None:
        raise errors.NotificationNotFound(id=notification_id)
    return row


def list_notifications(session: Session, args: Any) -> list[dict[str, Any]]:
    params = listing.list_params(args)
    query = select(Notification).where(Notification.deleted == 0)
    for name in FILTERS:
        if name in args:
            query = query.where(getattr(Notification, name) == args.get(name))
    if "generated-since" in args:
        try:
            since = parse_datetime(args.get("generated-since"))
        except (ValueError, OverflowError):
            raise errors.BadRequest("Invalid generated-since value") from None
        query = query.where(Notification.generated_time >= since)
    rows = listing.page(session, Notification, query, params, SORT_KEYS, "notification_uuid")
    return [dump(NotificationView, row) for row in rows]
