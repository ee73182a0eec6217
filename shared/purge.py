"""Removing old rows (purge.md): Masakari's ``db purge`` rules plus the rows Vigil adds.

The purge walks its rules in a fixed order, each in small batches: select a batch of qualifying
ids with ``FOR UPDATE SKIP LOCKED``, delete the batch's dependent rows and then the batch, commit.
Every transaction is short and carries its own ``lock_timeout``/``statement_timeout``, so a batch
never queues behind API writes (a batch that times out is skipped and left for the next run) and
API reads are never blocked. One ``max_rows`` budget covers the rows Masakari's rules select;
rows removed because their parent went (vmoves, progress, attempts, monitor state) and expired
health samples do not count against it, so a notification is never half-purged.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import (
    ARRAY,
    BigInteger,
    BindParameter,
    ColumnElement,
    Connection,
    all_,
    any_,
    bindparam,
    delete,
    exists,
    func,
    select,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from shared.db import db_now, get_engine
from shared.models import (
    Base,
    GateDecision,
    HealthSample,
    Host,
    HostMonitorState,
    Notification,
    RecoveryAttempt,
    RecoveryProgress,
    Segment,
    VMove,
)
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)

MAX_INT = 0x7FFFFFFF  # Masakari's upper bound for max_rows
TERMINAL_STATUSES = ("finished", "failed", "ignored")

# Every table the purge can shrink, in the order the report lists them.
TABLES = (
    "notifications",
    "vmoves",
    "recovery_progress",
    "recovery_attempts",
    "hosts",
    "host_monitor_states",
    "failover_segments",
    "health_samples",
    "gate_decisions",
)

# SQLSTATEs that mean "this batch could not run now": lock wait or statement timed out, a
# deadlock, or a row that gained a dependant since it was selected. The batch is skipped.
_SKIPPABLE = {"55P03", "57014", "40P01", "23503"}


class PurgeArgumentError(ValueError):
    """An ``age_in_days``/``max_rows`` value Masakari would refuse; the message is Masakari's."""


def _as_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    return int(str(value).strip())


def check_arguments(age_in_days: object, max_rows: object) -> tuple[int, int]:
    """Validate like ``masakari-manage db purge`` and return the two values as integers."""
    try:
        rows = _as_int(max_rows)
    except ValueError:
        raise PurgeArgumentError("Invalid input received: max_rows must be an integer") from None
    if rows < -1:
        raise PurgeArgumentError("Invalid input received: max_rows must be >= -1")
    if rows > MAX_INT:
        raise PurgeArgumentError(f"Invalid input received: max_rows must be <= {MAX_INT}")
    try:
        age = _as_int(age_in_days)
    except ValueError:
        raise PurgeArgumentError(f"Invalid value for age, {age_in_days}") from None
    if rows == 0:
        raise PurgeArgumentError("Must supply value greater than 0 for max_rows.")
    if age < 0:
        raise PurgeArgumentError("Must supply a non-negative value for age.")
    if age >= int(time.time()) / 86400:
        raise PurgeArgumentError("Maximal age is count of days since epoch.")
    return age, rows


@dataclass
class PurgeReport:
    """What one run removed, per table, and why it stopped."""

    age_in_days: int
    max_rows: int
    cutoff: dt.datetime
    health_cutoff: dt.datetime
    removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    # None: everything that qualified is gone; "max_rows" or "time_limit" otherwise.
    stopped_by: str | None = None
    skipped_batches: int = 0

    @property
    def total(self) -> int:
        return sum(self.removed.values())

    @property
    def nothing_to_do(self) -> bool:
        return self.total == 0 and self.skipped_batches == 0

    def summary(self) -> str:
        """One line for logs and the end of the command's output."""
        if self.nothing_to_do:
            return (
                f"nothing to purge: no rows older than {self.age_in_days} days "
                f"(before {self.cutoff:%Y-%m-%d %H:%M:%S} UTC) qualify"
            )
        parts = ", ".join(f"{table}={n}" for table, n in self.removed.items() if n)
        text = f"purged {self.total} rows ({parts or 'none'})"
        if self.stopped_by == "max_rows":
            text += f"; stopped at max_rows={self.max_rows}, run again for the rest"
        elif self.stopped_by == "time_limit":
            text += "; stopped at the time limit, the next run continues"
        if self.skipped_batches:
            text += f"; {self.skipped_batches} batch(es) skipped behind locks, retried next run"
        return text


