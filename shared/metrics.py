"""Prometheus metrics served by the api function at ``/metrics`` (cluster-internal, no token).

Two kinds sit side by side. Per-process figures (request counts and latencies, the Python
process) describe the one instance answering the scrape. Figures about Vigil's state are read
from PostgreSQL at scrape time by ``StateCollector``: they are the same whichever instance
answers and survive scale to zero. The collector runs a fixed handful of aggregate queries
whatever the table sizes (bench/metrics_scrape.py measures it); with the database unreachable
it reports ``vigil_database_up 0`` and the process figures still answer.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from shared.db import DatabaseNotConfigured, get_engine
from shared.health.jobs import CAPACITY_JOB, HOLD_JOB, ROUND_JOB, TICK_JOB
from shared.settings import get_settings

log = logging.getLogger(__name__)

# Recoveries take seconds to tens of minutes; one evacuation seconds to a few minutes.
RECOVERY_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
EVACUATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 90.0, 180.0, 300.0)
SCRAPE_STATEMENT_TIMEOUT_MS = 5000

REGISTRY = CollectorRegistry()
process_collector.ProcessCollector(registry=REGISTRY)
platform_collector.PlatformCollector(registry=REGISTRY)
gc_collector.GCCollector(registry=REGISTRY)

API_REQUESTS = Counter(
    "vigil_api_requests",
    "API requests answered by this process, by route and status code",
    ["method", "route", "code"],
    registry=REGISTRY,
)
API_LATENCY = Histogram(
    "vigil_api_request_duration_seconds",
    "Time this process took to answer an API request, by route",
    ["method", "route"],
    registry=REGISTRY,
)


def observe_request(method: str, route: str, code: int, seconds: float) -> None:
    """Count one answered request (called by the access log for every request)."""
    API_REQUESTS.labels(method, route, str(code)).inc()
    API_LATENCY.labels(method, route).observe(seconds)


# One statement per figure group; each is one aggregate over an indexed or small table.
_NOTIFICATIONS = text(
    "SELECT type, status, count(*) FROM notifications WHERE deleted = 0 GROUP BY type, status"
)
_HOSTS = text(
    "SELECT s.name AS segment, h.reserved, h.on_maintenance,"
    " coalesce(m.settled_state, 'unknown') AS settled, m.fencing_evidence IS NOT NULL AS fenced"
    " FROM hosts h JOIN failover_segments s ON s.uuid = h.failover_segment_id AND s.deleted = 0"
    " LEFT JOIN host_monitor_states m ON m.host_name = h.name WHERE h.deleted = 0"
)
_MONITOR = text(
    "SELECT (now() AT TIME ZONE 'utc') AS now,"
    " (SELECT last_run_at FROM job_runs WHERE name = :tick) AS tick,"
    " (SELECT last_run_at FROM job_runs WHERE name = :round) AS sample,"
    " (SELECT last_result FROM job_runs WHERE name = :hold) AS hold,"
    " (SELECT last_result FROM job_runs WHERE name = :capacity) AS capacity,"
    " (SELECT count(*) FROM dead_letters) AS dead_letters"
).bindparams(tick=TICK_JOB, round=ROUND_JOB, hold=HOLD_JOB, capacity=CAPACITY_JOB)


@dataclass(frozen=True)
class HistogramSource:
    """A histogram of durations of ended rows, bucketed by PostgreSQL (no row leaves it)."""

    name: str
    doc: str
    labels: tuple[str, ...]
    table: str
    label_sql: str
    start: str
    end: str
    where: str
    buckets: tuple[float, ...]

    @property
    def sql(self) -> Any:
        """Rows that ended in ``(:after, :until]``: an index range on the end column."""
        duration = f"extract(epoch FROM ({self.end} - {self.start}))"
        filters = ", ".join(
            f"count(*) FILTER (WHERE {duration} <= {bound})" for bound in self.buckets
        )
        return text(
            f"SELECT {self.label_sql}, count(*), coalesce(sum({duration}), 0), {filters}"
            f" FROM {self.table} WHERE {self.end} > :after AND {self.end} <= :until"
            f" AND {self.start} IS NOT NULL{self.where} GROUP BY {self.label_sql}"
        )


HISTOGRAMS = (
    HistogramSource(
        "vigil_recovery_duration_seconds",
        "Duration of ended recovery attempts, by kind and outcome",
        ("kind", "outcome"),
        "recovery_attempts",
        "kind, coalesce(outcome, 'unknown')",
        "started_at",
        "ended_at",
        "",
        RECOVERY_BUCKETS,
    ),
    HistogramSource(
        "vigil_evacuation_duration_seconds",
        "Duration of ended vmoves (evacuations and migrations), by type and final status",
        ("type", "status"),
        "vmoves",
        "type, status",
        "start_time",
        "end_time",
        " AND deleted = 0",
        EVACUATION_BUCKETS,
    ),
)
_VMOVES = text(
    "SELECT type, status, count(*) FROM vmoves"
    " WHERE status IN ('pending', 'ongoing') AND deleted = 0 GROUP BY type, status"
)
_ROLLUP = text("SELECT last_run_at, last_result FROM job_runs WHERE name = :name")
_ROLLUP_CLAIM = text(
    "SELECT last_run_at, last_result FROM job_runs WHERE name = :name FOR UPDATE SKIP LOCKED"
)
_ROLLUP_SEED = text(
    "INSERT INTO job_runs (name, last_run_at, last_result) VALUES (:name, NULL, NULL)"
    " ON CONFLICT (name) DO NOTHING"
)
_ROLLUP_SAVE = text(
    "UPDATE job_runs SET last_run_at = :watermark, last_result = CAST(:result AS jsonb)"
    " WHERE name = :name"
)
STATEMENTS = ("_NOTIFICATIONS", "_HOSTS", "_MONITOR", "_VMOVES")
# Histograms are counters: rows that ended before the watermark are folded once into a stored
# rollup (job_runs), so a scrape reads only the rows that ended since, and purging old rows
# never makes a bucket go down. Rows are folded only once they ended ROLLUP_LAG ago, so a write
# committed a little after its end time (or by a pod with a slightly late clock) is not missed.
ROLLUP_JOB = "metrics.rollup"
ROLLUP_LAG = dt.timedelta(minutes=5)
ROLLUP_EVERY = dt.timedelta(minutes=5)
EPOCH = dt.datetime(1970, 1, 1)
FAR = dt.datetime(9999, 1, 1)

Buckets = dict[str, dict[str, list[float]]]


def _fold(into: Buckets, source: HistogramSource, rows) -> None:
    counts = into.setdefault(source.name, {})
    for row in rows:
        key = "|".join(str(v) for v in row[: len(source.labels)])
        figures = [float(v) for v in row[len(source.labels) :]]
        known = counts.get(key)
        counts[key] = (
            figures if known is None else [a + b for a, b in zip(known, figures, strict=True)]
        )


def advance_rollup() -> None:
    """Fold rows that ended before ``now - ROLLUP_LAG`` into the rollup; one scraper at a time."""
    with get_engine().begin() as conn:
        conn.execute(_ROLLUP_SEED, {"name": ROLLUP_JOB})
        claimed = conn.execute(_ROLLUP_CLAIM, {"name": ROLLUP_JOB}).first()
        if claimed is None:
            return  # another scrape is folding right now
        now = conn.execute(text("SELECT now() AT TIME ZONE 'utc'")).scalar_one()
        watermark = claimed.last_run_at
        if watermark is not None and watermark > now - ROLLUP_LAG - ROLLUP_EVERY:
            return
        until = now - ROLLUP_LAG
        stored: Buckets = dict((claimed.last_result or {}).get("histograms", {}))
        for source in HISTOGRAMS:
            rows = conn.execute(source.sql, {"after": watermark or EPOCH, "until": until}).all()
            _fold(stored, source, rows)
        conn.execute(
            _ROLLUP_SAVE,
            {
                "name": ROLLUP_JOB,
                "watermark": until,
                "result": json.dumps({"histograms": stored}),
            },
        )


def _age(now: dt.datetime, then: dt.datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


class StateCollector(Collector):
    """Vigil's stored state as metric families, read in one short read-only transaction."""

    def describe(self) -> list[Metric]:
        return []  # families depend on the data; describing them would run the queries

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        up = GaugeMetricFamily(
            "vigil_database_up", "1 when the scrape could read Vigil's PostgreSQL database"
        )
        try:
            families = self._read()
        except (SQLAlchemyError, DatabaseNotConfigured, OSError) as exc:
            log.warning("metrics: database not readable, state metrics left out: %s", exc)
            up.add_metric([], 0)
            families = []
        else:
            up.add_metric([], 1)
        yield up
        yield from families
        took = GaugeMetricFamily(
            "vigil_scrape_database_seconds", "Time this scrape spent reading the database"
        )
        took.add_metric([], time.perf_counter() - started)
        yield took

    def _read(self) -> list[Metric]:
        try:
            advance_rollup()
        except SQLAlchemyError as exc:  # e.g. a read-only replica: scrapes read every row
            log.warning("metrics: histogram rollup not advanced: %s", exc)
        with get_engine().connect() as conn:
            # One snapshot: the rollup and the rows past its watermark never overlap.
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
            conn.execute(text(f"SET LOCAL statement_timeout = {SCRAPE_STATEMENT_TIMEOUT_MS}"))
            notifications = conn.execute(_NOTIFICATIONS).all()
            hosts = conn.execute(_HOSTS).all()
            monitor = conn.execute(_MONITOR).one()
            vmoves = conn.execute(_VMOVES).all()
            rollup = conn.execute(_ROLLUP, {"name": ROLLUP_JOB}).first()
            histograms: Buckets = json.loads(
                json.dumps(((rollup.last_result if rollup else None) or {}).get("histograms", {}))
            )
            after = (rollup.last_run_at if rollup else None) or EPOCH
            for source in HISTOGRAMS:
                _fold(histograms, source, conn.execute(source.sql, {"after": after, "until": FAR}))
            conn.rollback()
        return [
            *_notification_families(notifications),
            *_host_families(hosts),
            *_monitor_families(monitor, hosts),
            *(_histogram(source, histograms.get(source.name, {})) for source in HISTOGRAMS),
            _counts(
                "vigil_vmoves",
                "Vmoves not yet ended (pending, ongoing), by type and status",
                ["type", "status"],
                vmoves,
            ),
        ]


