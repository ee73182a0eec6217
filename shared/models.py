"""The tables, as typed SQLAlchemy models. Alembic (shared/migrations) owns the schema.

Masakari's columns keep Masakari's names and meaning (api.md §5.3): an integer ``id`` plus a
uuid, ``deleted`` stored as 0 while live and the row's own id once soft-deleted, naive UTC
timestamps. Vigil's own state (leases, attempts, progress, health samples, job runs) sits
beside them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: DateTime(timezone=False), dict[str, Any]: JSONB}


class SoftDeleteMixin:
    """Masakari's timestamps and soft-delete columns, shared by every API resource."""

    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None]
    deleted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    deleted_at: Mapped[dt.datetime | None]


class Segment(SoftDeleteMixin, Base):
    __tablename__ = "failover_segments"
    __table_args__ = (
        UniqueConstraint("name", "deleted", name="uniq_segment0name0deleted"),
        UniqueConstraint("uuid", name="uniq_segments0uuid"),
        Index("ix_failover_segments_deleted_at", "deleted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(255))
    service_type: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    recovery_method: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")


class Host(SoftDeleteMixin, Base):
    __tablename__ = "hosts"
    __table_args__ = (
        UniqueConstraint("name", "deleted", name="uniq_host0name0deleted"),
        UniqueConstraint("uuid", name="uniq_host0uuid"),
        Index("ix_hosts_deleted_at", "deleted_at"),
        Index("ix_hosts_failover_segment_id", "failover_segment_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(255))
    reserved: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    type: Mapped[str] = mapped_column(String(255))
    control_attributes: Mapped[str] = mapped_column(Text)
    on_maintenance: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    failover_segment_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("failover_segments.uuid")
    )


class Notification(SoftDeleteMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("notification_uuid", name="uniq_notification0uuid"),
        Index("ix_notifications_status_updated_at", "status", "updated_at"),
        Index("ix_notifications_host_type_time", "source_host_uuid", "type", "generated_time"),
        Index("ix_notifications_generated_time", "generated_time"),
        Index("ix_notifications_created_at_id", "created_at", "id"),
        Index("ix_notifications_type_status", "type", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_uuid: Mapped[str] = mapped_column(String(36))
    generated_time: Mapped[dt.datetime]
    type: Mapped[str] = mapped_column(String(36))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(36))
    source_host_uuid: Mapped[str] = mapped_column(String(36))
    failover_segment_uuid: Mapped[str] = mapped_column(String(36))
    message: Mapped[str | None] = mapped_column(Text)

    # Vigil: who owns the running attempt and until when (recovery.md §15.5-15.6).
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[dt.datetime | None]
    # Current attempt number (§15.7); 0 until the first Prepare runs.
    attempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # True once the retry sweep started an attempt: an error then becomes `failed` (§9).
    retried: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # When the sweep last republished a trigger for this row (keeps republication spaced).
    last_triggered_at: Mapped[dt.datetime | None]


class VMove(SoftDeleteMixin, Base):
    __tablename__ = "vmoves"
    __table_args__ = (
        UniqueConstraint("uuid", name="uniq_vmove0uuid"),
        Index("ix_vmoves_notification_uuid", "notification_uuid"),
        Index("ix_vmoves_deleted_at", "deleted_at"),
        Index(
            "ix_vmoves_unfinished",
            "type",
            "status",
            postgresql_where=text("status IN ('pending', 'ongoing') AND deleted = 0"),
        ),
        Index("ix_vmoves_end_time", "end_time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36))
    notification_uuid: Mapped[str] = mapped_column(String(36))
    instance_uuid: Mapped[str] = mapped_column(String(36))
    instance_name: Mapped[str] = mapped_column(String(255))
    source_host: Mapped[str | None] = mapped_column(String(255))
    dest_host: Mapped[str | None] = mapped_column(String(255))
    start_time: Mapped[dt.datetime | None]
    end_time: Mapped[dt.datetime | None]
    type: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(36))
    message: Mapped[str | None] = mapped_column(Text)
    # Vigil: attempt that created this vmove (§15.7) and the priority it was started with (§15.10).
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    priority: Mapped[int | None] = mapped_column(Integer)


class RecoveryAttempt(Base):
    """One Prepare run of a notification: first try, next reserved host, fallback or retry."""

    __tablename__ = "recovery_attempts"
    __table_args__ = (
        UniqueConstraint("notification_uuid", "number", name="uniq_attempt0notification0number"),
        Index("ix_recovery_attempts_ended_at", "ended_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_uuid: Mapped[str] = mapped_column(String(36))
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(36))  # auto | reserved_host
    reserved_host_uuid: Mapped[str | None] = mapped_column(String(36))
    reserved_host_name: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str | None] = mapped_column(String(36))  # succeeded | failed | nothing
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]


class RecoveryProgress(Base):
    """One row per step execution: what ``recovery_workflow_details`` reports (§14)."""

    __tablename__ = "recovery_progress"
    __table_args__ = (
        UniqueConstraint(
            "notification_uuid", "attempt", "step_name", "run", name="uniq_progress0step"
        ),
        Index("ix_recovery_progress_notification_uuid", "notification_uuid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_uuid: Mapped[str] = mapped_column(String(36))
    attempt: Mapped[int] = mapped_column(Integer)
    # Distinguishes repeated runs of the same step inside one attempt number.
    run: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    step_name: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(36))  # RUNNING | SUCCESS | FAILURE | REVERTED
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    details: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    # Outputs a step publishes for later steps (recovery.md §12); kept so a resume can reuse them.
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None]


class HealthSample(Base):
    """One row per host per monitoring cycle, with the signals behind its verdict."""

    __tablename__ = "health_samples"
    __table_args__ = (
        Index("ix_health_samples_sampled_at", "sampled_at"),
        Index("ix_health_samples_host_time", "host_name", "sampled_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    host_name: Mapped[str] = mapped_column(String(255))
    host_uuid: Mapped[str | None] = mapped_column(String(36))
    sampled_at: Mapped[dt.datetime]
    ready: Mapped[str | None] = mapped_column(String(16))
    lease_renew_time: Mapped[dt.datetime | None]
    lease_age: Mapped[float | None] = mapped_column(Float)
    nova_state: Mapped[str | None] = mapped_column(String(16))
    nova_status: Mapped[str | None] = mapped_column(String(16))
    nova_forced_down: Mapped[bool | None] = mapped_column(Boolean)
    networks: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    fenced: Mapped[str | None] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(8))  # up | down | none


class HostMonitorState(Base):
    """The monitor's settled view of one host (monitoring.md §12)."""

    __tablename__ = "host_monitor_states"

    host_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    host_uuid: Mapped[str | None] = mapped_column(String(36))
    settled_state: Mapped[str | None] = mapped_column(String(8))  # alive | dead
    settled_since: Mapped[dt.datetime | None]
    last_reported: Mapped[str | None] = mapped_column(String(32))
    last_reported_at: Mapped[dt.datetime | None]
    fencing_evidence: Mapped[str | None] = mapped_column(String(64))
    pending_transition: Mapped[str | None] = mapped_column(String(32))
    transitions: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    flapping_until: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]


class JobRun(Base):
    """Last run of a periodic job, so each runs at most once per interval across instances."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run_at: Mapped[dt.datetime | None]
    last_result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class DeadLetter(Base):
    """An event that exhausted its deliveries, kept where an operator can see it."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_received_at", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[dt.datetime]
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(255))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    data: Mapped[Any | None] = mapped_column(JSONB)
    error_dest: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_data: Mapped[str | None] = mapped_column(Text)


class GateDecision(Base):
    """One time a monitor safety gate held verdicts back, with the hosts and the reason."""

    __tablename__ = "gate_decisions"
    __table_args__ = (Index("ix_gate_decisions_decided_at", "decided_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    decided_at: Mapped[dt.datetime]
    gate: Mapped[str] = mapped_column(String(32))  # partition | brake | flap | cap
    hosts: Mapped[list[str]] = mapped_column(JSONB, default=list)
    reason: Mapped[str] = mapped_column(Text)
    segment: Mapped[str | None] = mapped_column(String(36))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
