"""infra/observability: the PrometheusRule and the Grafana dashboard use only what Vigil exports.

The exported names come from a real ``/metrics`` answer over a database holding one of every
kind of row, never from a list kept by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import requests
import yaml

from shared.db import session_scope, utcnow
from shared.models import DeadLetter, HealthSample, HostMonitorState, JobRun, RecoveryAttempt
from tests.observability.conftest import evacuation, scrape
from tests.recover.scenario import make_segment, notify

FOLDER = Path(__file__).resolve().parents[2] / "infra" / "observability"
ALERTS = {
    "VigilMonitorSilent",
    "VigilNotificationError",
    "VigilNotificationFailed",
    "VigilSafetyGateHolding",
    "VigilHostDeadUnfenced",
    "VigilDeadLetters",
    "VigilFailoverCapacityLost",
}
PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "le", "inf", "nan",
}  # fmt: skip


def _populate() -> None:
    """One row of every kind a metric is built from."""
    segment = make_segment("auto", ["compute-000", "compute-001"], reserved=["spare-000"])
    created = notify(
        "compute-000",
        "COMPUTE_HOST",
        {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"},
    )
    now = utcnow()
    start = now - dt.timedelta(minutes=1)
    with session_scope() as session:
        session.add_all(
            [
                HostMonitorState(host_name="compute-000", settled_state="dead", transitions=[]),
                HealthSample(host_name="compute-001", sampled_at=now, verdict="up"),
                JobRun(name="monitor.tick", last_run_at=now),
                JobRun(name="monitor.round", last_run_at=now),
                JobRun(
                    name="monitor.capacity",
                    last_run_at=now,
                    last_result={
                        "segments": {f"seg-{segment[:8]}": {"uuid": segment, "sufficient": True}}
                    },
                ),
                RecoveryAttempt(
                    notification_uuid=created,
                    number=1,
                    kind="auto",
                    outcome="succeeded",
                    started_at=start,
                    ended_at=now,
                ),
                evacuation(created, "succeeded", 60, ago=60),
                evacuation(created, "ongoing", None, name="vm2", ago=60),
                DeadLetter(
                    received_at=now, event_id="x", event_type="t", source="s", attributes={}
                ),
            ]
        )


@pytest.fixture
def exported(metrics, served) -> set[str]:
    _populate()
    requests.get(f"{served.url}/v1/segments", timeout=30)  # fills the request families
    return scrape(served.url).sample_names()


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (functions, keywords, labels removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = match.group(0)
        following = expr[match.end() :].lstrip()
        if word.lower() in PROMQL_WORDS or following.startswith("("):
            continue  # a keyword or a function
        names.add(word)
    return names


def _rule_file() -> dict:
    return yaml.safe_load((FOLDER / "prometheusrule.yaml").read_text())


def _dashboard() -> dict:
    return json.loads((FOLDER / "grafana-dashboard.json").read_text())


def test_the_prometheus_rule_alerts_on_every_failure_the_operator_must_see():
    rule = _rule_file()
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["kind"] == "PrometheusRule"
    assert rule["metadata"]["namespace"] == "vigil"
    rules = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert {r["alert"] for r in rules} >= ALERTS
    for entry in rules:
        assert set(entry) <= {"alert", "expr", "for", "labels", "annotations"}, entry
        assert entry["labels"]["severity"] in ("warning", "critical")
        assert entry["annotations"]["summary"]
        if "for" in entry:
            assert re.fullmatch(r"\d+[smh]", entry["for"])


def test_every_alert_expression_names_only_metrics_vigil_exports(exported):
    for group in _rule_file()["spec"]["groups"]:
        for entry in group["rules"]:
            names = metric_names(entry["expr"])
            assert names, entry["expr"]
            assert names <= exported, (entry["alert"], names - exported)


def test_the_dashboard_is_grafana_json_whose_queries_name_only_exported_metrics(exported):
    dashboard = _dashboard()
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names and names <= exported, (panel["title"], names - exported)


def test_the_observability_kustomization_lists_files_that_exist():
    kustomization = yaml.safe_load((FOLDER / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        assert (FOLDER / name).is_file(), name
    for generator in kustomization["configMapGenerator"]:
        for name in generator["files"]:
            json.loads((FOLDER / name).read_text())
    monitor = yaml.safe_load((FOLDER / "podmonitor.yaml").read_text())
    assert monitor["kind"] == "PodMonitor"
    assert monitor["spec"]["podMetricsEndpoints"][0]["path"] == "/metrics"


def test_the_expression_parser_finds_names_and_skips_functions_and_labels():
    expr = 'histogram_quantile(0.95, sum by (le, route) (rate(vigil_x_bucket{a="b"}[5m]))) > 3'
    assert metric_names(expr) == {"vigil_x_bucket"}
    assert metric_names("a > 3 * b and c") == {"a", "b", "c"}
