"""API writes: catalogue events around them (events.md §3.2) and applying an update.

``start`` is queued before the write, ``error`` if it fails; the caller queues ``end`` once the
transaction has committed. The background sender delivers them in that order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared import errors, events
from shared.db import session_scope, utcnow

SOURCE = "api"


@contextmanager
def announced(resource: str, action: str, subject: str, data: dict[str, Any]) -> Iterator[None]:
    events.emit_later(events.catalogue_event(f"{resource}.{action}.start", SOURCE, subject, data))
    try:
        yield
    except Exception as exc:
        events.emit_later(
            events.catalogue_event(f"{resource}.{action}.error", SOURCE, subject, data, fault=exc)
        )
        raise


def ended(resource: str, action: str, subject: str, data: dict[str, Any]) -> None:
    events.emit_later(events.catalogue_event(f"{resource}.{action}.end", SOURCE, subject, data))


def apply_changes(
    session: Session, row: Any, fields: dict[str, Any], conflict: errors.VigilError
) -> None:
    """Set ``fields`` and ``updated_at``; a unique-name violation becomes ``conflict`` (409)."""
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = utcnow().replace(microsecond=0)
    try:
        session.flush()
    except IntegrityError:
        raise conflict from None


def insert(
    resource: str,
    row: Any,
    event_data: Callable[[], dict[str, Any]],
    conflict: errors.VigilError,
    guard: Callable[[Session], Any] | None = None,
) -> None:
    """Insert ``row`` in its own transaction between ``<resource>.create.start`` and ``.end``;
    ``guard`` runs first in that transaction and may refuse by raising."""
    with announced(resource, "create", row.uuid, event_data()):
        try:
            with session_scope() as session:
                if guard is not None:
                    guard(session)
                session.add(row)
                session.flush()
        except IntegrityError:
            raise conflict from None
    ended(resource, "create", row.uuid, event_data())
