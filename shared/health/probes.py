"""Optional per-network probes (monitoring.md §3.4): one TCP connect per host per network.

A host answers on each of its networks (an sshd, a consul agent's serf port, any listener the
operator names); a refused or timed-out connect marks that network ``down``. Targets come from
``[consul] probe_targets_file``::

    compute-001: {manage: 10.0.0.11:22, tenant: 10.1.0.11:22, storage: 10.2.0.11:22}

Probes need nothing installed on the hosts and no consul cluster per network.
"""

from __future__ import annotations

import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor

import yaml

from shared.health.matrix import NETWORKS
from shared.settings import Settings

log = logging.getLogger(__name__)


class ProbeConfigError(ValueError):
    """The probe targets file is unusable; the message names the file and the entry."""


_cache: dict[str, tuple[float, dict[str, dict[str, tuple[str, int]]]]] = {}


def load_targets(path: str) -> dict[str, dict[str, tuple[str, int]]]:
    """``{host: {network: (address, port)}}`` from the targets file (cached by mtime)."""
    try:
        mtime = os.stat(path).st_mtime
    except OSError as exc:
        raise ProbeConfigError(f"probe targets file {path} cannot be read: {exc.strerror}") from exc
    cached = _cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle) or {}
    except yaml.YAMLError as exc:
        raise ProbeConfigError(f"probe targets file {path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ProbeConfigError(f"{path}: expected a mapping host -> {{network: address:port}}")
    targets: dict[str, dict[str, tuple[str, int]]] = {}
    for host, networks in document.items():
        if not isinstance(networks, dict):
            raise ProbeConfigError(f"{path}: {host} must map networks to address:port")
        targets[str(host)] = {}
        for network, target in networks.items():
            if network not in NETWORKS:
                raise ProbeConfigError(f"{path}: {host}.{network} is not one of {list(NETWORKS)}")
            address, _, port = str(target).rpartition(":")
            if not address or not port.isdigit():
                raise ProbeConfigError(f"{path}: {host}.{network} must be address:port, got {target!r}")
            targets[str(host)][network] = (address.strip("[]"), int(port))
    _cache[path] = (mtime, targets)
    return targets


def _reachable(target: tuple[str, int], timeout: float) -> str:
    try:
        with socket.create_connection(target, timeout=timeout):
            return "up"
    except OSError:
        return "down"


def probe_networks(settings: Settings, hosts: list[str]) -> dict[str, dict[str, str]] | None:
    """Health per network for each host, or None when probes are not configured.

    Hosts missing from the targets file get no entry (their sample has no opinion). Raises
    ProbeConfigError for an unusable targets file.
    """
    path = settings.consul.probe_targets_file
    if not path:
        return None
    targets = load_targets(path)
    jobs = [(host, net, target) for host in hosts for net, target in targets.get(host, {}).items()]
    results: dict[str, dict[str, str]] = {host: {} for host in hosts if host in targets}
    if not jobs:
        return results
    timeout = settings.consul.probe_timeout
    with ThreadPoolExecutor(max_workers=min(64, len(jobs))) as pool:
        for (host, net, _), value in zip(
            jobs, pool.map(lambda job: _reachable(job[2], timeout), jobs)
        ):
            results[host][net] = value
    return results
