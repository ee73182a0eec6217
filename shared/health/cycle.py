"""One monitoring tick: lock, plan the samples, and run each sampling round (monitoring.md §1).

Nothing is kept in memory between ticks: settled states, pending reports and partition holds
live in PostgreSQL, so any instance can run the next tick.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from shared import capacity, errors
from shared.db import db_now, session_scope
from shared.health import fencing, gates, probes, restore
from shared.health.jobs import HOLD_JOB, ROUND_JOB, TICK_JOB
from shared.health.matrix import Matrix, MatrixError, load_matrix
from shared.health.sampling import (
    Sample,
    combine,
    lease_stale,
    nova_only_patterns,
    nova_verdict,
    watched_through_nova,
)
from shared.health.signals import (
    ChannelUnavailable,
    KubernetesWatch,
    NodeSignal,
    kubernetes_configured,
    read_nova,
)
from shared.health.verdicts import PAYLOADS, STOPPED, FlapPolicy, HostState, advance, report_for
from shared.locks import single_run
from shared.models import HealthSample, HostMonitorState, JobRun, Notification
from shared.notifications import create_notification
from shared.settings import KUBELET_RENEWAL_SECONDS, Settings, get_settings

log = logging.getLogger(__name__)

LOCK_NAME = "monitor"
# Seconds past the suspect threshold at which the extra round for a late Lease runs: the
# API server's Date header counts whole seconds, so its clock reads up to 1 s behind.
SUSPECT_MARGIN = 1.0
# A tick keeps sampling for at most this long, well inside Knative's default 300 s timeout.
TICK_BUDGET_SECONDS = 240


@dataclass
class RoundResult:
    """What one sampling round did; returned to the function for its log and reply."""

    sampled_at: dt.datetime | None = None
    samples: int = 0
    stored: int = 0
    dropped: str | None = None
    notifications: list[dict[str, Any]] = field(default_factory=list)
    held: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "sampled_at": self.sampled_at.isoformat() if self.sampled_at else None,
            "samples": self.samples,
            "stored": self.stored,
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
        with Monitor(settings) as monitor:
            rounds = [r.summary() for r in monitor.run(deadline)]
            capacity.check(settings)
            return {"rounds": rounds}


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


@dataclass
class Stored:
    """What the newest stored sample of a host showed, to decide whether to store the next."""

    key: tuple
    sampled_at: dt.datetime


# Whole result sets as one JSON value: decoding thousands of rows of timestamps through the
# driver costs more than the rest of a round; PostgreSQL's JSON and fromisoformat are quick.
_HOSTS = text(
    "SELECT coalesce(json_agg(json_build_array(name, uuid, failover_segment_id, on_maintenance)),"
    " '[]') FROM hosts WHERE deleted = 0"
)
_STATES = text("SELECT coalesce(json_agg(s), '[]') FROM host_monitor_states AS s")
_RECENT = text(
    "SELECT coalesce(json_agg(json_build_array(h.name, s.verdict, s.sampled_at, s.ready,"
    " s.nova_state, s.nova_status, s.nova_forced_down, s.fenced, s.networks)"
    " ORDER BY h.name, s.sampled_at DESC), '[]')"
    " FROM unnest(CAST(:names AS text[])) AS h(name) CROSS JOIN LATERAL ("
    " SELECT verdict, sampled_at, ready, nova_state, nova_status, nova_forced_down, fenced,"
    " networks FROM health_samples WHERE host_name = h.name"
    " ORDER BY sampled_at DESC LIMIT :n) AS s"
)
_TIMES = ("settled_since", "last_reported_at", "flapping_until", "updated_at")


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _sample_key(verdict, ready, nova_state, nova_status, forced_down, fenced, networks) -> tuple:
    return (
        verdict,
        ready,
        nova_state,
        nova_status,
        forced_down,
        fenced,
        tuple(sorted(networks.items())) if networks else None,
    )


def _registered(session: Session) -> dict[str, Registered]:
    rows = session.execute(_HOSTS).scalar_one()
    return {row[0]: Registered(*row) for row in rows}


def _recovered_and_hold(session: Session, settings: Settings, now: dt.datetime):
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
    return recovered, hold


def _save_job(session: Session, name: str, now: dt.datetime, result: dict[str, Any]) -> None:
    session.execute(
        insert(JobRun)
        .values(name=name, last_run_at=now, last_result=result)
        .on_conflict_do_update(
            index_elements=[JobRun.name], set_={"last_run_at": now, "last_result": result}
        )
    )


def _save_hold(session: Session, hold: dict[str, Any], now: dt.datetime) -> None:
    _save_job(session, HOLD_JOB, now, hold)


def _read_nova_and(settings: Settings, kubernetes):
    """Kubernetes (when monitored) and Nova read side by side, each within twice
    ``api_timeout`` overall.

    The clients retry on their own (urllib3 and keystoneauth), so a hung API could otherwise
    hold a cycle for several timeouts; past the deadline the channel counts as unreachable
    and the stray request finishes in the background.
    """
    deadline = time.monotonic() + 2 * settings.safety.api_timeout
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="monitor-read")
    try:
        reads = {"nova": pool.submit(read_nova, settings)}
        if kubernetes is not None:
            reads["kubernetes"] = pool.submit(kubernetes.read)
        results: dict[str, Any] = {}
        for channel in ("kubernetes", "nova"):
            if channel not in reads:
                continue
            try:
                results[channel] = reads[channel].result(
                    timeout=max(0.0, deadline - time.monotonic())
                )
            except FutureTimeout as exc:
                raise ChannelUnavailable(
                    channel, f"no answer within {2 * settings.safety.api_timeout:g} s"
                ) from exc
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    nodes = results["kubernetes"][0] if kubernetes is not None else {}
    return nodes, results["nova"]


def _probe(settings: Settings, names: list[str]):
    try:
        return probes.probe_networks(settings, names)
    except probes.ProbeConfigError as exc:
        log.error("network probes not usable, no probe-based verdicts this cycle: %s", exc)
        return {}


def _matrix(settings: Settings) -> Matrix | None:
    try:
        return load_matrix(settings.consul.matrix_config_file)
    except MatrixError as exc:
        log.error("HA-strategy matrix rejected, no probe-based verdicts: %s", exc)
        return None


def _log_unmatched(
    hosts: dict[str, Registered], nodes: dict[str, NodeSignal], nova_only: set[str], settings
) -> None:
    strangers = sorted(set(nodes) - set(hosts))
    if strangers:
        log.info(
            "%d Kubernetes nodes are not registered Vigil hosts and are not evaluated: %s",
            len(strangers),
            ", ".join(strangers[:20]),
        )
    missing = sorted(set(hosts) - set(nodes) - nova_only)
    if missing:
        selector = settings.kubernetes.monitoring_node_labels or "(all nodes)"
        log.warning(
            "%d Vigil hosts have no Kubernetes Node matching %s and are not monitored "
            "(select them with VIGIL_HOST__NOVA_ONLY_HOSTS to watch them through Nova): %s",
            len(missing),
            selector,
            ", ".join(missing[:20]),
        )


def run_round(settings: Settings) -> RoundResult:
    """One sampling round on its own (a tick runs several through one ``Monitor``)."""
    with Monitor(settings) as monitor:
        return monitor.round()


class Monitor:
    """The sampling rounds of one tick.

    Settled states and recent verdicts are written only by the monitor, and the tick holds
    the monitor lock, so they are read from PostgreSQL once per tick and kept here between
    rounds; Nodes and Leases are listed once and then followed by watches. Every round still
    reads the registered hosts, Nova and the API server's clock, and stores what changed.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        patterns = nova_only_patterns(settings)
        use_kubernetes = kubernetes_configured(settings) or not patterns
        self.kubernetes = KubernetesWatch(settings) if use_kubernetes else None
        self.patterns = patterns
        self.states: dict[str, HostState] | None = None
        self.recent: dict[str, list[str]] = {}
        self.power = fencing.PowerReader(settings)
        self.stored: dict[str, Stored] = {}
        self._suspect_due: float | None = None  # monotonic time of an extra round
        self._dues: dict[tuple[str, dt.datetime | None], float] = {}

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.kubernetes is not None:
            self.kubernetes.close()

    def run(self, deadline: float, stop: threading.Event | None = None) -> list[RoundResult]:
        """Rounds ``monitoring_interval`` apart until ``deadline`` (monotonic), plus one extra
        round whenever a late Lease is due to pass the suspect threshold before the next."""
        interval = self.settings.host.monitoring_interval
        stop = stop or threading.Event()
        results = []
        next_round = time.monotonic()
        while not stop.is_set():
            results.append(self.round())
            now = time.monotonic()
            while next_round <= now:
                next_round += interval
            if next_round > deadline:
                break
            wake = min(next_round, self._suspect_due or next_round)
            stop.wait(max(0.0, wake - now))
        return results

    def _remember(self, session: Session, names: list[str]) -> dict[str, HostState]:
        """Settled states and the newest samples, once per tick."""
        states = {}
        for row in session.execute(_STATES).scalar_one():
            for name in _TIMES:
                row[name] = _time(row[name])
            states[row["host_name"]] = HostState.from_row(SimpleNamespace(**row))
        depth = max(self.settings.host.monitoring_samples - 1, 1)
        rows = session.execute(_RECENT, {"names": names, "n": depth}).scalar_one() if names else []
        for name, verdict, sampled_at, *signals in rows:
            if name not in self.stored:
                stamp = dt.datetime.fromisoformat(sampled_at)
                self.stored[name] = Stored(_sample_key(verdict, *signals), stamp)
            self.recent.setdefault(name, []).append(verdict)
        return states

    def round(self) -> RoundResult:
        """Sample every monitored host once, settle states, pass the gates, report transitions."""
        settings = self.settings
        result = RoundResult()
        with session_scope() as session:
            now = db_now(session)
            result.sampled_at = now
            hosts = _registered(session)
            if self.states is None:
                self.states = self._remember(session, sorted(hosts))
            recovered, hold = _recovered_and_hold(session, settings, now)
        states = self.states
        try:
            nodes, services = _read_nova_and(settings, self.kubernetes)
        except ChannelUnavailable as exc:
            return _drop(result, gates.Partition(str(exc)), hold, now, settings)
        self._schedule(nodes)
        nova_only = {n for n in hosts if n not in nodes and watched_through_nova(self.patterns, n)}
        _log_unmatched(hosts, nodes, nova_only, settings)
        kube_hosts = sorted(set(hosts) & set(nodes))
        networks = _probe(settings, kube_hosts)
        matrix = _matrix(settings) if networks is not None else None
        grace = settings.kubernetes.lease_grace_seconds
        samples: dict[str, Sample] = {}
        for name in sorted(set(kube_hosts) | nova_only):
            host = hosts[name]
            node, nova = nodes.get(name), services.get(name)
            host_networks = None
            if node is None:
                verdict, why = nova_verdict(nova)
            else:
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
                fenced=fencing.TAINT_EVIDENCE if node and node.out_of_service else None,
            )
        evidence = fencing.Evidence(settings, self.power)
        self._suspects(samples, hosts, evidence)

        partition = _partition(
            samples, nova_known=services, recent=self.recent, hold=hold, grace=grace
        )
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
            note = advance(state, [sample.verdict, *self.recent.get(name, [])], depth, now, flap)
            if note:
                log.warning("host %s: %s", name, note)
            self.recent[name] = [sample.verdict, *self.recent.get(name, [])][: max(depth, 1)]

        _report(settings, result, hosts, samples, states, recovered, now, evidence)

        kept = self._to_store(samples, states, now)
        result.stored = len(kept)
        dirty = [s for s in states.values() if s.dirty]
        with session_scope() as session:
            _bulk_write(session, HealthSample.__table__, [s.row() for s in kept])
            _upsert_states(session, dirty, now)
            # Samples of steady hosts are stored only now and then, so the round says itself
            # that it ran (the metrics' partition gauge and round age read this, not samples).
            _save_job(session, ROUND_JOB, now, {"samples": result.samples})
            if hold:
                _save_hold(session, {}, now)
        for state in dirty:
            state.dirty = False
        for sample in kept:
            self.stored[sample.host_name] = Stored(self._key(sample), now)
        restore.return_recovered_hosts(settings)
        return result

    def _suspects(self, samples: dict[str, Sample], hosts: dict[str, Registered], evidence) -> None:
        """§4.1: proof of power-off for hosts that only look suspect, in this very round.

        A Node whose Lease is older than the suspect threshold, or a host without a Node whose
        Nova service is down, gets one power read (or the taint). Proven off, its sample is
        ``down`` with that evidence; without proof the sample keeps today's verdict. A host
        already settled dead on such proof stays dead while its Lease stays late.
        """
        assert self.states is not None
        after = self.settings.kubernetes.suspect_seconds
        ask: list[str] = []
        for name, sample in samples.items():
            node, state = sample.node, self.states.get(name)
            if hosts[name].on_maintenance or sample.networks is not None:
                continue
            if node is None:
                if sample.verdict == "down" and not (state and state.settled_state == "dead"):
                    ask.append(name)
                continue
            late = node.lease_age is None or node.lease_age > after
            if not late or sample.verdict == "down":
                continue
            if state and state.settled_state == "dead" and state.fencing_evidence:
                sample.verdict, sample.fenced = "down", state.fencing_evidence
            else:
                ask.append(name)
        if not ask:
            return
        tainted = {n for n in ask if samples[n].fenced == fencing.TAINT_EVIDENCE}
        for name, found in evidence.proof(ask, tainted).items():
            sample = samples[name]
            if found and sample.node is not None:
                age = sample.node.lease_age
                log.warning(
                    "host %s: Lease %s and power proven off (%s): dead without waiting for Nova",
                    name,
                    "missing" if age is None else f"{age:.0f} s old",
                    found,
                )
                sample.verdict = "down"
            if found:
                sample.fenced = found

    def _schedule(self, nodes: dict[str, NodeSignal]) -> None:
        """When the first Lease that missed a renewal will pass the suspect threshold.

        Rounds run every few seconds, but a round at that very moment makes detection the
        threshold itself rather than the threshold plus up to one interval. Each Lease gets
        one such round; one renewed in between only makes the extra round find nothing.
        """
        after = self.settings.kubernetes.suspect_seconds
        read_at = time.monotonic()
        for name, node in nodes.items():
            age = node.lease_age
            if age is not None and KUBELET_RENEWAL_SECONDS < age <= after:
                key = (name, node.lease_renew_time)
                self._dues.setdefault(key, read_at + after - age + SUSPECT_MARGIN)
        self._dues = {key: due for key, due in self._dues.items() if due > read_at}
        self._suspect_due = min(self._dues.values(), default=None)

    def _key(self, sample: Sample) -> tuple:
        nova = sample.nova
        return _sample_key(
            sample.verdict,
            sample.node.ready if sample.node else None,
            nova.state if nova else None,
            nova.status if nova else None,
            nova.forced_down if nova else None,
            sample.fenced,
            sample.networks,
        )

    def _to_store(self, samples, states, now: dt.datetime) -> list[Sample]:
        """Every sample that shows something new; a steady healthy host only now and then.

        A sample is stored when its verdict or any signal behind it differs from the host's
        newest stored sample, when it is not ``up``, while the host is not settled alive, or
        once ``steady_sample_interval`` has passed, so stored history shows every change.
        """
        every = self.settings.host.steady_sample_interval
        kept = []
        for name, sample in samples.items():
            stored = self.stored.get(name)
            if (
                every == 0
                or stored is None
                or sample.verdict != "up"
                or states[name].settled_state != "alive"
                or stored.key != self._key(sample)
                or (now - stored.sampled_at).total_seconds() >= every
            ):
                kept.append(sample)
        return kept


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


def _report(settings, result, hosts, samples, states, recovered, now, evidence) -> None:
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
    tainted = {n for n in stopped if samples[n].node and samples[n].node.out_of_service}
    found_for = evidence.gather(stopped, tainted)
    sends: list[tuple[str, str]] = []
    for name in stopped:
        state = states[name]
        found = found_for.get(name)
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