def _counts(name: str, doc: str, labels: list[str], rows) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for *values, count in rows:
        family.add_metric([str(v) for v in values], count)
    return family


def _notification_families(rows) -> list[Metric]:
    return [
        _counts(
            "vigil_notifications",
            "Stored notifications by type and status",
            ["type", "status"],
            rows,
        )
    ]


def _host_families(rows) -> list[Metric]:
    by_state: dict[tuple[str, str], int] = {}
    segments: dict[str, dict[str, int]] = {}
    for row in rows:
        by_state[(row.segment, row.settled)] = by_state.get((row.segment, row.settled), 0) + 1
        seg = segments.setdefault(
            row.segment, {"maintenance": 0, "reserved_free": 0, "dead_unfenced": 0}
        )
        seg["maintenance"] += row.on_maintenance
        seg["reserved_free"] += row.reserved and not row.on_maintenance and row.settled != "dead"
        seg["dead_unfenced"] += row.settled == "dead" and not row.fenced
    hosts = GaugeMetricFamily(
        "vigil_hosts",
        "Registered hosts by segment and the monitor's settled state (alive, dead, unknown)",
        labels=["segment", "settled_state"],
    )
    for (segment, state), count in sorted(by_state.items()):
        hosts.add_metric([segment, state], count)
    per_segment = {
        "maintenance": GaugeMetricFamily(
            "vigil_hosts_on_maintenance", "Hosts on maintenance, by segment", labels=["segment"]
        ),
        "reserved_free": GaugeMetricFamily(
            "vigil_reserved_hosts_free",
            "Reserved hosts not on maintenance and not dead, by segment",
            labels=["segment"],
        ),
        "dead_unfenced": GaugeMetricFamily(
            "vigil_hosts_dead_unfenced",
            "Hosts settled dead without fencing evidence (never reported NORMAL), by segment",
            labels=["segment"],
        ),
    }
    for segment, figures in sorted(segments.items()):
        for key, family in per_segment.items():
            family.add_metric([segment], figures[key])
    return [hosts, *per_segment.values()]