Cascade = Callable[[Connection, list[int]], dict[str, int]]


@dataclass(frozen=True)
class _Rule:
    """One table's qualifying predicate and what goes with each of its rows."""

    model: type[Base]
    where: ColumnElement[bool]
    counted: bool
    cascade: Cascade | None = None

    @property
    def table(self) -> str:
        return self.model.__tablename__

    @property
    def pk(self) -> ColumnElement[int]:
        """The integer primary key every purged table has."""
        return self.model.__table__.c.id


def _array(values: list[int]) -> BindParameter:
    """A batch's ids as one array parameter: a single bind instead of one per row."""
    return bindparam(None, values, type_=ARRAY(BigInteger))


def _notification_children(conn: Connection, ids: list[int]) -> dict[str, int]:
    """Delete what hangs off the batch's notifications, matched inside the database."""
    uuids = select(Notification.notification_uuid).where(Notification.id == any_(_array(ids)))
    return {
        model.__tablename__: conn.execute(
            delete(model).where(model.notification_uuid.in_(uuids.scalar_subquery()))
        ).rowcount
        for model in (VMove, RecoveryProgress, RecoveryAttempt)
    }


def _host_monitor_state(conn: Connection, ids: list[int]) -> dict[str, int]:
    """Drop the monitor state of purged hosts unless another host row still has that name."""
    batch = _array(ids)
    names = select(Host.name).where(Host.id == any_(batch)).scalar_subquery()
    others = exists().where(Host.name == HostMonitorState.host_name, Host.id != all_(batch))
    gone = conn.execute(
        delete(HostMonitorState).where(HostMonitorState.host_name.in_(names), ~others)
    ).rowcount
    return {"host_monitor_states": gone}


def _rules(cutoff: dt.datetime, health_cutoff: dt.datetime) -> list[_Rule]:
    soft_deleted = lambda model: (model.deleted != 0) & (model.deleted_at < cutoff)  # noqa: E731
    segment_unused = ~exists().where(Host.failover_segment_id == Segment.uuid)
    return [
        _Rule(
            Notification,
            Notification.status.in_(TERMINAL_STATUSES) & (Notification.updated_at < cutoff),
            counted=True,
            cascade=_notification_children,
        ),
        _Rule(VMove, soft_deleted(VMove), counted=True),
        _Rule(Host, soft_deleted(Host), counted=True, cascade=_host_monitor_state),
        _Rule(Segment, soft_deleted(Segment) & segment_unused, counted=True),
        _Rule(HealthSample, HealthSample.sampled_at < health_cutoff, counted=False),
        _Rule(GateDecision, GateDecision.decided_at < health_cutoff, counted=False),
    ]


def health_retention(settings: Settings) -> dt.timedelta:
    """The configured retention, never shorter than what the monitor reads back."""
    needed = settings.host.monitoring_samples * settings.host.monitoring_interval
    needed += settings.safety.flap_window
    return dt.timedelta(seconds=max(settings.purge.health_sample_retention, needed))


def _sqlstate(exc: DBAPIError) -> str | None:
    detail = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    return detail.get("C") if isinstance(detail, dict) else getattr(exc.orig, "sqlstate", None)


