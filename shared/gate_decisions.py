"""The monitor's safety-gate decisions, stored so an operator can ask why a host was not reported.

``shared.health.gates.announce`` logs and emits each hold; it also calls :func:`record`, which
keeps one row per hold. Rows live as long as health samples do (the purge removes both).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.orm import Session

from shared.db import db_now, session_scope
from shared.models import GateDecision

log = logging.getLogger(__name__)


def record(gate: str, hosts: list[str], reason: str, data: dict[str, Any]) -> None:
    """Store one hold in its own short transaction; a database hiccup only costs the row."""
    segment = data.get("segment")
    details = {k: v for k, v in data.items() if k != "segment"}
    try:
        with session_scope() as session:
            session.add(
                GateDecision(
                    decided_at=db_now(session),
                    gate=gate,
                    hosts=list(hosts),
                    reason=reason,
                    segment=str(segment) if segment else None,
                    details=details,
                )
            )
    except (DBAPIError, SATimeoutError) as exc:
        log.error("gate %s decision not stored: %s", gate, exc)


def recent(session: Session, limit: int) -> list[GateDecision]:
    """Newest first."""
    query = select(GateDecision).order_by(GateDecision.decided_at.desc(), GateDecision.id.desc())
    return list(session.scalars(query.limit(limit)))
