"""Evidence that a dead host is really off, for ``host_status: NORMAL`` (monitoring.md §6).

Accepted evidence, first found wins: the Node's ``node.kubernetes.io/out-of-service`` taint, a
power-status check through a driver reporting the host off, or the operator's explicit opt-out
(``[host] disable_ipmi_check``, unsafe: it trusts every verdict as Masakari's Kubernetes driver
does). Power drivers are looked up by ``[fencing] driver``; add one by implementing
``PowerCheck`` and registering it in ``POWER_CHECKS``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import requests

from shared.settings import Fencing, Settings

log = logging.getLogger(__name__)

TAINT_EVIDENCE = "out-of-service-taint"
OPT_OUT_EVIDENCE = "disable_ipmi_check"


class PowerCheckError(RuntimeError):
    """The power controller gave no usable answer (unreachable, auth, unexpected body)."""


class PowerCheck(Protocol):
    name: str

    def is_off(self, host: str) -> bool:
        """True only when the controller reports the host powered off."""


class RedfishPowerCheck:
    """``GET <redfish_url_template with {host}>`` → ``PowerState`` (DMTF Redfish ComputerSystem)."""

    name = "redfish"

    def __init__(self, cfg: Fencing):
        if not cfg.redfish_url_template or "{host}" not in cfg.redfish_url_template:
            raise PowerCheckError(
                "[fencing] redfish_url_template must be set and contain '{host}', e.g. "
                "https://bmc-{host}.example/redfish/v1/Systems/1"
            )
        self.url_template: str = cfg.redfish_url_template
        self.cfg = cfg
        self.http = requests.Session()
        if cfg.redfish_username:
            self.http.auth = (cfg.redfish_username, cfg.redfish_password or "")

    def is_off(self, host: str) -> bool:
        url = self.url_template.format(host=host)
        try:
            response = self.http.get(
                url, timeout=self.cfg.timeout, headers={"Accept": "application/json"}
            )
        except requests.RequestException as exc:
            raise PowerCheckError(f"{url} unreachable: {exc}") from exc
        if response.status_code != 200:
            raise PowerCheckError(f"{url} answered {response.status_code}")
        try:
            state = response.json()["PowerState"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PowerCheckError(f"{url} returned no PowerState") from exc
        return state == "Off"


POWER_CHECKS: dict[str, type] = {"redfish": RedfishPowerCheck}


def power_check(settings: Settings) -> PowerCheck | None:
    """The configured driver, or None (``driver = none`` or a configuration error, logged)."""
    name = settings.fencing.driver
    if name == "none":
        return None
    try:
        return POWER_CHECKS[name](settings.fencing)
    except PowerCheckError as exc:
        log.error("fencing driver %s not usable, no power-off evidence this cycle: %s", name, exc)
        return None


def _checked(driver: PowerCheck, host: str, cfg: Fencing) -> str | None:
    """Ask up to ``retry_max`` more times on errors (Masakari's ipmi_retry_max); a clear 'on'
    answer is final for this cycle."""
    for attempt in range(cfg.retry_max + 1):
        try:
            return f"{driver.name}:off" if driver.is_off(host) else None
        except PowerCheckError as exc:
            log.warning("power check of %s failed (try %d): %s", host, attempt + 1, exc)
            if attempt < cfg.retry_max:
                time.sleep(cfg.retry_interval)
    return None


def gather_evidence(
    settings: Settings, hosts: Iterable[str], tainted: set[str]
) -> dict[str, str | None]:
    """Fencing evidence per host (None: nothing proves the host is off)."""
    hosts = list(hosts)
    evidence: dict[str, str | None] = {}
    if settings.host.disable_ipmi_check:
        return {host: OPT_OUT_EVIDENCE for host in hosts}
    unproven = []
    for host in hosts:
        if host in tainted:
            evidence[host] = TAINT_EVIDENCE
        else:
            unproven.append(host)
    driver = power_check(settings) if unproven else None
    if driver is None:
        evidence.update({host: None for host in unproven})
        return evidence
    with ThreadPoolExecutor(max_workers=min(16, len(unproven))) as pool:
        results = pool.map(lambda h: _checked(driver, h, settings.fencing), unproven)
        evidence.update(zip(unproven, results, strict=False))
    return evidence
