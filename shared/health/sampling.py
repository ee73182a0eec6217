"""From one host's signals to one sample: up, down or none (monitoring.md §4)."""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass, field
from typing import Any

from shared.health.matrix import Matrix
from shared.health.signals import NodeSignal, NovaSignal
from shared.settings import Settings


def nova_only_patterns(settings: Settings) -> list[str]:
    """``[host] nova_only_hosts``: hosts without a Node, watched through Nova and the BMC."""
    return [p.strip() for p in settings.host.nova_only_hosts.split(",") if p.strip()]


def watched_through_nova(patterns: list[str], name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


@dataclass
class Sample:
    host_name: str
    host_uuid: str
    segment_uuid: str
    sampled_at: dt.datetime
    node: NodeSignal | None
    nova: NovaSignal | None
    networks: dict[str, str] | None
    verdict: str  # up | down | none
    fenced: str | None = None
    notes: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        node, nova = self.node, self.nova
        return {
            "host_name": self.host_name,
            "host_uuid": self.host_uuid,
            "sampled_at": self.sampled_at,
            "ready": node.ready if node else None,
            "lease_renew_time": node.lease_renew_time if node else None,
            "lease_age": node.lease_age if node else None,
            "nova_state": nova.state if nova else None,
            "nova_status": nova.status if nova else None,
            "nova_forced_down": nova.forced_down if nova else None,
            "networks": self.networks,
            "fenced": self.fenced,
            "verdict": self.verdict,
        }


def lease_stale(node: NodeSignal, lease_grace: float) -> bool:
    """No Lease, or one not renewed within the grace (the kubelet is gone)."""
    return node.lease_age is None or node.lease_age > lease_grace


def kubernetes_dead(node: NodeSignal, lease_grace: float | None) -> bool:
    """Kubernetes says the node is gone: Ready is not True, or (given a grace) the Lease is stale."""
    return node.ready != "True" or (lease_grace is not None and lease_stale(node, lease_grace))


def combine(
    node: NodeSignal | None,
    nova: NovaSignal | None,
    lease_grace: float,
    networks: dict[str, str] | None = None,
    matrix: Matrix | None = None,
) -> tuple[str, str | None]:
    """The sample value and, when it is ``none`` for a reason worth logging, that reason.

    With network probes the matrix decides (a missing or invalid matrix gives no opinion);
    otherwise Kubernetes must see the node gone *and* Nova must report the service down.
    """
    if networks is not None:
        if matrix is None:
            return "none", "HA-strategy matrix invalid"
        vector = tuple(networks.get(name, "unknown") for name in matrix.sequence)
        if "unknown" in vector:
            return "none", "no probe result for every network in the matrix sequence"
        return matrix.decide(vector), None
    if node is None:
        return "none", "no Kubernetes Node of that name"
    if not kubernetes_dead(node, lease_grace):
        return "up", None
    if nova is None:
        return "none", "no nova-compute service on that host"
    if nova.state == "down":
        return "down", None
    return "none", None


def nova_verdict(nova: NovaSignal | None) -> tuple[str, str | None]:
    """A host without a kubelet (§4.1): Nova's service state is the only heartbeat.

    ``down`` here is a suspicion; whether it is reported ``NORMAL`` depends on the fencing
    evidence, exactly as for a Kubernetes host.
    """
    if nova is None:
        return "none", "no nova-compute service on that host"
    return ("down" if nova.state == "down" else "up"), None
