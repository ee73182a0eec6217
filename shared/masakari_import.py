"""Import a Masakari database (MySQL/MariaDB or PostgreSQL) into Vigil, keeping every UUID.

The whole source is read and judged before anything is written: a name conflict (same name,
other UUID) or a row Vigil cannot hold stops the import with nothing written. Then each table
is written parent-first in batches, one transaction per batch, so an interrupted import is
finished by running it again: rows already in Vigil (by UUID) are left alone, except a
notification Vigil has not started working on, which takes Masakari's newer status.

Masakari's integer ids are kept where Vigil has not used them, so openstacksdk's ids and
markers stay valid too; a soft-deleted row keeps Masakari's meaning (``deleted`` = its id).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Engine,
    MetaData,
    Table,
    create_engine,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from shared.db import session_scope, utcnow
from shared.models import Base, Host, Notification, Segment, VMove
from shared.redaction import hide_password
from shared.schemas import NOTIFICATION_TYPES, RECOVERY_METHODS

# Masakari's own Alembic history (masakari/db/sqlalchemy/migrations). Masakari keeps its
# revision in `masakari_alembic_version`; `alembic_version` there belongs to taskflow.
KNOWN_REVISIONS = {
    "8f848eb45d03": "initial revision (Masakari 2023.2 on, migrated from sqlalchemy-migrate)",
    "8bdf5929c5a6": "adds the vmoves table",
    "13adff5efb9a": "adds notifications.failover_segment_uuid and message (Masakari 22.0.0 head)",
}
VERSION_TABLE = "masakari_alembic_version"
NOTIFICATION_STATUSES = ("new", "running", "error", "failed", "ignored", "finished")
UNFINISHED = ("new", "running", "error")
VMOVE_TYPES = ("evacuation", "migration", "live_migration")
VMOVE_STATUSES = ("pending", "ongoing", "succeeded", "failed", "ignored")
BATCH_ROWS = 1000

Progress = Callable[[str, int, int], None]
"""``progress(table, rows_done, rows_total)``, called after each committed batch."""


class ImportRefused(Exception):
    """The import cannot go ahead; the message says why, and nothing was written."""


def source_engine(url: str) -> Engine:
    """PyMySQL for ``mysql://``/``mariadb://``, pg8000 for ``postgresql://``."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise ImportRefused(f"--from {url!r} is not a database URL") from exc
    backend = parsed.get_backend_name()
    if backend in ("mysql", "mariadb"):
        parsed = parsed.set(drivername=f"{backend}+pymysql")
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    elif backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+pg8000")
    else:
        raise ImportRefused(
            f"--from {hide_password(url)}: Masakari databases are MySQL/MariaDB "
            "(mysql://...) or PostgreSQL (postgresql://...)"
        )
    return create_engine(parsed, pool_pre_ping=True)


# ---------------------------------------------------------------- reading Masakari


@dataclass
class Source:
    """Every Masakari row, already shaped as Vigil row dicts, and the schema revision."""

    revision: str
    segments: list[dict[str, Any]]
    hosts: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    vmoves: list[dict[str, Any]]


def _table_rows(conn, metadata: MetaData, name: str) -> list[dict[str, Any]]:
    table = Table(name, metadata, autoload_with=conn)
    return [dict(row) for row in conn.execute(select(table).order_by(table.c.id)).mappings()]


def read_source(url: str) -> Source:
    engine = source_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            if VERSION_TABLE not in tables:
                hint = (
                    " (it has sqlalchemy-migrate's migrate_version: run Masakari's "
                    "`masakari-manage db sync` first)"
                    if "migrate_version" in tables
                    else ""
                )
                raise ImportRefused(
                    f"{hide_password(url)} is not a Masakari database: no {VERSION_TABLE} table{hint}"
                )
            revision = conn.execute(
                text(f"SELECT version_num FROM {VERSION_TABLE}")
            ).scalar_one_or_none()
            if revision not in KNOWN_REVISIONS:
                known = ", ".join(f"{r} ({d})" for r, d in KNOWN_REVISIONS.items())
                raise ImportRefused(
                    f"Masakari schema version {revision or 'none'} is not one Vigil knows; "
                    f"known: {known}"
                )
            metadata = MetaData()
            raw = {
                name: _table_rows(conn, metadata, name) if name in tables else []
                for name in ("failover_segments", "hosts", "notifications", "vmoves")
            }
    except sa_exc.OperationalError as exc:
        reason = str(exc.orig).strip() if exc.orig else str(exc)
        raise ImportRefused(
            f"cannot reach the Masakari database at {hide_password(url)}: {reason}"
        ) from exc
    except sa_exc.DBAPIError as exc:
        raise ImportRefused(
            f"cannot read the Masakari database at {hide_password(url)}: {exc.orig}"
        ) from exc
    finally:
        engine.dispose()
    return Source(
        revision=revision,
        segments=[_segment(r) for r in raw["failover_segments"]],
        hosts=[_host(r) for r in raw["hosts"]],
        notifications=[_notification(r) for r in raw["notifications"]],
        vmoves=[_vmove(r) for r in raw["vmoves"]],
    )


