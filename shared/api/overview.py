"""Read-only Vigil extensions (microversion 1.4) behind the dashboard: what Masakari's API lacks.

``GET /v1/summary`` (every segment with its hosts' settled states, notification counts, the
monitor's last round and partition hold), ``GET /v1/gate-decisions`` (safety-gate holds with
their reasons) and ``GET /v1/dead-letters`` (events Knative gave up delivering). Same token
check and admin-only oslo.policy defaults as the rest of the API; registered in
``shared.api.routes`` from :data:`ENDPOINTS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from shared import deadletters, gate_decisions, listing
from shared.api import policy
from shared.api.handlers import Reply
from shared.db import db_now, session_scope
from shared.hosts import monitor_state_fields
from shared.models import (
    DeadLetter,
    HealthSample,
    Host,
    HostMonitorState,
    JobRun,
    Notification,
    Segment,
)
from shared.schemas import Timestamp
from shared.settings import get_settings

DEFAULT_LIMIT = 50


class HostSummary(BaseModel):
    uuid: str
    name: str
    type: str
    reserved: bool
    on_maintenance: bool
    settled_state: str | None
    settled_since: Timestamp | None
    last_reported: str | None
    last_reported_at: Timestamp | None
    fencing_evidence: str | None
    pending_transition: str | None
    flapping_until: Timestamp | None
    last_verdict: str | None
    last_sampled_at: Timestamp | None


class SegmentSummary(BaseModel):
    uuid: str
    name: str
    service_type: str
    recovery_method: str
    enabled: bool
    hosts: list[HostSummary]


class MonitorSummary(BaseModel):
    last_tick_at: Timestamp | None
    last_sample_at: Timestamp | None
    seconds_since_last_sample: float | None
    partition_hold: dict[str, Any] | None


class SummaryView(BaseModel):
    """One call for the dashboard's overview: the cheap aggregate of several tables."""

    generated_at: Timestamp
    monitor: MonitorSummary
    segments: list[SegmentSummary]
    notifications_by_status: dict[str, int]
    dead_letters: int


class GateDecisionView(BaseModel):
    id: int
    decided_at: Timestamp
    gate: str
    hosts: list[str]
    reason: str
    segment: str | None
    details: dict[str, Any]


class SummaryReply(BaseModel):
    summary: SummaryView


class GateDecisionList(BaseModel):
    gate_decisions: list[GateDecisionView]


class DeadLetterList(BaseModel):
    dead_letters: list[deadletters.DeadLetterView]


def _limit(args: Any) -> int:
    if "limit" not in args:
        return DEFAULT_LIMIT
    return min(listing.int_param("limit", args.get("limit")), get_settings().osapi_max_limit)


def _last_samples(session: Session, names: list[str]) -> dict[str, HealthSample]:
    if not names:
        return {}
    rows = session.scalars(
        select(HealthSample)
        .where(HealthSample.host_name.in_(names))
        .ext(distinct_on(HealthSample.host_name))
        .order_by(HealthSample.host_name, HealthSample.sampled_at.desc(), HealthSample.id.desc())
    )
    return {row.host_name: row for row in rows}


def _host(row: Host, state: HostMonitorState | None, sample: HealthSample | None) -> HostSummary:
    return HostSummary(
        uuid=row.uuid,
        name=row.name,
        type=row.type,
        reserved=row.reserved,
        on_maintenance=row.on_maintenance,
        **monitor_state_fields(state, HostSummary),
        last_verdict=sample.verdict if sample else None,
        last_sampled_at=sample.sampled_at if sample else None,
    )


