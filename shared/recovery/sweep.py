"""The retry sweep (recovery.md §9): republish triggers, never run a workflow in the tick.

Each job runs at most once per interval across all instances (``claim_interval``), so
duplicated or overlapping ticks are harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import and_, or_, select, update

from shared import events
from shared.db import rows_changed, session_scope
from shared.locks import claim_interval, single_run
from shared.models import Notification
from shared.recovery.lifecycle import interval_seconds, lease_expired, sql_now
from shared.settings import get_settings

log = logging.getLogger(__name__)

EXPIRED_MESSAGE = "Notification expired: not recovered within notifications_expired_interval"


def _republish(rows: list[tuple[str, str]], reason: str) -> int:
    sent = 0
    for uuid, kind in rows:
        try:
            events.publish_recovery_trigger(uuid, kind, reason, "recover")
        except events.PublishError as exc:
            log.warning("sweep could not republish %s (%s): %s", uuid, reason, exc)
            continue
        with session_scope() as session:
            session.execute(
                update(Notification)
                .where(Notification.notification_uuid == uuid)
                .values(last_triggered_at=sql_now())
            )
        sent += 1
    return sent


def _select(condition) -> list[tuple[str, str]]:
    with session_scope() as session:
        return [
            (r.notification_uuid, r.type)
            for r in session.execute(
                select(Notification.notification_uuid, Notification.type)
                .where(condition, Notification.deleted == 0)
                .order_by(Notification.generated_time)
            )
        ]


def retry_unfinished() -> dict[str, int]:
    """``error`` gets its one retry; ``new`` older than the threshold lost its trigger."""
    settings = get_settings()
    # A retried attempt that ends in error is written `failed` by its own final write, so only
    # errors that have not had their retry are left here.
    stale = sql_now() - interval_seconds(settings.retry_notification_new_status_interval)
    rows = _select(
        or_(
            and_(Notification.status == "error", Notification.retried.is_(False)),
            and_(Notification.status == "new", Notification.generated_time < stale),
        )
    )
    return {"retried": _republish(rows, "retry")}


def resume_expired_leases() -> dict[str, int]:
    rows = _select(
        and_(
            Notification.status == "running",
            lease_expired(),
        )
    )
    return {"resumed": _republish(rows, "resume")}


def expire_old() -> dict[str, int]:
    settings = get_settings()
    with session_scope() as session:
        count = rows_changed(
            session.execute(
                update(Notification)
                .where(
                    Notification.status.in_(("new", "running", "error")),
                    Notification.generated_time
                    < sql_now() - interval_seconds(settings.notifications_expired_interval),
                    Notification.deleted == 0,
                )
                .values(
                    status="failed",
                    message=EXPIRED_MESSAGE,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=sql_now(),
                )
            )
        )
    return {"expired": count}


def sweep() -> dict[str, Any]:
    """One tick: each job only if its interval has passed since its last run anywhere.

    Overlapping ticks are harmless: a second concurrent run exits at once.
    """
    with single_run("recover.sweep") as mine:
        return _jobs() if mine else {"skipped": "another sweep is running"}


def _jobs() -> dict[str, Any]:
    settings = get_settings()
    done: dict[str, Any] = {}
    if claim_interval(
        "recover.expire", dt.timedelta(seconds=settings.check_expired_notifications_interval)
    ):
        done.update(expire_old())
    if claim_interval(
        "recover.retry", dt.timedelta(seconds=settings.process_unfinished_notifications_interval)
    ):
        done.update(retry_unfinished())
    resume_every = min(
        settings.process_unfinished_notifications_interval, settings.recovery_lease_seconds
    )
    if claim_interval("recover.resume", dt.timedelta(seconds=resume_every)):
        done.update(resume_expired_leases())
    return done
