"""The ``recover`` function: recovery triggers run one attempt; sweep ticks run the retry sweep."""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http import CloudEvent
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import ServiceUnavailable

from shared import logs
from shared.db import DatabaseNotConfigured
from shared.events import PING_TYPE, recovery_trigger_type
from shared.preflight import check_at_start
from shared.recovery.attempt import BadTrigger, handle_trigger
from shared.recovery.lifecycle import HostBusy
from shared.recovery.sweep import sweep

logs.setup("recover")
log = logging.getLogger("vigil.recover")

check_at_start("recover")  # refuse to serve with broken settings (shared/preflight.py)

RETRY_AFTER_SECONDS = 5


def _retry_later(why: str) -> ServiceUnavailable:
    return ServiceUnavailable(description=why, retry_after=RETRY_AFTER_SECONDS)


@functions_framework.cloud_event
def recover(event: CloudEvent) -> None:
    kind = event["type"]
    data = event.data if isinstance(event.data, dict) else {}
    with logs.bound(notification=data.get("notification_uuid")):
        _handle(event, kind)


def _handle(event: CloudEvent, kind: str) -> None:
    try:
        if kind == recovery_trigger_type():
            log.info("recovery trigger %s: %s", event["id"], handle_trigger(event.data))
        elif kind == PING_TYPE:
            log.info("sweep tick %s: %s", event["id"], sweep())
        else:
            log.info("event %s of type %s acknowledged and ignored", event["id"], kind)
    except BadTrigger as exc:
        log.warning("recovery trigger %s acknowledged without work: %s", event["id"], exc)
    except HostBusy as exc:
        raise _retry_later(str(exc)) from exc
    except (SQLAlchemyError, DatabaseNotConfigured) as exc:
        log.error("database unavailable for event %s: %s", event["id"], exc)
        raise _retry_later("database unavailable") from exc