def summary(session: Session) -> SummaryView:
    # Imported here: the monitor's module pulls in the Kubernetes client, which the api's
    # other routes never need.
    from shared.health.jobs import HOLD_JOB, TICK_JOB

    now = db_now(session)
    segments = list(
        session.scalars(select(Segment).where(Segment.deleted == 0).order_by(Segment.name))
    )
    hosts = list(session.scalars(select(Host).where(Host.deleted == 0).order_by(Host.name)))
    names = [h.name for h in hosts]
    states = {
        s.host_name: s
        for s in session.scalars(
            select(HostMonitorState).where(HostMonitorState.host_name.in_(names))
        )
    }
    samples = _last_samples(session, names)
    jobs = {
        j.name: j
        for j in session.scalars(select(JobRun).where(JobRun.name.in_([TICK_JOB, HOLD_JOB])))
    }
    last_sample = max((s.sampled_at for s in samples.values()), default=None)
    hold = jobs[HOLD_JOB].last_result if HOLD_JOB in jobs else None
    by_status = dict(
        session.execute(
            select(Notification.status, func.count())
            .where(Notification.deleted == 0)
            .group_by(Notification.status)
        ).all()
    )
    return SummaryView(
        generated_at=now,
        monitor=MonitorSummary(
            last_tick_at=jobs[TICK_JOB].last_run_at if TICK_JOB in jobs else None,
            last_sample_at=last_sample,
            seconds_since_last_sample=(now - last_sample).total_seconds() if last_sample else None,
            partition_hold=hold or None,
        ),
        segments=[
            SegmentSummary(
                uuid=seg.uuid,
                name=seg.name,
                service_type=seg.service_type,
                recovery_method=seg.recovery_method,
                enabled=seg.enabled,
                hosts=[
                    _host(h, states.get(h.name), samples.get(h.name))
                    for h in hosts
                    if h.failover_segment_id == seg.uuid
                ],
            )
            for seg in segments
        ],
        notifications_by_status={str(k): int(v) for k, v in by_status.items()},
        dead_letters=session.scalar(select(func.count()).select_from(DeadLetter)) or 0,
    )


# ------------------------------------------------------------------ handlers


def summary_show(req) -> Reply:
    policy.authorize(req.context, "summary", "detail")
    with session_scope() as session:
        view = summary(session)
    return Reply(200, SummaryReply(summary=view).model_dump(mode="json"))


def gate_decisions_index(req) -> Reply:
    policy.authorize(req.context, "gate-decisions", "index")
    limit = _limit(req.args)
    with session_scope() as session:
        rows = gate_decisions.recent(session, limit)
        found = [GateDecisionView.model_validate(r, from_attributes=True) for r in rows]
    return Reply(200, GateDecisionList(gate_decisions=found).model_dump(mode="json"))


def dead_letters_index(req) -> Reply:
    policy.authorize(req.context, "dead-letters", "index")
    limit = _limit(req.args)
    with session_scope() as session:
        found = deadletters.list_dead_letters(
            event_type=req.args.get("type") or None, limit=limit, session=session
        )
    return Reply(200, DeadLetterList(dead_letters=found).model_dump(mode="json"))


# (path under /v1, method, endpoint, handler): all read-only, all microversion 1.4 or later.
ENDPOINTS: list[tuple[str, str, str, Callable]] = [
    ("/summary", "GET", "summary:show", summary_show),
    ("/gate-decisions", "GET", "gate-decisions:index", gate_decisions_index),
    ("/dead-letters", "GET", "dead-letters:index", dead_letters_index),
]
# For the OpenAPI document: endpoint → (request model, status, response model), and notes.
OPERATIONS: dict[str, tuple[None, int, type[BaseModel]]] = {
    "summary:show": (None, 200, SummaryReply),
    "gate-decisions:index": (None, 200, GateDecisionList),
    "dead-letters:index": (None, 200, DeadLetterList),
}
NOTES = {
    "summary:show": "Vigil extension, microversion 1.4 or later: segments with their hosts' "
    "settled states, notifications by status, the monitor's last round and partition hold.",
    "gate-decisions:index": "Vigil extension, microversion 1.4 or later: the monitor's safety-gate "
    "holds (partition, brake, flap, cap) with their reasons, newest first.",
    "dead-letters:index": "Vigil extension, microversion 1.4 or later: events the broker gave up "
    "delivering, newest first.",
}
FILTERS = {"dead-letters:index": ["type"]}