def _soft_delete(row: dict[str, Any]) -> dict[str, Any]:
    """Masakari's timestamp and soft-delete columns (``deleted`` NULL counts as live)."""
    created = row.get("created_at") or row.get("updated_at") or row.get("generated_time")
    return {
        "id": row["id"],
        "created_at": created or utcnow().replace(microsecond=0),
        "updated_at": row.get("updated_at"),
        "deleted": row.get("deleted") or 0,
        "deleted_at": row.get("deleted_at"),
    }


def _flag(value: Any, default: bool) -> bool:
    return default if value is None else bool(value)


def _segment(row: dict[str, Any]) -> dict[str, Any]:
    return _soft_delete(row) | {
        "uuid": row["uuid"],
        "name": row["name"],
        "service_type": row["service_type"],
        "description": row.get("description"),
        "recovery_method": row["recovery_method"],
        "enabled": _flag(row.get("enabled"), True),
    }


def _host(row: dict[str, Any]) -> dict[str, Any]:
    return _soft_delete(row) | {
        "uuid": row["uuid"],
        "name": row["name"],
        "reserved": _flag(row.get("reserved"), False),
        "type": row["type"],
        "control_attributes": row["control_attributes"],
        "on_maintenance": _flag(row.get("on_maintenance"), False),
        "failover_segment_id": row["failover_segment_id"],
    }


def _notification(row: dict[str, Any]) -> dict[str, Any]:
    return _soft_delete(row) | {
        "notification_uuid": row["notification_uuid"],
        "generated_time": row["generated_time"],
        "type": row["type"],
        "payload": row.get("payload"),  # JSON text; parsed when judged
        "status": row["status"],
        "source_host_uuid": row["source_host_uuid"],
        "failover_segment_uuid": row.get("failover_segment_uuid"),
        "message": row.get("message"),
    }


def _vmove(row: dict[str, Any]) -> dict[str, Any]:
    return _soft_delete(row) | {
        key: row.get(key)
        for key in (
            "uuid", "notification_uuid", "instance_uuid", "instance_name", "source_host",
            "dest_host", "start_time", "end_time", "type", "status", "message",
        )
    }  # fmt: skip


# ---------------------------------------------------------------- judging against Vigil


@dataclass
class TablePlan:
    """What one table's import would do."""

    label: str
    model: type[Base]
    key: str  # the UUID column
    new: list[dict[str, Any]] = field(default_factory=list)
    present: int = 0
    updates: list[dict[str, Any]] = field(default_factory=list)
    soft_deleted: int = 0


@dataclass
class Plan:
    revision: str
    tables: list[TablePlan]
    conflicts: list[str]
    violations: list[str]
    unfinished: int

    @property
    def writes(self) -> int:
        return sum(len(t.new) + len(t.updates) for t in self.tables)


def _uuids(session: Session, column, values: Iterable[str]) -> set[str]:
    wanted = list(set(values))
    found: set[str] = set()
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        found.update(session.scalars(select(column).where(column.in_(chunk))))
    return found


def _live_names(session: Session, model) -> dict[str, str]:
    rows = session.execute(select(model.name, model.uuid).where(model.deleted == 0))
    return {name: uuid for name, uuid in rows}


def _name_conflicts(kind: str, rows: list[dict[str, Any]], vigil: dict[str, str]) -> list[str]:
    return [
        f"{kind} name {row['name']!r} is Masakari's {row['uuid']} but Vigil's {vigil[row['name']]}"
        for row in rows
        if row["deleted"] == 0 and vigil.get(row["name"], row["uuid"]) != row["uuid"]
    ]


