"""Settled state per host and the reports it calls for (monitoring.md §5-7, §9.4).

A host's state settles only when its last N samples agree. The first settled state is recorded,
never reported. A report is kept as ``pending_transition`` until it is sent or made moot, so
gates that hold a report back (brake, cap, flap) only delay it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

STOPPED = "STOPPED"
STARTED = "STARTED"


@dataclass
class HostState:
    """Mirror of one ``host_monitor_states`` row; ``dirty`` once anything changed."""

    host_name: str
    host_uuid: str | None = None
    settled_state: str | None = None  # alive | dead
    settled_since: dt.datetime | None = None
    last_reported: str | None = None  # STOPPED/NORMAL | STOPPED/UNKNOWN | STARTED/NORMAL
    last_reported_at: dt.datetime | None = None
    fencing_evidence: str | None = None
    pending_transition: str | None = None  # STOPPED | STARTED
    transitions: list[Any] = field(default_factory=list)
    flapping_until: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    dirty: bool = False

    COLUMNS = (
        "host_name",
        "host_uuid",
        "settled_state",
        "settled_since",
        "last_reported",
        "last_reported_at",
        "fencing_evidence",
        "pending_transition",
        "transitions",
        "flapping_until",
        "updated_at",
    )

    @classmethod
    def from_row(cls, row: Any) -> HostState:
        return cls(**{name: getattr(row, name) for name in cls.COLUMNS})

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.COLUMNS}

    def set(self, **changes: Any) -> None:
        for name, value in changes.items():
            if getattr(self, name) != value:
                setattr(self, name, value)
                self.dirty = True

    def flapping(self, now: dt.datetime) -> bool:
        return self.flapping_until is not None and now < self.flapping_until

    @property
    def awaiting_fencing(self) -> bool:
        """Reported dead without proof: the evidence is re-checked every cycle (§6)."""
        return self.settled_state == "dead" and self.last_reported == "STOPPED/UNKNOWN"


def settled_from(verdicts: list[str], samples: int) -> str | None:
    """``dead`` / ``alive`` when the newest ``samples`` verdicts agree, else None (unstable)."""
    recent = verdicts[:samples]
    if len(recent) < samples:
        return None
    if all(v == "down" for v in recent):
        return "dead"
    if all(v == "up" for v in recent):
        return "alive"
    return None


@dataclass(frozen=True)
class FlapPolicy:
    max_transitions: int
    window: dt.timedelta
    hold: dt.timedelta


def advance(
    state: HostState, verdicts: list[str], samples: int, now: dt.datetime, flap: FlapPolicy
) -> str | None:
    """Apply the newest verdicts (newest first) to ``state``; return a log-worthy note or None."""
    new = settled_from(verdicts, samples)
    old = state.settled_state
    if new is None or new == old:
        return None
    state.set(settled_state=new, settled_since=now)
    if old is None:
        if new == "dead":
            return (
                "already dead when first seen: recorded, not reported (no alive → dead transition)"
            )
        return None
    cutoff = now - flap.window
    recent = [t for t in state.transitions if dt.datetime.fromisoformat(t) > cutoff]
    recent.append(now.isoformat())
    state.set(transitions=recent)
    if len(recent) > flap.max_transitions:
        state.set(flapping_until=now + flap.hold)
    if new == "dead":
        state.set(pending_transition=STOPPED)
        return None
    if state.pending_transition == STOPPED:
        # Back before its STOPPED was sent: neither report is needed.
        state.set(pending_transition=None)
        return "came back before its STOPPED was reported: both dropped"
    state.set(pending_transition=STARTED, fencing_evidence=None)
    return None


PAYLOADS = {
    "STOPPED/NORMAL": {"event": "STOPPED", "cluster_status": "OFFLINE", "host_status": "NORMAL"},
    "STOPPED/UNKNOWN": {"event": "STOPPED", "cluster_status": "OFFLINE", "host_status": "UNKNOWN"},
    "STARTED/NORMAL": {"event": "STARTED", "cluster_status": "ONLINE", "host_status": "NORMAL"},
}


def report_for(state: HostState, evidence: str | None) -> str | None:
    """Which payload the pending transition calls for now (a key of PAYLOADS), if any."""
    if state.pending_transition == STARTED:
        return "STARTED/NORMAL"
    if state.pending_transition == STOPPED:
        report = "STOPPED/NORMAL" if evidence else "STOPPED/UNKNOWN"
        # What was already sent for this death is not repeated; only NORMAL follows UNKNOWN.
        same_death = (
            state.last_reported_at is not None
            and state.settled_since is not None
            and state.last_reported_at >= state.settled_since
        )
        return None if same_death and report == state.last_reported else report
    return None
