"""CloudEvents Vigil publishes (events.md): the Masakari catalogue and the recovery trigger.

Events go to the sink in ``K_SINK`` (injected by a Knative SinkBinding) or ``VIGIL_SINK``, in
binary HTTP mode. Without a sink, catalogue events are dropped (as Masakari emits nothing
without a notification driver) and a recovery trigger raises ``PublishError`` so the caller
can leave the row for the retry sweep.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import traceback
import uuid
from typing import Any

import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from shared.settings import get_settings

log = logging.getLogger(__name__)

SOURCES = {"api": "/vigil/api", "monitor": "/vigil/monitor", "recover": "/vigil/recover"}
PING_TYPE = "dev.knative.sources.ping"
TRIGGER_SUFFIX = "internal.recovery.requested"
MONITOR_GATE_SUFFIX = "monitor.gate"

_http = requests.Session()


class PublishError(RuntimeError):
    """The event could not be delivered to the sink."""


def sink_url() -> str | None:
    return os.environ.get("K_SINK") or get_settings().sink


def event_type(suffix: str) -> str:
    """Full type for a catalogue suffix such as ``segment.create.start``."""
    return f"{get_settings().event_type_prefix}.{suffix}"


def recovery_trigger_type() -> str:
    return event_type(TRIGGER_SUFFIX)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def build(
    type_: str,
    source: str,
    subject: str | None,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    priority: str | None = None,
) -> CloudEvent:
    attributes = {
        "type": type_,
        "source": SOURCES.get(source, source),
        "id": event_id or str(uuid.uuid4()),
        "time": dt.datetime.now(dt.UTC).isoformat(),
        "datacontenttype": "application/json",
    }
    if subject:
        attributes["subject"] = subject
    if priority:
        attributes["priority"] = priority
    return CloudEvent(attributes, _jsonable(data))


def send(event: CloudEvent, url: str | None = None) -> None:
    """POST one event in binary mode; raise PublishError on any failure."""
    url = url or sink_url()
    if not url:
        raise PublishError("no event sink configured (K_SINK or VIGIL_SINK)")
    headers, body = to_binary(event)
    try:
        response = _http.post(
            url, headers=headers, data=body, timeout=get_settings().publish_timeout
        )
    except requests.RequestException as exc:
        raise PublishError(f"event sink {url} unreachable: {exc}") from exc
    if response.status_code >= 300:
        raise PublishError(f"event sink {url} answered {response.status_code}")


def publish_recovery_trigger(
    notification_uuid: str, notification_type: str, reason: str, source: str
) -> None:
    """The wake-up call for ``recover`` (events.md §4). Raises PublishError."""
    event = build(
        recovery_trigger_type(),
        source,
        notification_uuid,
        {"notification_uuid": notification_uuid, "type": notification_type, "reason": reason},
        event_id=notification_uuid if reason == "created" else None,
    )
    send(event)


def fault_payload(exc: BaseException) -> dict[str, Any]:
    """Masakari's ExceptionPayload fields for an ``*.error`` event."""
    tb = traceback.extract_tb(exc.__traceback__)
    frame = tb[-1] if tb else None
    return {
        "module_name": type(exc).__module__,
        "function_name": frame.name if frame else None,
        "exception": type(exc).__name__,
        "exception_message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def emit(
    suffix: str,
    source: str,
    subject: str | None,
    data: dict[str, Any],
    *,
    fault: BaseException | None = None,
) -> None:
    """A catalogue event (events.md §3); never raises, never blocks the caller's outcome."""
    url = sink_url()
    if not url:
        return
    payload = dict(data)
    payload["fault"] = fault_payload(fault) if fault is not None else None
    event = build(
        event_type(suffix), source, subject, payload, priority="ERROR" if fault else "INFO"
    )
    try:
        send(event, url)
    except PublishError as exc:
        log.warning("catalogue event %s for %s not delivered: %s", suffix, subject, exc)
