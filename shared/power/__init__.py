"""Power drivers for fencing: each host's BMC from one map, reached by Redfish or IPMI.

The monitor reads a host's power state as proof that a dead host is off (monitoring.md §6);
recovery forces a host off and confirms it before its servers move (recovery.md §15.1). Both
use the same ``Fence`` from ``power_fence(settings)``, so what the monitor read and what
recovery switches off go through one driver and one map.
"""

from __future__ import annotations

from shared.power.bmcmap import Bmc, BmcDirectory
from shared.power.errors import PowerError
from shared.power.ipmi import IpmiDriver
from shared.power.redfish import RedfishDriver
from shared.settings import Settings

__all__ = [
    "POWER_DRIVERS",
    "Bmc",
    "Fence",
    "FencingNotChosen",
    "PowerError",
    "fencing_choice",
    "power_fence",
    "require_fencing_choice",
]

POWER_DRIVERS = ("redfish", "ipmi")


class Fence:
    """Power state and ForceOff of any mapped host, through that host's own driver."""

    def __init__(self, settings: Settings):
        cfg = settings.fencing
        self.name: str = cfg.driver or "redfish"
        self.directory = BmcDirectory(cfg)
        self._drivers: dict[str, RedfishDriver | IpmiDriver] = {
            "redfish": RedfishDriver(cfg.timeout),
            "ipmi": IpmiDriver(cfg.timeout),
        }

    def bmc(self, host: str) -> Bmc:
        return self.directory.lookup(host)

    def power_state(self, host: str) -> str:
        """``"on"`` or ``"off"``; PowerError when the BMC gives no usable answer."""
        bmc = self.bmc(host)
        return self._drivers[bmc.driver].power_state(bmc)

    def is_off(self, host: str) -> bool:
        return self.power_state(host) == "off"

    def force_off(self, host: str) -> None:
        bmc = self.bmc(host)
        self._drivers[bmc.driver].force_off(bmc)


def power_fence(settings: Settings) -> Fence | None:
    """The configured power driver; None when the fencing choice is not a BMC.

    Raises PowerError for a configuration no host can be fenced with (unreadable map, bad
    template).
    """
    if settings.fencing.driver not in POWER_DRIVERS:
        return None
    return Fence(settings)


class FencingNotChosen(RuntimeError):
    """The deployment has not said how a dead host is proven off."""


def fencing_choice(settings: Settings) -> str | None:
    """The operator's explicit fencing choice, or None."""
    if settings.fencing.driver:
        return settings.fencing.driver
    if settings.host.disable_ipmi_check:
        return "disable_ipmi_check (unsafe)"
    return None


def require_fencing_choice(settings: Settings) -> str:
    """The choice; FencingNotChosen (one line, for the monitor's start) when there is none."""
    choice = fencing_choice(settings)
    if choice is None:
        raise FencingNotChosen(
            "no fencing choice: set VIGIL_FENCING__DRIVER to redfish or ipmi (with "
            "VIGIL_FENCING__BMC_MAP_FILE), or taint (the Node's out-of-service taint), or "
            "VIGIL_HOST__DISABLE_IPMI_CHECK=true to trust every dead verdict (unsafe); "
            'see README "Fencing"'
        )
    if choice in POWER_DRIVERS:
        try:
            Fence(settings)
        except PowerError as exc:
            raise FencingNotChosen(f"fencing driver {choice} not usable: {exc}") from exc
    return choice
