"""Safety gates that hold reports back (monitoring.md §9); every hold is logged and emitted.

Each activation emits a CloudEvent ``<prefix>.monitor.gate.<gate>`` naming the hosts, so an
operator sees held verdicts where Vigil's other events go (a Broker, a log sink).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared import gate_decisions
from shared.events import MONITOR_GATE_SUFFIX, emit

log = logging.getLogger(__name__)


def announce(gate: str, hosts: Iterable[str], reason: str, **data: Any) -> None:
    """Log and emit one gate activation."""
    names = sorted(hosts)
    log.warning(
        "monitor gate %s holds verdicts for %s: %s", gate, ", ".join(names) or "all hosts", reason
    )
    emit(
        f"{MONITOR_GATE_SUFFIX}.{gate}",
        "monitor",
        gate,
        {"gate": gate, "hosts": names, "reason": reason, **data},
    )
    gate_decisions.record(gate, names, reason, data)


@dataclass(frozen=True)
class Partition:
    """Why the whole cycle is dropped, or None."""

    reason: str
    hosts: tuple[str, ...] = ()
    holds_following: bool = False  # a mass drop also holds the next rounds


def channel_stale(stale: dict[str, bool], channel: str) -> Partition | None:
    """Every monitored host stale at once on one channel: blame the channel, not the hosts.

    A single monitored host cannot be told apart from its channel, so it is judged normally.
    """
    if len(stale) >= 2 and all(stale.values()):
        return Partition(f"every host is stale on the {channel} channel at once", tuple(stale))
    return None


def heartbeat_drop(previous_up: set[str], now_not_up: set[str]) -> Partition | None:
    """More than half of the hosts that were healthy last cycle are not healthy now."""
    dropped = previous_up & now_not_up
    if len(previous_up) >= 2 and len(dropped) * 2 > len(previous_up):
        return Partition(
            f"{len(dropped)} of {len(previous_up)} healthy hosts dropped within one cycle",
            tuple(dropped),
            holds_following=True,
        )
    return None


def over_brake(down: set[str], members: set[str], max_down_percent: int) -> bool:
    """The segment's dead share exceeds ``max_down_percent``."""
    return bool(members) and len(down) * 100 > max_down_percent * len(members)
