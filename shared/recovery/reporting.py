"""The one progress mechanism every step uses: a RecoveryProgress row per step execution.

Rows are read back by ``shared.progress.workflow_details`` as Masakari's
``recovery_workflow_details`` (recovery.md §14). A step already recorded ``SUCCESS`` in the
same attempt is not run again on resume (§15.6); its published outputs are reused.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from shared.db import session_scope, utcnow
from shared.models import RecoveryProgress
from shared.progress import TIMESTAMP_FORMAT

RUNNING, SUCCESS, FAILURE, REVERTED = "RUNNING", "SUCCESS", "FAILURE", "REVERTED"


class StepProgress:
    """Progress of one step run; ``report`` appends a detail entry and moves the bar."""

    def __init__(self, notification_uuid: str, attempt: int, step_name: str, run: int):
        self.notification_uuid = notification_uuid
        self.attempt = attempt
        self.step_name = step_name
        self.run = run
        self.row_id: int | None = None
        self.state: str | None = None
        self.outputs: dict[str, Any] = {}

    def open(self) -> StepProgress:
        """Find this step run's row (resume) or create it as RUNNING."""
        with session_scope() as session:
            row = session.scalar(
                select(RecoveryProgress).where(
                    RecoveryProgress.notification_uuid == self.notification_uuid,
                    RecoveryProgress.attempt == self.attempt,
                    RecoveryProgress.step_name == self.step_name,
                    RecoveryProgress.run == self.run,
                )
            )
            if row is None:
                row = RecoveryProgress(
                    notification_uuid=self.notification_uuid,
                    attempt=self.attempt,
                    run=self.run,
                    step_name=self.step_name,
                    state=RUNNING,
                    progress=0.0,
                    details=[],
                    created_at=utcnow(),
                )
                session.add(row)
                session.flush()
            elif row.state != SUCCESS:
                row.state = RUNNING
                row.updated_at = utcnow()
            self.row_id, self.state, self.outputs = row.id, row.state, dict(row.outputs or {})
        return self

    @property
    def done(self) -> bool:
        return self.state == SUCCESS

    def report(self, message: str, progress: float | None = None) -> None:
        with session_scope() as session:
            row = session.get_one(RecoveryProgress, self.row_id, with_for_update=True)
            value = row.progress if progress is None else float(progress)
            entry = {
                "timestamp": utcnow().strftime(TIMESTAMP_FORMAT),
                "message": message,
                "progress": value,
            }
            row.details = [*row.details, entry]
            row.progress = value
            row.updated_at = utcnow()

    def close(self, state: str, outputs: dict[str, Any] | None = None) -> None:
        values: dict[str, Any] = {"state": state, "updated_at": utcnow()}
        if outputs is not None:
            values["outputs"] = outputs
        with session_scope() as session:
            session.execute(
                update(RecoveryProgress).where(RecoveryProgress.id == self.row_id).values(**values)
            )
        self.state = state


def revert_attempt(notification_uuid: str, attempt: int) -> None:
    """A failed attempt's steps read REVERTED (TaskFlow's word; nothing in Nova is undone).

    The step that raised keeps FAILURE so an operator sees where it broke.
    """
    with session_scope() as session:
        session.execute(
            update(RecoveryProgress)
            .where(
                RecoveryProgress.notification_uuid == notification_uuid,
                RecoveryProgress.attempt == attempt,
                RecoveryProgress.state.in_((SUCCESS, RUNNING)),
            )
            .values(state=REVERTED, updated_at=utcnow())
        )


def pre_steps_ran(notification_uuid: str, attempt: int, step_names: list[str]) -> bool:
    with session_scope() as session:
        return (
            session.scalar(
                select(RecoveryProgress.id).where(
                    RecoveryProgress.notification_uuid == notification_uuid,
                    RecoveryProgress.attempt == attempt,
                    RecoveryProgress.step_name.in_(step_names),
                )
            )
            is not None
        )


def earlier_outputs(
    notification_uuid: str, step_name: str, before_attempt: int
) -> list[dict[str, Any]]:
    """Outputs ``step_name`` published in earlier attempts, newest first (oldest applied last)."""
    with session_scope() as session:
        return [
            dict(outputs)
            for outputs in session.scalars(
                select(RecoveryProgress.outputs)
                .where(
                    RecoveryProgress.notification_uuid == notification_uuid,
                    RecoveryProgress.step_name == step_name,
                    RecoveryProgress.attempt < before_attempt,
                    RecoveryProgress.outputs.is_not(None),
                )
                .order_by(RecoveryProgress.id.desc())
            )
        ]
