"""The dead-letter store: events Knative gave up delivering, kept for an operator to see.

Every Trigger's ``delivery.deadLetterSink`` names the cluster-local ``dead-letters`` Service
(infra/knative/broker.yaml), which runs the ``deadletters`` function (``serve``); the local
router in ``vigil dev`` does the same. The sink takes no token, so what it keeps is bounded
(``VIGIL_DEAD_LETTERS__*``): a larger body is refused, and past the row limit the oldest dead
letter makes room; either is logged and counted (``vigil_dead_letters_dropped_total``). The broker
sends the original event plus three extension attributes: ``knativeerrordest`` (the
subscriber that failed), ``knativeerrorcode`` (its last HTTP status) and ``knativeerrordata``
(its last response body, base64-encoded by Knative's dispatcher). The dead-letter sink itself
is delivered at least once, so a redelivered dead letter is recognised and stored once.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

from cloudevents.exceptions import GenericException
from cloudevents.http import from_http
from flask import Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import BaseModel
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from shared import errors
from shared.api import body, faults
from shared.db import session_scope, utcnow
from shared.models import DeadLetter
from shared.settings import get_settings

log = logging.getLogger(__name__)

DROPPED = Counter(
    "vigil_dead_letters_dropped",
    "Dead letters the sink did not keep: refused as too large, or evicted as the oldest",
    ["reason"],
)

ERROR_ATTRIBUTES = ("knativeerrordest", "knativeerrorcode", "knativeerrordata")
_CORE = {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"}


class DeadLetterView(BaseModel):
    """One stored dead letter as the API and ``vigil dead-letters`` show it."""

    id: int
    received_at: dt.datetime
    event_id: str
    event_type: str
    source: str
    subject: str | None
    error_dest: str | None
    error_code: str | None
    error_data: str | None
    attributes: dict[str, Any]
    data: Any | None


def decode_error_data(raw: str | None) -> str | None:
    """Knative base64-encodes the failed response body; show it as text when it decodes."""
    if not raw:
        return raw
    try:
        decoded = base64.b64decode(raw, validate=True)
        return decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return raw


LOCK_SPACE = 7312002


def _bad_request(message: str) -> dict:
    """Masakari's fault shape (api.md): ``{"badRequest": {"code": 400, "message": ...}}``."""
    return {"badRequest": {"code": 400, "message": message}}


def _view(row: DeadLetter) -> DeadLetterView:
    return DeadLetterView(
        id=row.id,
        received_at=row.received_at,
        event_id=row.event_id,
        event_type=row.event_type,
        source=row.source,
        subject=row.subject,
        error_dest=row.error_dest,
        error_code=row.error_code,
        error_data=decode_error_data(row.error_data),
        attributes=row.attributes,
        data=row.data,
    )


def _json_data(event_data: Any) -> Any:
    """The event's data as JSON: objects stay objects, bytes become text (or base64)."""
    if isinstance(event_data, (bytes, bytearray)):
        try:
            return {"text": bytes(event_data).decode("utf-8")}
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(bytes(event_data)).decode("ascii")}
    return event_data