def _monitor_families(row, hosts) -> list[Metric]:
    settings = get_settings()
    interval = float(settings.host.monitoring_interval)
    families: list[Metric] = []
    gauge = GaugeMetricFamily(
        "vigil_monitor_interval_seconds", "The configured seconds between monitor samples"
    )
    gauge.add_metric([], interval)
    families.append(gauge)
    tick_age, sample_age = _age(row.now, row.tick), _age(row.now, row.sample)
    for name, doc, value in (
        (
            "vigil_monitor_seconds_since_last_tick",
            "Seconds since a monitor tick last started (any instance)",
            tick_age,
        ),
        (
            "vigil_monitor_seconds_since_last_round",
            "Seconds since a monitor round last judged hosts, not dropped (any instance)",
            sample_age,
        ),
    ):
        if value is not None:
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], value)
            families.append(gauge)

    gates = GaugeMetricFamily(
        "vigil_gate_holding",
        "1 while a monitor safety gate holds verdicts back (partition: whole cycle; "
        "brake: one segment)",
        labels=["gate", "segment"],
    )
    hold = row.hold or {}
    # Rounds dropped by a partition do not mark themselves run while ticks keep running.
    dropping = (
        tick_age is not None
        and sample_age is not None
        and tick_age < 2 * interval
        and sample_age - tick_age > interval
    )
    gates.add_metric(["partition", ""], int(hold.get("remaining", 0) > 0 or dropping))
    members: dict[str, list[int]] = {}
    for host in hosts:
        counts = members.setdefault(host.segment, [0, 0])
        counts[0] += host.settled == "dead"
        counts[1] += 1
    limit = settings.safety.max_down_percent
    for segment, (dead, total) in sorted(members.items()):
        gates.add_metric(["brake", segment], int(dead * 100 > limit * total))
    families.append(gates)

    letters = GaugeMetricFamily(
        "vigil_dead_letters", "Events stored by the dead-letter sink after exhausting deliveries"
    )
    letters.add_metric([], row.dead_letters)
    families.append(letters)

    capacity = (row.capacity or {}).get("segments", {})
    sufficient = GaugeMetricFamily(
        "vigil_segment_failover_capacity_sufficient",
        "1 when a segment's other enabled hosts plus free reserved hosts can take the servers "
        "of its largest host (the monitor's last capacity check)",
        labels=["segment"],
    )
    for segment, figures in sorted(capacity.items()):
        sufficient.add_metric([segment], int(bool(figures.get("sufficient"))))
    families.append(sufficient)
    return families


def _histogram(source: HistogramSource, counts: dict[str, list[float]]) -> Metric:
    family = HistogramMetricFamily(source.name, source.doc, labels=list(source.labels))
    for key, (count, total, *cumulative) in sorted(counts.items()):
        pairs = [(repr(float(b)), c) for b, c in zip(source.buckets, cumulative, strict=True)]
        family.add_metric(key.split("|"), [*pairs, ("+Inf", count)], total)
    return family


REGISTRY.register(StateCollector())


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
