"""Per-step recovery progress: written by recover, read back as ``recovery_workflow_details``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import RecoveryProgress

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def workflow_details(session: Session, notification_uuid: str) -> list[dict[str, Any]]:
    """Masakari's ``recovery_workflow_details`` shape, in execution order (recovery.md §14)."""
    rows = session.scalars(
        select(RecoveryProgress)
        .where(RecoveryProgress.notification_uuid == notification_uuid)
        .order_by(RecoveryProgress.id)
    )
    return [
        {
            "name": row.step_name,
            "progress": float(row.progress),
            "state": row.state,
            "progress_details": [
                {
                    "timestamp": d["timestamp"],
                    "message": d["message"],
                    "progress": str(d["progress"]),
                }
                for d in row.details
            ],
        }
        for row in rows
    ]
