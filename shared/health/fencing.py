"""Evidence that a dead host is really off, for ``host_status: NORMAL`` (monitoring.md §6).

Accepted evidence, first found wins: the Node's ``node.kubernetes.io/out-of-service`` taint, a
power-status check through a driver reporting the host off, or the operator's explicit opt-out
(``[host] disable_ipmi_check``, unsafe: it trusts every verdict as Masakari's Kubernetes driver
does). Power drivers (Redfish, IPMI, per-host BMC map) live in ``shared.power``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from shared.power import PowerError, power_fence
from shared.settings import Fencing, Settings

log = logging.getLogger(__name__)

TAINT_EVIDENCE = "out-of-service-taint"
OPT_OUT_EVIDENCE = "disable_ipmi_check"


PowerCheckError = PowerError  # raised by every driver when the BMC gives no usable answer


class PowerCheck(Protocol):
    name: str

    def is_off(self, host: str) -> bool:
        """True only when the controller reports the host powered off."""


def power_check(settings: Settings) -> PowerCheck | None:
    """The configured driver (shared.power), or None (no BMC driver, or a configuration error,
    logged)."""
    try:
        return power_fence(settings)
    except PowerError as exc:
        log.error(
            "fencing driver %s not usable, no power-off evidence this cycle: %s",
            settings.fencing.driver,
            exc,
        )
        return None


def _checked(
    driver: PowerCheck, host: str, cfg: Fencing, quick: bool, unanswered: set[str]
) -> tuple[bool, str | None]:
    """``(answered, evidence)`` for one host.

    The full read asks up to ``retry_max`` more times on errors (Masakari's ipmi_retry_max); the
    quick read of a suspect asks once, so a round is never held by retry sleeps: the next round
    asks again. A clear 'on' answer is final for the round either way.
    """
    tries = 1 if quick else cfg.retry_max + 1
    for attempt in range(tries):
        try:
            off = driver.is_off(host)
        except PowerCheckError as exc:
            level = logging.INFO if host in unanswered else logging.WARNING
            unanswered.add(host)
            log.log(level, "power check of %s failed (try %d): %s", host, attempt + 1, exc)
            if attempt + 1 < tries:
                time.sleep(cfg.retry_interval)
            continue
        if host in unanswered:
            unanswered.discard(host)
            log.warning("power check of %s answers again", host)
        return True, f"{driver.name}:off" if off else None
    return False, None


class PowerReader:
    """The power driver the monitor reads BMCs with, built once per tick (the BMC map read once,
    sushy and pyghmi sessions kept between rounds), and the hosts whose BMC stopped answering:
    a suspect is read every round, and its silent BMC is warned about once, not every round."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._driver: PowerCheck | None = None
        self._built = False
        self.unanswered: set[str] = set()

    def driver(self) -> PowerCheck | None:
        if not self._built:
            self._driver = power_check(self.settings)
            self._built = True
        return self._driver


class Evidence:
    """Fencing evidence gathered during one sampling round.

    Each host's power state is read at most once per round: an answer found for a suspect
    (quick read) is reused when the same host is reported. The driver comes from the tick's
    ``PowerReader``.
    """

    def __init__(self, settings: Settings, power: PowerReader | None = None):
        self.settings = settings
        self.power = power if power is not None else PowerReader(settings)
        self.answers: dict[str, str | None] = {}  # hosts the controller answered for

    def proof(self, hosts: Iterable[str], tainted: set[str]) -> dict[str, str | None]:
        """Evidence that suspects are off: the taint or one power read each, never the opt-out.

        ``disable_ipmi_check`` trusts a verdict already reached; it proves nothing about a
        host whose only symptom is a late Lease, so it cannot shorten detection.
        """
        return self._gather(list(hosts), tainted, quick=True)

    def gather(self, hosts: Iterable[str], tainted: set[str]) -> dict[str, str | None]:
        """Fencing evidence per host that may be reported dead (None: nothing proves it off)."""
        hosts = list(hosts)
        if self.settings.host.disable_ipmi_check:
            return {host: OPT_OUT_EVIDENCE for host in hosts}
        return self._gather(hosts, tainted, quick=False)

    def _gather(self, hosts: list[str], tainted: set[str], quick: bool) -> dict[str, str | None]:
        evidence: dict[str, str | None] = {}
        unproven = []
        for host in hosts:
            if host in tainted:
                evidence[host] = TAINT_EVIDENCE
            elif host in self.answers:
                evidence[host] = self.answers[host]
            else:
                unproven.append(host)
        driver = self.power.driver() if unproven else None
        if driver is None:
            evidence.update({host: None for host in unproven})
            return evidence
        cfg = self.settings.fencing
        with ThreadPoolExecutor(max_workers=min(16, len(unproven))) as pool:
            results = pool.map(
                lambda h: _checked(driver, h, cfg, quick, self.power.unanswered), unproven
            )
            for host, (answered, found) in zip(unproven, results, strict=True):
                evidence[host] = found
                if answered:
                    self.answers[host] = found
        return evidence