class _Run:
    def __init__(self, conn, report, batch_size, lock_timeout_ms, deadline, on_batch):
        self.conn = conn
        self.report = report
        self.batch_size = batch_size
        self.lock_timeout_ms = lock_timeout_ms
        self.deadline = deadline
        self.on_batch = on_batch
        self.budget = None if report.max_rows == -1 else report.max_rows

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def rule(self, rule: _Rule) -> bool:
        """Purge one rule's rows batch by batch; False when the whole run must stop."""
        after = 0
        while True:
            if self.out_of_time():
                self.report.stopped_by = "time_limit"
                return False
            limit = self.batch_size
            if rule.counted and self.budget is not None:
                if self.budget <= 0:
                    if self.more_left(rule, after):
                        self.report.stopped_by = "max_rows"
                    return True
                limit = min(limit, self.budget)
            rows, last = self.batch(rule, after, limit)
            if last is None:
                return True
            after = last
            if rows and rule.counted and self.budget is not None:
                self.budget -= rows

    def more_left(self, rule: _Rule, after: int) -> bool:
        pk = rule.pk
        with self.conn.begin():
            return (
                self.conn.execute(select(pk).where(rule.where, pk > after).limit(1)).first()
                is not None
            )

    def batch(self, rule: _Rule, after: int, limit: int) -> tuple[int, int | None]:
        """One transaction; returns (parent rows removed, last id seen or None when done)."""
        conn, ids = self.conn, []
        try:
            with conn.begin():
                conn.execute(
                    select(
                        func.set_config("lock_timeout", f"{self.lock_timeout_ms}ms", True),
                        func.set_config("statement_timeout", f"{self.lock_timeout_ms * 5}ms", True),
                    )
                )
                pk = rule.pk
                ids = list(
                    conn.execute(
                        select(pk)
                        .where(rule.where, pk > after)
                        .order_by(pk)
                        .limit(limit)
                        .with_for_update(skip_locked=True, of=rule.model)
                    ).scalars()
                )
                if not ids:
                    return 0, None
                children = rule.cascade(conn, ids) if rule.cascade else {}
                removed = conn.execute(delete(rule.model).where(pk == any_(_array(ids)))).rowcount
        except DBAPIError as exc:
            if _sqlstate(exc) not in _SKIPPABLE:
                raise
            self.report.skipped_batches += 1
            log.warning(
                "purge: a %s batch was skipped (%s); the next run retries it", rule.table, exc.orig
            )
            return 0, (ids[-1] if ids else None)
        self.report.removed[rule.table] += removed
        for table, count in children.items():
            self.report.removed[table] += count
        if self.on_batch:
            self.on_batch(rule.table, removed)
        return removed, ids[-1]


def _cutoffs(
    conn: Connection, age_in_days: int, settings: Settings
) -> tuple[dt.datetime, dt.datetime]:
    """Cut-offs on the database's clock, the one every stored timestamp was written against."""
    with Session(conn) as session:
        now = db_now(session)
        session.commit()
    return now - dt.timedelta(days=age_in_days), now - health_retention(settings)


def count_qualifying(age_in_days: int, url: str | None = None) -> dict[str, int]:
    """How many rows each rule selects right now (for a progress bar's total)."""
    settings = get_settings()
    with get_engine(url).connect() as conn:
        cutoff, health_cutoff = _cutoffs(conn, age_in_days, settings)
        return {
            rule.table: conn.execute(
                select(func.count()).select_from(rule.model).where(rule.where)
            ).scalar_one()
            for rule in _rules(cutoff, health_cutoff)
        }


def purge(
    age_in_days: int,
    max_rows: int,
    *,
    url: str | None = None,
    time_limit: float | None = None,
    on_batch: Callable[[str, int], None] | None = None,
) -> PurgeReport:
    """Run the purge once. ``time_limit`` seconds (None: no limit) bounds when a batch may start."""
    age_in_days, max_rows = check_arguments(age_in_days, max_rows)
    settings = get_settings()
    deadline = None if time_limit is None else time.monotonic() + time_limit
    with get_engine(url).connect() as conn:
        cutoff, health_cutoff = _cutoffs(conn, age_in_days, settings)
        report = PurgeReport(age_in_days, max_rows, cutoff, health_cutoff)
        run = _Run(
            conn,
            report,
            settings.purge.purge_batch_size,
            settings.purge.lock_timeout_ms,
            deadline,
            on_batch,
        )
        for rule in _rules(cutoff, health_cutoff):
            if not run.rule(rule):
                break
    return report
