"""Settled state from repeated samples, first observation, and which report follows (§5-7)."""

from __future__ import annotations

import datetime as dt

from shared.health.sampling import combine
from shared.health.signals import NodeSignal, NovaSignal
from shared.health.verdicts import FlapPolicy, HostState, advance, report_for

T0 = dt.datetime(2026, 1, 1, 12, 0, 0)
FLAP = FlapPolicy(3, dt.timedelta(hours=1), dt.timedelta(minutes=10))
ALIVE_NODE = NodeSignal("True", False, T0, 5.0)
GONE_NODE = NodeSignal("Unknown", False, T0, 80.0)
STALE_LEASE = NodeSignal("True", False, T0, 80.0)


def feed(state: HostState, verdicts: list[str], samples: int = 1) -> list[str | None]:
    """Apply verdicts oldest first, one sample a minute; return the pending report after each."""
    history: list[str] = []
    pending = []
    for minute, verdict in enumerate(verdicts):
        history.insert(0, verdict)
        advance(state, history, samples, T0 + dt.timedelta(minutes=minute), FLAP)
        pending.append(state.pending_transition)
    return pending


def test_sample_is_down_only_when_kubernetes_and_nova_agree():
    assert combine(ALIVE_NODE, NovaSignal("down", "enabled", False), 50) == ("up", None)
    assert combine(GONE_NODE, NovaSignal("down", "enabled", False), 50) == ("down", None)
    assert combine(STALE_LEASE, NovaSignal("down", "enabled", False), 50) == ("down", None)
    assert combine(GONE_NODE, NovaSignal("up", "enabled", False), 50) == ("none", None)


def test_disabled_nova_service_is_not_ill_health():
    assert combine(ALIVE_NODE, NovaSignal("up", "disabled", False), 50) == ("up", None)


def test_first_observation_is_recorded_never_reported():
    state = HostState("h")
    assert feed(state, ["down", "down"]) == [None, None]
    assert state.settled_state == "dead"


def test_alive_to_dead_then_back_asks_for_stopped_then_started():
    state = HostState("h")
    assert feed(state, ["up", "down"]) == [None, "STOPPED"]
    assert report_for(state, None) == "STOPPED/UNKNOWN"
    assert report_for(state, "out-of-service-taint") == "STOPPED/NORMAL"
    state.set(
        pending_transition=None,
        last_reported="STOPPED/NORMAL",
        last_reported_at=state.settled_since,
    )
    advance(state, ["up", "down", "up"], 1, T0 + dt.timedelta(minutes=5), FLAP)
    assert state.pending_transition == "STARTED"
    assert report_for(state, None) == "STARTED/NORMAL"


def test_state_changes_only_when_the_last_n_samples_agree():
    state = HostState("h")
    assert feed(state, ["up", "up", "down", "up", "down", "down"], samples=2) == [
        None,
        None,
        None,
        None,
        None,
        "STOPPED",
    ]


def test_host_back_before_its_stopped_was_sent_reports_nothing():
    state = HostState("h")
    feed(state, ["up", "down", "up"])
    assert state.pending_transition is None


def test_unknown_already_sent_is_not_repeated_but_normal_follows():
    state = HostState("h")
    feed(state, ["up", "down"])
    state.set(last_reported="STOPPED/UNKNOWN", last_reported_at=state.settled_since)
    assert report_for(state, None) is None
    assert report_for(state, "redfish:off") == "STOPPED/NORMAL"


def test_more_transitions_than_allowed_within_the_window_marks_the_host_flapping():
    state = HostState("h")
    feed(state, ["up", "down", "up", "down", "up"])
    assert state.flapping(T0 + dt.timedelta(minutes=5))
    assert not state.flapping(T0 + dt.timedelta(minutes=15))