def receive(headers: Mapping[str, str], body: bytes) -> tuple[int, dict]:
    """Store one dead-lettered CloudEvent (binary or structured HTTP mode).

    Returns ``(status, json body)``: 201 with the stored row's id, 200 when the same dead letter
    (same event id, source and failed destination) was already stored, 400 for a request that
    is not a CloudEvent or carries oversize attributes (nothing stored). The sink takes no
    token, so the reply never echoes what was stored.
    """
    try:
        event = from_http(dict(headers), body or None)
    except (GenericException, ValueError, TypeError) as exc:
        return 400, _bad_request(f"Not a CloudEvent: {exc}")
    attributes = {k: v for k, v in event.get_attributes().items()}
    for name in ("id", "source", "type"):
        if not attributes.get(name):
            return 400, _bad_request(f"CloudEvent attribute '{name}' is missing")
    for name in ("id", "source", "type", "subject"):
        if len(str(attributes.get(name) or "")) > 255:
            return 400, _bad_request(f"CloudEvent attribute '{name}' is longer than 255 characters")
    stored_attributes = {k: str(v) for k, v in attributes.items() if k not in ERROR_ATTRIBUTES}
    error = {
        k: (str(attributes[k]) if attributes.get(k) is not None else None) for k in ERROR_ATTRIBUTES
    }
    if error["knativeerrorcode"] and len(error["knativeerrorcode"]) > 16:
        return 400, _bad_request("knativeerrorcode must be an HTTP status code")

    with session_scope() as session:
        # One advisory lock per (id, source, destination): a redelivery waits, then finds the row.
        # The two-key form keeps these locks apart from single_run's one-key locks.
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:k))"),
            {
                "space": LOCK_SPACE,
                "k": f"deadletter:{attributes['id']}:{attributes['source']}:{error['knativeerrordest']}",
            },
        )
        existing = session.scalars(
            select(DeadLetter).where(
                DeadLetter.event_id == str(attributes["id"]),
                DeadLetter.source == str(attributes["source"]),
                DeadLetter.error_dest.is_not_distinct_from(error["knativeerrordest"]),
            )
        ).first()
        if existing is not None:
            return 200, {"dead_letter": {"id": existing.id}}
        row = DeadLetter(
            received_at=utcnow(),
            event_id=str(attributes["id"]),
            event_type=str(attributes["type"]),
            source=str(attributes["source"]),
            subject=str(attributes["subject"]) if attributes.get("subject") else None,
            attributes=stored_attributes,
            data=_json_data(event.get_data()),
            error_dest=error["knativeerrordest"],
            error_code=error["knativeerrorcode"],
            error_data=error["knativeerrordata"],
        )
        session.add(row)
        session.flush()
        _evict_oldest(session)
        log.warning(
            "dead letter stored: %s %s (%s) after %s from %s",
            row.event_type,
            row.event_id,
            row.subject,
            row.error_code,
            row.error_dest,
        )
        return 201, {"dead_letter": {"id": row.id}}


def _evict_oldest(session: Session) -> None:
    """Keep at most ``VIGIL_DEAD_LETTERS__MAX_ROWS``: the oldest beyond it go, each logged."""
    limit = get_settings().dead_letters.max_rows
    over = select(DeadLetter.id).order_by(DeadLetter.received_at.desc(), DeadLetter.id.desc())
    doomed = session.scalars(over.offset(limit)).all()
    if not doomed:
        return
    session.execute(delete(DeadLetter).where(DeadLetter.id.in_(doomed)))
    DROPPED.labels(reason="evicted").inc(len(doomed))
    log.warning(
        "dead-letter store full (VIGIL_DEAD_LETTERS__MAX_ROWS=%d): dropped the %d oldest",
        limit,
        len(doomed),
    )


def serve(request: Request) -> Response:
    """The ``deadletters`` HTTP function: POST stores a dead letter (any path), GET
    ``/healthcheck`` is the probe, GET ``/metrics`` the Prometheus text."""
    if request.method == "GET" and request.path == "/healthcheck":
        return Response("OK", status=200, content_type="text/plain")
    if request.method == "GET" and request.path == "/metrics":
        return Response(generate_latest(), status=200, content_type=CONTENT_TYPE_LATEST)
    if request.method != "POST":
        return faults.fault(errors.BadMethod("The dead-letter sink only takes POST."))
    limit = get_settings().dead_letters.max_event_bytes
    try:
        raw = body.read_limited(request, limit)
    except errors.PayloadTooLarge as exc:
        DROPPED.labels(reason="too_large").inc()
        log.warning(
            "dead letter refused: body over VIGIL_DEAD_LETTERS__MAX_EVENT_BYTES=%d (%s)",
            limit,
            request.headers.get("ce-type", "structured"),
        )
        return faults.fault(exc)
    try:
        status, reply = receive(dict(request.headers), raw)
    except faults.DATABASE_ERRORS as exc:
        return faults.fault(faults.database_trouble(exc, "dead letter not stored"))
    return Response(json.dumps(reply), status=status, content_type="application/json")


def list_dead_letters(
    *,
    event_type: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 100,
    session: Session | None = None,
    database_url: str | None = None,
) -> list[DeadLetterView]:
    """Newest first; optionally only one event type or those received after ``since``."""
    query = select(DeadLetter).order_by(DeadLetter.received_at.desc(), DeadLetter.id.desc())
    if event_type:
        query = query.where(DeadLetter.event_type == event_type)
    if since:
        query = query.where(DeadLetter.received_at >= since)
    query = query.limit(limit)
    if session is not None:
        return [_view(r) for r in session.scalars(query)]
    with session_scope(database_url) as own:
        return [_view(r) for r in own.scalars(query)]