def _judge_notification(
    row: dict[str, Any], host_segments: dict[str, str], violations: list[str]
) -> None:
    """Parse the payload and fill a missing segment uuid from the host; record what is wrong."""
    label = f"notification {row['notification_uuid']}"
    if row["type"] not in NOTIFICATION_TYPES:
        violations.append(
            f"{label}: unknown type {row['type']!r} (Vigil knows {NOTIFICATION_TYPES})"
        )
    if row["status"] not in NOTIFICATION_STATUSES:
        violations.append(f"{label}: unknown status {row['status']!r}")
    raw = row["payload"]
    try:
        payload = {} if raw in (None, "") else json.loads(raw)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        violations.append(f"{label}: payload is not a JSON object: {raw!r:.80}")
    else:
        row["payload"] = payload
    if not row["failover_segment_uuid"]:
        segment = host_segments.get(row["source_host_uuid"])
        if segment is None:
            violations.append(
                f"{label}: no failover_segment_uuid and its host {row['source_host_uuid']} "
                "is in neither database"
            )
        row["failover_segment_uuid"] = segment


def plan(source: Source, session: Session) -> Plan:
    """Compare the source with Vigil's rows; nothing is written."""
    violations: list[str] = []
    segments = TablePlan("segments", Segment, "uuid")
    hosts = TablePlan("hosts", Host, "uuid")
    notifications = TablePlan("notifications", Notification, "notification_uuid")
    vmoves = TablePlan("vmoves", VMove, "uuid")

    present = _uuids(session, Segment.uuid, (r["uuid"] for r in source.segments))
    fresh_segments = [r for r in source.segments if r["uuid"] not in present]
    conflicts = _name_conflicts("segment", fresh_segments, _live_names(session, Segment))
    for row in fresh_segments:
        if row["recovery_method"] not in RECOVERY_METHODS:
            violations.append(
                f"segment {row['name']!r} ({row['uuid']}): unknown recovery method "
                f"{row['recovery_method']!r} (Vigil knows {', '.join(RECOVERY_METHODS)})"
            )
    segments.new, segments.present = fresh_segments, len(source.segments) - len(fresh_segments)

    segment_uuids = {r["uuid"] for r in source.segments} | _uuids(
        session, Segment.uuid, (r["failover_segment_id"] for r in source.hosts)
    )
    present = _uuids(session, Host.uuid, (r["uuid"] for r in source.hosts))
    fresh_hosts = [r for r in source.hosts if r["uuid"] not in present]
    conflicts += _name_conflicts("host", fresh_hosts, _live_names(session, Host))
    for row in fresh_hosts:
        if row["failover_segment_id"] not in segment_uuids:
            violations.append(
                f"host {row['name']!r} ({row['uuid']}): its segment {row['failover_segment_id']} "
                "is in neither database"
            )
    hosts.new, hosts.present = fresh_hosts, len(source.hosts) - len(fresh_hosts)

    host_segments = {r["uuid"]: r["failover_segment_id"] for r in source.hosts}
    missing_hosts = {
        r["source_host_uuid"]
        for r in source.notifications
        if not r["failover_segment_uuid"] and r["source_host_uuid"] not in host_segments
    }
    if missing_hosts:
        host_segments |= dict(
            session.execute(
                select(Host.uuid, Host.failover_segment_id).where(Host.uuid.in_(missing_hosts))
            ).all()
        )
    vigil_notifications = {
        row.notification_uuid: row
        for row in session.execute(
            select(
                Notification.notification_uuid,
                Notification.status,
                Notification.updated_at,
                Notification.attempt,
                Notification.lease_owner,
            )
        )
    }
    for row in source.notifications:
        known = vigil_notifications.get(row["notification_uuid"])
        if known is None:
            _judge_notification(row, host_segments, violations)
            notifications.new.append(row)
        elif (
            known.attempt == 0
            and known.lease_owner is None
            and (row["status"], row["updated_at"]) != (known.status, known.updated_at)
            and row["status"] in NOTIFICATION_STATUSES
        ):
            notifications.updates.append(row)
        else:
            notifications.present += 1

    notification_uuids = set(vigil_notifications) | {
        r["notification_uuid"] for r in source.notifications
    }
    present = _uuids(session, VMove.uuid, (r["uuid"] for r in source.vmoves))
    for row in source.vmoves:
        if row["uuid"] in present:
            vmoves.present += 1
            continue
        label = f"vmove {row['uuid']}"
        if row["notification_uuid"] not in notification_uuids:
            violations.append(
                f"{label}: its notification {row['notification_uuid']} is in neither database"
            )
        if row["type"] not in VMOVE_TYPES:
            violations.append(f"{label}: unknown type {row['type']!r}")
        if row["status"] not in VMOVE_STATUSES:
            violations.append(f"{label}: unknown status {row['status']!r}")
        vmoves.new.append(row)

    tables = [segments, hosts, notifications, vmoves]
    for table in tables:
        table.soft_deleted = sum(1 for r in table.new if r["deleted"])
    unfinished = sum(1 for r in notifications.new if r["status"] in UNFINISHED)
    return Plan(source.revision, tables, conflicts, violations, unfinished)


