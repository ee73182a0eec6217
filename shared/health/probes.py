"""Optional per-network probes (monitoring.md §3.4): each host's health on each network.

Two sources, chosen by configuration:

* consul, as Masakari's consul driver: ``[consul] agent_manage|agent_tenant|agent_storage``
  name one agent per network (``addr[:port]``, port 8500, or a full URL);
  ``GET /v1/agent/members`` there, ``Status == 1`` is up. Existing deployments keep working.
* TCP connect, needing nothing on the hosts: ``[consul] probe_targets_file`` maps each host to
  one listener per network (an sshd, any port the operator names)::

      compute-001: {manage: 10.0.0.11:22, tenant: 10.1.0.11:22, storage: 10.2.0.11:22}

  A refused or timed-out connect marks that network ``down``.
"""

from __future__ import annotations

import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor

import requests
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
                raise ProbeConfigError(
                    f"{path}: {host}.{network} must be address:port, got {target!r}"
                )
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
    agents = {
        net: addr
        for net, addr in (
            ("manage", settings.consul.agent_manage),
            ("tenant", settings.consul.agent_tenant),
            ("storage", settings.consul.agent_storage),
        )
        if addr
    }
    if agents:
        return _consul_members(agents, hosts, settings.safety.api_timeout)
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
            jobs, pool.map(lambda job: _reachable(job[2], timeout), jobs), strict=False
        ):
            results[host][net] = value
    return results


def _agent_url(address: str) -> str:
    if "://" in address:
        return address.rstrip("/") + "/v1/agent/members"
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        host, port = address, "8500"
    return f"http://{host}:{port}/v1/agent/members"


def _consul_members(agents: dict[str, str], hosts: list[str], timeout: float):
    """Members of each network's consul cluster; an unreachable agent leaves that network
    unknown (no opinion) for every host, never ``down``."""
    results: dict[str, dict[str, str]] = {host: {} for host in hosts}
    for net, address in agents.items():
        url = _agent_url(address)
        try:
            response = requests.get(url, timeout=timeout)
            response.raise_for_status()
            members = response.json()
        except (requests.RequestException, ValueError) as exc:
            log.error("consul agent for the %s network (%s) not readable: %s", net, url, exc)
            continue
        status = {m.get("Name"): m.get("Status") for m in members if isinstance(m, dict)}
        for host in hosts:
            if host in status:
                results[host][net] = "up" if status[host] == 1 else "down"
    return results
