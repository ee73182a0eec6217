"""One monitoring tick: lock, plan the samples, and run each sampling round (monitoring.md §1).

Nothing is kept in memory between ticks: settled states, pending reports and partition holds
live in PostgreSQL, so any instance can run the next tick.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.types import String

from shared import errors
from shared.db import db_now, session_scope
from shared.health import fencing, gates, probes
from shared.health.matrix import Matrix, MatrixError, load_matrix
from shared.health.sampling import Sample, combine, lease_stale
from shared.health.signals import ChannelUnavailable, NodeSignal, read_kubernetes, read_nova
from shared.health.verdicts import PAYLOADS, STOPPED, FlapPolicy, HostState, advance, report_for
from shared.locks import single_run
from shared.models import HealthSample, Host, HostMonitorState, JobRun, Notification
from shared.notifications import create_notification
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)

LOCK_NAME = "monitor"
TICK_JOB = "monitor.tick"
HOLD_JOB = "monitor.partition-hold"
# A tick keeps sampling for at most this long, well inside Knative's default 300 s timeout.
TICK_BUDGET_SECONDS = 240


@dataclass
class RoundResult:
    """What one sampling round did; returned to the function for its log and reply."""

    sampled_at: dt.datetime | None = None
    samples: int = 0
    dropped: str | None = None
    notifications: list[dict[str, Any]] = field(default_factory=list)
    held: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "sampled_at": self.sampled_at.isoformat() if self.sampled_at else None,
            "samples": self.samples,
            "dropped": self.dropped,
            "notifications": self.notifications,
            "held": self.held,
        }


def run_tick(settings: Settings | None = None) -> dict[str, Any]:
    """Run the sampling rounds this tick calls for, unless another cycle holds the lock.

    Rounds start one ``monitoring_interval`` apart and stop half an interval before the next
    tick is expected, so a PingSource every minute with a 15 s interval takes four samples
    per tick while a tick period shorter than the interval takes one.
    """
    settings = settings or get_settings()
    with single_run(LOCK_NAME) as mine:
        if not mine:
            log.info("monitor tick skipped: another monitoring cycle is running")
            return {"skipped": "another cycle is running"}
        period = _tick_period(settings)
        if period == 0:
            log.info("monitor tick skipped: the previous tick was less than half an interval ago")
            return {"skipped": "duplicate tick"}
        interval = settings.host.monitoring_interval
        started = time.monotonic()
        deadline = started + max(0.0, min(period or 0.0, TICK_BUDGET_SECONDS) - interval / 2)
        results = []
        while True:
            results.append(run_round(settings).summary())
            next_round = started + len(results) * interval
            if next_round > deadline:
                return {"rounds": results}
            time.sleep(max(0.0, next_round - time.monotonic()))


def _tick_period(settings: Settings) -> float | None:
    """Seconds since the previous tick (None for the first; 0 for a doubled tick).

    The period is measured, not configured: the PingSource schedule is the operator's, and a
    late or missed tick only lengthens the next one's sampling.
    """
    with session_scope() as session:
        now = db_now(session)
        previous = session.execute(
            select(JobRun.last_run_at).where(JobRun.name == TICK_JOB).with_for_update()
        ).scalar_one_or_none()
        if previous is not None:
            gap = (now - previous).total_seconds()
            if gap < settings.host.monitoring_interval / 2:
                return 0
        session.execute(
            insert(JobRun)
            .values(name=TICK_JOB, last_run_at=now)
            .on_conflict_do_update(index_elements=[JobRun.name], set_={"last_run_at": now})
        )
    return None if previous is None else gap


# ---- one sampling round ----------------------------------------------------------------------


@dataclass
class Registered:
    name: str
    uuid: str
    segment: str
    on_maintenance: bool


_RECENT = text(
    "SELECT h.name, s.verdict FROM unnest(:names) AS h(name) CROSS JOIN LATERAL ("
    " SELECT verdict, sampled_at FROM health_samples WHERE host_name = h.name"
    " ORDER BY sampled_at DESC LIMIT :n) AS s ORDER BY h.name, s.sampled_at DESC"
).bindparams(bindparam("names", type_=ARRAY(String)))


def _load(session: Session, settings: Settings, now: dt.datetime):
    hosts = {
        row.name: Registered(row.name, row.uuid, row.failover_segment_id, row.on_maintenance)
        for row in session.execute(
            select(Host.name, Host.uuid, Host.failover_segment_id, Host.on_maintenance).where(
                Host.deleted == 0
            )
        )
    }
    states = {
        row.host_name: HostState.from_row(row)
        for row in session.execute(select(HostMonitorState.__table__))
    }
    recent: dict[str, list[str]] = {}
    if hosts:
        depth = max(settings.host.monitoring_samples - 1, 1)
        for name, verdict in session.execute(_RECENT, {"names": list(hosts), "n": depth}):
            recent.setdefault(name, []).append(verdict)
    window = now - dt.timedelta(seconds=settings.safety.flap_window)
    recovered = set(
        session.execute(
            select(Notification.source_host_uuid)
            .where(Notification.type == "COMPUTE_HOST", Notification.generated_time >= window)
            .distinct()
        ).scalars()
    )
    hold = (
        session.execute(
            select(JobRun.last_result).where(JobRun.name == HOLD_JOB)
        ).scalar_one_or_none()
        or {}
    )
    return hosts, states, recent, recovered, hold


def _save_hold(session: Session, hold: dict[str, Any], now: dt.datetime) -> None:
    session.execute(
        insert(JobRun)
        .values(name=HOLD_JOB, last_run_at=now, last_result=hold)
        .on_conflict_do_update(
            index_elements=[JobRun.name], set_={"last_run_at": now, "last_result": hold}
        )
    )


def _read_signals(settings: Settings, names: list[str]):
    """Kubernetes and Nova read side by side, each within twice ``api_timeout`` overall.

    The clients retry on their own (urllib3 and keystoneauth), so a hung API could otherwise
    hold a cycle for several timeouts; past the deadline the channel counts as unreachable
    and the stray request finishes in the background.
    """
    deadline = time.monotonic() + 2 * settings.safety.api_timeout
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="monitor-read")
    try:
        reads: dict[str, Future[Any]] = {
            "kubernetes": pool.submit(read_kubernetes, settings),
            "nova": pool.submit(read_nova, settings),
        }
        results: dict[str, Any] = {}
        for channel, future in reads.items():
            try:
                results[channel] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout as exc:
                raise ChannelUnavailable(
                    channel, f"no answer within {2 * settings.safety.api_timeout:g} s"
                ) from exc
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    nodes, _ = results["kubernetes"]
    services = results["nova"]
    networks = None
    try:
        networks = probes.probe_networks(settings, [n for n in names if n in nodes])
    except probes.ProbeConfigError as exc:
        log.error("network probes not usable, no probe-based verdicts this cycle: %s", exc)
        networks = {}
    return nodes, services, networks


def _matrix(settings: Settings) -> Matrix | None:
    try:
        return load_matrix(settings.consul.matrix_config_file)
    except MatrixError as exc:
        log.error("HA-strategy matrix rejected, no probe-based verdicts: %s", exc)
        return None


def _log_unmatched(hosts: dict[str, Registered], nodes: dict[str, NodeSignal], settings) -> None:
    strangers = sorted(set(nodes) - set(hosts))
    if strangers:
        log.info(
            "%d Kubernetes nodes are not registered Vigil hosts and are not evaluated: %s",
            len(strangers),
            ", ".join(strangers[:20]),
        )
    missing = sorted(set(hosts) - set(nodes))
    if missing:
        selector = settings.kubernetes.monitoring_node_labels or "(all nodes)"
        log.warning(
            "%d Vigil hosts have no Kubernetes Node matching %s and are not monitored: %s",
            len(missing),
            selector,
            ", ".join(missing[:20]),
        )


def run_round(settings: Settings) -> RoundResult:
    """Sample every monitored host once, settle states, pass the gates, report transitions."""
    result = RoundResult()
    with session_scope() as session:
        now = db_now(session)
        result.sampled_at = now
        hosts, states, recent, recovered, hold = _load(session, settings, now)
    try:
        nodes, services, networks = _read_signals(settings, sorted(hosts))
    except ChannelUnavailable as exc:
        return _drop(result, gates.Partition(str(exc)), hold, now, settings)
    _log_unmatched(hosts, nodes, settings)
    matrix = _matrix(settings) if networks is not None else None
    grace = settings.kubernetes.lease_grace_seconds
    samples: dict[str, Sample] = {}
    for name in sorted(set(hosts) & set(nodes)):
        host = hosts[name]
        node, nova = nodes[name], services.get(name)
        host_networks = networks.get(name, {}) if networks is not None else None
        verdict, why = combine(node, nova, grace, host_networks, matrix)
        if why:
            log.warning("host %s: no verdict this sample: %s", name, why)
        samples[name] = Sample(
            name,
            host.uuid,
            host.segment,
            now,
            node,
            nova,
            host_networks,
            verdict,
            fenced=fencing.TAINT_EVIDENCE if node.out_of_service else None,
        )

    partition = _partition(samples, nova_known=services, recent=recent, hold=hold, grace=grace)
    if partition is not None:
        return _drop(result, partition, hold, now, settings)
    if hold:
        log.info("monitor partition hold over: judging hosts again")
    result.samples = len(samples)

    flap = FlapPolicy(
        settings.safety.flap_max_transitions,
        dt.timedelta(seconds=settings.safety.flap_window),
        dt.timedelta(seconds=settings.safety.flap_hold),
    )
    depth = settings.host.monitoring_samples
    for name, sample in samples.items():
        state = states.get(name)
        if state is None:
            state = states[name] = HostState(name, sample.host_uuid, dirty=True)
        state.set(host_uuid=sample.host_uuid)
        note = advance(state, [sample.verdict, *recent.get(name, [])], depth, now, flap)
        if note:
            log.warning("host %s: %s", name, note)

    _report(settings, result, hosts, samples, states, recovered, now)

    with session_scope() as session:
        _bulk_write(session, HealthSample.__table__, [s.row() for s in samples.values()])
        _upsert_states(session, [s for s in states.values() if s.dirty], now)
        if hold:
            _save_hold(session, {}, now)
    return result


def _partition(samples, nova_known, recent, hold, grace) -> gates.Partition | None:
    """§9.1: a channel stale for every host, a mass drop, or a hold still running."""
    if hold.get("remaining", 0) > 0:
        return gates.Partition(
            f"holding verdicts after: {hold.get('reason')}", tuple(hold.get("hosts", ()))
        )
    stale_lease = {n: lease_stale(s.node, grace) for n, s in samples.items() if s.node}
    stale_nova = {n: nova_known[n].state == "down" for n in samples if n in nova_known}
    found = gates.channel_stale(stale_lease, "Kubernetes Lease") or gates.channel_stale(
        stale_nova, "Nova service"
    )
    if found or hold.get("accept"):
        return found
    previous_up = {n for n in samples if recent.get(n, [None])[0] == "up"}
    now_not_up = {n for n, s in samples.items() if s.verdict != "up"}
    return gates.heartbeat_drop(previous_up, now_not_up)


def _drop(
    result: RoundResult, partition: gates.Partition, hold: dict, now: dt.datetime, settings
) -> RoundResult:
    """No samples, no verdicts this round; a mass drop also holds the following rounds."""
    result.dropped = partition.reason
    gates.announce("partition", partition.hosts, partition.reason)
    remaining = hold.get("remaining", 0)
    if remaining > 0:
        remaining -= 1
        new_hold = {**hold, "remaining": remaining, "accept": remaining == 0}
    elif partition.holds_following:
        new_hold = {
            "remaining": settings.safety.partition_hold_cycles,
            "accept": settings.safety.partition_hold_cycles == 0,
            "reason": partition.reason,
            "hosts": sorted(partition.hosts),
        }
    else:
        return result
    with session_scope() as session:
        _save_hold(session, new_hold, now)
    return result


def _upsert_states(session: Session, dirty: list[HostState], now: dt.datetime) -> None:
    """Write only the states that changed (``updated_at`` = when they last changed)."""
    for state in dirty:
        state.updated_at = now
    _bulk_write(
        session, HostMonitorState.__table__, [s.row() for s in dirty], upsert_key="host_name"
    )


def _bulk_write(session: Session, table, rows: list[dict[str, Any]], upsert_key: str | None = None):
    """All rows in one statement, passed as one JSON parameter and expanded by PostgreSQL.

    A multi-row VALUES for thousands of hosts costs seconds to compile and bind client-side;
    ``jsonb_to_recordset`` keeps it one small statement and one round trip.
    """
    if not rows:
        return
    columns = list(rows[0])
    dialect = postgresql.dialect()
    spec = ", ".join(f"{c} {table.c[c].type.compile(dialect=dialect)}" for c in columns)
    names = ", ".join(columns)
    sql = (
        f"INSERT INTO {table.name} ({names}) SELECT {names} "
        f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({spec})"
    )
    if upsert_key:
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != upsert_key)
        sql += f" ON CONFLICT ({upsert_key}) DO UPDATE SET {updates}"
    session.execute(text(sql), {"rows": json.dumps(rows, default=_json_default)})


def _json_default(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {value!r}")


# ---- gates and reports -----------------------------------------------------------------------


def _report(settings, result, hosts, samples, states, recovered, now) -> None:
    """Pass pending reports through brake, flap damping and cap; send what is left."""
    safety = settings.safety
    stopped: list[str] = []
    started: list[str] = []
    for name in samples:
        state = states[name]
        if hosts[name].on_maintenance and state.pending_transition:
            log.info(
                "host %s is on maintenance: %s recorded, not reported",
                name,
                state.pending_transition,
            )
            state.set(pending_transition=None)
            continue
        if state.pending_transition == STOPPED or state.awaiting_fencing:
            stopped.append(name)
        elif state.pending_transition:
            started.append(name)

    # Mass-failure brake, per segment (§9.2).
    members: dict[str, set[str]] = {}
    down: dict[str, set[str]] = {}
    for name, host in hosts.items():
        members.setdefault(host.segment, set()).add(name)
        state, sample = states.get(name), samples.get(name)
        if (
            (state and state.settled_state == "dead")
            or (sample and sample.nova and sample.nova.forced_down)
            or (host.on_maintenance and host.uuid in recovered)
        ):
            down.setdefault(host.segment, set()).add(name)
    braked = {
        seg
        for seg in members
        if gates.over_brake(down.get(seg, set()), members[seg], safety.max_down_percent)
    }
    held = [n for n in stopped if hosts[n].segment in braked and states[n].pending_transition]
    for seg in sorted({hosts[n].segment for n in held}):
        names = [n for n in held if hosts[n].segment == seg]
        share = 100 * len(down[seg]) / len(members[seg])
        gates.announce(
            "brake",
            names,
            f"{share:.0f}% of segment {seg} is down (limit {safety.max_down_percent}%)",
            segment=seg,
            down=sorted(down[seg]),
        )
    if held:
        result.held["brake"] = sorted(held)
    stopped = [n for n in stopped if hosts[n].segment not in braked]

    # Flap damping (§9.4), before the cap so flapping hosts do not use up its slots.
    flapping = [
        n for n in stopped + started if states[n].flapping(now) and states[n].pending_transition
    ]
    if flapping:
        gates.announce(
            "flap",
            flapping,
            f"settled state changed more than {safety.flap_max_transitions} times within "
            f"{safety.flap_window} s; reports wait until one state holds for {safety.flap_hold} s",
        )
        result.held["flap"] = sorted(flapping)
    stopped = [n for n in stopped if not states[n].flapping(now)]
    started = [n for n in started if not states[n].flapping(now)]

    # Fencing evidence for every host that may be reported dead (§6).
    tainted = {n for n in stopped if samples[n].node.out_of_service}
    evidence = fencing.gather_evidence(settings, stopped, tainted)
    sends: list[tuple[str, str]] = []
    for name in stopped:
        state = states[name]
        found = evidence.get(name)
        samples[name].fenced = found
        state.set(fencing_evidence=found)
        if state.awaiting_fencing and found and not state.pending_transition:
            state.set(pending_transition=STOPPED)
        report = report_for(state, found)
        if report:
            sends.append((name, report))
        elif state.pending_transition == STOPPED:
            state.set(pending_transition=None)

    # Per-cycle cap on new STOPPED reports, oldest deaths first (§9.3).
    sends.sort(key=lambda item: states[item[0]].settled_since or now)
    over = [name for name, _ in sends[safety.max_hosts_per_cycle :]]
    if over:
        gates.announce(
            "cap",
            over,
            f"more than {safety.max_hosts_per_cycle} hosts to report as STOPPED in one cycle; "
            "the rest follow in later cycles",
        )
        result.held["cap"] = sorted(over)
    sends = sends[: safety.max_hosts_per_cycle] + [(n, "STARTED/NORMAL") for n in started]

    for name, report in sends:
        if _send(states[name], report, now):
            result.notifications.append({"hostname": name, "payload": PAYLOADS[report]})


def _send(state: HostState, report: str, now: dt.datetime) -> bool:
    """Create one COMPUTE_HOST notification through the API's own path; True when created."""
    data = {
        "type": "COMPUTE_HOST",
        "hostname": state.host_name,
        "generated_time": now.isoformat(timespec="microseconds"),
        "payload": dict(PAYLOADS[report]),
    }
    try:
        create_notification(data, source="monitor")
    except errors.VigilError as exc:
        if exc.code not in (400, 409):
            log.error(
                "host %s: %s not created, retried next cycle: %s", state.host_name, report, exc
            )
            return False
        log.warning(
            "host %s: %s refused with %s (final): %s", state.host_name, report, exc.code, exc
        )
        if isinstance(exc, errors.DuplicateNotification):
            state.set(last_reported=report, last_reported_at=now)
        state.set(pending_transition=None)
        return False
    except DBAPIError as exc:
        log.error("host %s: %s not created, retried next cycle: %s", state.host_name, report, exc)
        return False
    log.warning("host %s reported: %s", state.host_name, report)
    state.set(pending_transition=None, last_reported=report, last_reported_at=now)
    return True
