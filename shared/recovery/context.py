"""State one attempt carries through its steps, and the signals that end a workflow early."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from shared.clients import openstack_connection
from shared.db import rows_changed, session_scope, utcnow
from shared.models import Notification, RecoveryAttempt
from shared.recovery.lifecycle import Claim, Lease, LeaseLost
from shared.recovery.nova import Nova
from shared.settings import Settings, get_settings


class Settled(Exception):
    """A step concluded there is nothing (more) to do: the workflow ends ``finished``/``ignored``."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class HandOff(Exception):
    """The invocation is near its time budget: keep progress, release the lease, resume later."""


_nova: Nova | None = None


def nova() -> Nova:
    """One Nova wrapper per process over the one openstacksdk connection (§15.4)."""
    global _nova
    conn = openstack_connection()
    if _nova is None or _nova.conn is not conn:
        _nova = Nova()
    return _nova


@dataclass
class RecoveryContext:
    claim: Claim
    lease: Lease
    started: float = field(default_factory=time.monotonic)
    attempt: int = 0
    runs: Counter = field(default_factory=Counter)

    @property
    def settings(self) -> Settings:
        return get_settings()

    @property
    def nova(self) -> Nova:
        return nova()

    @property
    def uuid(self) -> str:
        return self.claim.notification_uuid

    def over_budget(self, restores: bool = False) -> bool:
        """True when a server started now might still be evacuating when the invocation must end.

        An evacuation may take ``wait_period_after_evacuation``, plus the stop wait for a server
        that is put back into its stopped or error state; a budget shorter than that can only be
        honoured by elapsed time, so every invocation still makes progress.
        """
        elapsed = time.monotonic() - self.started
        window = self.settings.wait_period_after_evacuation + (
            self.settings.wait_period_after_power_off if restores else 0
        )
        budget = self.settings.recovery_time_budget
        if budget <= window:
            return elapsed > budget
        return elapsed + window > budget

    def sleep(self, seconds: float) -> None:
        """Wait, but wake at once if the lease is lost."""
        if self.lease.lost.wait(seconds):
            self.lease.check()

    def poll(
        self,
        seconds: float,
        read: Callable[[], Any],
        done: Callable[[Any], bool],
        timed_out: Callable[[], Exception],
    ) -> Any:
        """``read`` every ``verify_interval`` until ``done``; after ``seconds`` raise ``timed_out()``.

        Stops with LeaseLost as soon as another worker owns the notification.
        """
        deadline = time.monotonic() + seconds
        while True:
            self.lease.check()
            value = read()
            if done(value):
                return value
            if time.monotonic() >= deadline:
                raise timed_out()
            self.sleep(self.settings.verify_interval)

    def begin_attempt(self, kind: str) -> RecoveryAttempt:
        """A new attempt number (§15.7): each Prepare run, fallback or retry gets its own."""
        with session_scope() as session:
            # Locking the notification through the lease numbers attempts one at a time, and
            # only for the worker that owns it.
            owned = session.scalar(
                select(Notification.id).where(self.lease.holds()).with_for_update()
            )
            if owned is None:
                self.lease.lost.set()
                raise LeaseLost(f"lease on {self.uuid} lost")
            last = session.scalar(
                select(func.max(RecoveryAttempt.number)).where(
                    RecoveryAttempt.notification_uuid == self.uuid
                )
            )
            row = RecoveryAttempt(
                notification_uuid=self.uuid,
                number=(last or 0) + 1,
                kind=kind,
                started_at=utcnow(),
            )
            session.add(row)
            session.execute(
                update(Notification).where(Notification.id == owned).values(attempt=row.number)
            )
            session.flush()
        self.enter_attempt(row.number)
        return row

    def enter_attempt(self, number: int) -> None:
        self.attempt = number
        self.runs = Counter()

    def _attempt(self, number: int) -> RecoveryAttempt | None:
        if not number:
            return None
        with session_scope() as session:
            return session.scalar(
                select(RecoveryAttempt).where(
                    RecoveryAttempt.notification_uuid == self.uuid,
                    RecoveryAttempt.number == number,
                )
            )

    def current_attempt(self) -> RecoveryAttempt | None:
        """The attempt the notification was on when this worker claimed it (for a resume)."""
        return self._attempt(self.claim.attempt)

    def _update_attempt(self, **values: Any) -> None:
        with session_scope() as session:
            session.execute(
                update(RecoveryAttempt)
                .where(
                    RecoveryAttempt.notification_uuid == self.uuid,
                    RecoveryAttempt.number == self.attempt,
                )
                .values(**values)
            )

    def end_attempt(self, outcome: str) -> None:
        self._update_attempt(outcome=outcome, ended_at=utcnow())

    def record_reserved_host(self, session: Session, host: dict[str, Any]) -> None:
        """The claim belongs to the attempt, so a resume reuses it (§15.8). Written in the claim's
        own transaction and only while this worker holds the lease: a crash or a lost lease
        rolls the claim back instead of taking the reserved host out of the pool for nothing."""
        written = rows_changed(
            session.execute(
                update(RecoveryAttempt)
                .where(
                    RecoveryAttempt.notification_uuid == self.uuid,
                    RecoveryAttempt.number == self.attempt,
                    exists().where(self.lease.holds()),
                )
                .values(reserved_host_uuid=host["uuid"], reserved_host_name=host["name"])
            )
        )
        if not written:
            self.lease.lost.set()
            raise LeaseLost(f"lease on {self.uuid} lost")

    def attempt_row(self) -> RecoveryAttempt | None:
        """The attempt this worker is running now."""
        return self._attempt(self.attempt)
