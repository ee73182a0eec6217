"""One delivered recovery trigger: claim, run the workflow, write the outcome (recovery.md §3)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from shared import events, logs
from shared.db import session_scope
from shared.models import Notification
from shared.notifications import event_data
from shared.recovery import flows
from shared.recovery.context import HandOff, RecoveryContext
from shared.recovery.lifecycle import REASONS, Claim, Lease, LeaseLost, Skip, claim

log = logging.getLogger(__name__)


class BadTrigger(ValueError):
    """The event's data does not name a notification; acknowledged and logged."""


def parse_trigger(data: Any) -> tuple[str, str]:
    if not isinstance(data, dict):
        raise BadTrigger(f"recovery trigger data must be a JSON object, got {type(data).__name__}")
    uuid, reason = data.get("notification_uuid"), data.get("reason", "created")
    if not isinstance(uuid, str) or not uuid:
        raise BadTrigger("recovery trigger has no notification_uuid")
    if reason not in REASONS:
        raise BadTrigger(f"recovery trigger reason '{reason}' is not one of {', '.join(REASONS)}")
    return uuid, reason


def _notification_payload(notification_uuid: str) -> dict[str, Any]:
    """Masakari's NotificationApiPayload fields, as the row reads now."""
    with session_scope() as session:
        row = session.scalars(
            select(Notification).where(Notification.notification_uuid == notification_uuid)
        ).one()
        return event_data(row)


def handle_trigger(data: Any) -> str:
    """Run one attempt for the trigger; returns a short account for the log.

    Raises ``HostBusy`` (retryable) and database errors before the claim; everything after the
    claim becomes the notification's status.
    """
    uuid, reason = parse_trigger(data)
    won = claim(uuid, reason)
    if isinstance(won, Skip):
        return won.why
    return _run(won)


def _run(won: Claim) -> str:
    uuid = won.notification_uuid
    with Lease(uuid, won.owner) as lease, logs.bound(host=won.host.get("name")):
        ctx = RecoveryContext(claim=won, lease=lease)
        if won.reason != "resume":
            events.emit("notification.process.start", "recover", uuid, _notification_payload(uuid))
        fault: BaseException | None = None
        try:
            status, message = flows.run(ctx)
        except HandOff as exc:
            return _hand_off(won, lease, str(exc))
        except LeaseLost:
            return f"lease on {uuid} lost; another worker continues"
        except flows.WorkflowError as exc:
            status, message, fault = "error", str(exc), exc
        except Exception as exc:  # a bug or an unexpected outage: never leave it running
            log.exception("recovery of %s failed unexpectedly", uuid)
            status, message, fault = (
                "error",
                f"Recovery of notification '{uuid}' failed: {exc}",
                exc,
            )
        if status == "error" and won.retried:
            status = "failed"
        if status in ("error", "failed"):  # the reason in the log too, not only in `message`
            log.error("recovery of notification %s ended %s: %s", uuid, status, message)
        if not lease.finish(status, message):
            return f"lease on {uuid} lost before the final write"
    data = _notification_payload(uuid)
    if fault is None:
        events.emit("notification.process.end", "recover", uuid, data)
    else:
        events.emit("notification.process.error", "recover", uuid, data, fault=fault)
    return f"notification {uuid} {status}"


def _hand_off(won: Claim, lease: Lease, why: str) -> str:
    """Near the time budget: release the lease and ask for a resume (§15.6)."""
    uuid = won.notification_uuid
    if not lease.release():
        return f"lease on {uuid} lost before hand-off"
    try:
        events.publish_recovery_trigger(uuid, won.type, "resume", "recover")
    except events.PublishError as exc:
        log.warning("resume trigger for %s not published (%s); the sweep will resume it", uuid, exc)
    return f"notification {uuid} handed off: {why}"