# ---------------------------------------------------------------- writing


def _sequence(table: str) -> str:
    return f"pg_get_serial_sequence('{table}', 'id')"


def _assign_ids(session: Session, table: TablePlan) -> None:
    """Keep Masakari's id where Vigil has not used it, else take a fresh one; move the id
    sequence past every kept id so Vigil's own inserts never collide with them."""
    name = table.model.__tablename__
    model = table.model
    wanted = [r["id"] for r in table.new]
    taken: set[int] = set()
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        taken.update(session.scalars(select(model.id).where(model.id.in_(chunk))))  # type: ignore[attr-defined]
    highest = max(wanted, default=0)
    session.execute(
        text(
            f"SELECT setval({_sequence(name)}, GREATEST(:highest, "
            f"(SELECT COALESCE(MAX(id), 0) FROM {name}), "
            f"(SELECT last_value FROM {name}_id_seq)), true)"
        ),
        {"highest": max(highest, 1)},
    )
    moved = [r for r in table.new if r["id"] in taken]
    if moved:
        fresh = session.scalars(
            text(f"SELECT nextval({_sequence(name)}) FROM generate_series(1, :n)"),
            {"n": len(moved)},
        ).all()
        for row, new_id in zip(moved, fresh, strict=True):
            if row["deleted"]:
                row["deleted"] = new_id
            row["id"] = new_id


def _json_value(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def insert_rows(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """One statement and one round trip for the whole batch: the rows travel as one JSON
    parameter that PostgreSQL expands with ``jsonb_populate_recordset`` (pg8000 would send
    an executemany row by row). Columns left out keep their server defaults."""
    if not rows:
        return
    name = model.__tablename__
    columns = ", ".join(rows[0])
    session.execute(
        text(
            f"INSERT INTO {name} ({columns}) SELECT {columns} "
            f"FROM jsonb_populate_recordset(NULL::{name}, CAST(:rows AS jsonb))"
        ),
        {"rows": json.dumps(rows, default=_json_value)},
    )


def _update_notifications(session: Session, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        session.execute(
            update(Notification)
            .where(
                Notification.notification_uuid == row["notification_uuid"],
                Notification.attempt == 0,
                Notification.lease_owner.is_(None),
            )
            .values(
                status=row["status"],
                message=row["message"],
                updated_at=row["updated_at"],
                deleted=row["deleted"],
                deleted_at=row["deleted_at"],
            )
        )


def apply(
    result: Plan, url: str, progress: Progress | None = None, batch_rows: int = BATCH_ROWS
) -> None:
    """Write the plan, parents first, one transaction per batch of one table."""
    for table in result.tables:
        total = len(table.new) + len(table.updates)
        done = 0
        if table.new:
            with session_scope(url) as session:
                _assign_ids(session, table)
        for start in range(0, len(table.new), batch_rows):
            batch = table.new[start : start + batch_rows]
            with session_scope(url) as session:
                insert_rows(session, table.model, batch)
            done += len(batch)
            if progress:
                progress(table.label, done, total)
        for start in range(0, len(table.updates), batch_rows):
            batch = table.updates[start : start + batch_rows]
            with session_scope(url) as session:
                _update_notifications(session, batch)
            done += len(batch)
            if progress:
                progress(table.label, done, total)
