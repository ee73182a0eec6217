"""Redfish through OpenStack's sushy: read a ComputerSystem's PowerState, send Reset ForceOff."""

from __future__ import annotations

import logging
import threading

import sushy
from sushy import exceptions as sushy_errors

from shared.power.bmcmap import Bmc
from shared.power.errors import PowerError

# sushy warns on every BMC without a SessionService before it falls back to basic auth.
logging.getLogger("sushy.main").setLevel(logging.ERROR)

_AUTH = {"basic": sushy.auth.BasicAuth, "session": sushy.auth.SessionAuth}


class RedfishDriver:
    """One sushy connection per BMC address and user, kept while the driver lives."""

    name = "redfish"

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._roots: dict[tuple[str, str | None], sushy.Sushy] = {}
        # The monitor reads many hosts at once: one lock per BMC, so a slow one holds no other.
        self._locks: dict[tuple[str, str | None], threading.Lock] = {}
        self._registry = threading.Lock()

    def _root(self, bmc: Bmc) -> sushy.Sushy:
        key = (bmc.address, bmc.username)
        with self._registry:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            return self._connect(key, bmc)

    def _connect(self, key: tuple[str, str | None], bmc: Bmc) -> sushy.Sushy:
        if key not in self._roots:
            auth_class = _AUTH.get(bmc.auth, sushy.auth.SessionOrBasicAuth)
            self._roots[key] = sushy.Sushy(
                f"{bmc.address}/redfish/v1",
                verify=bmc.verify,
                auth=auth_class(username=bmc.username or "", password=bmc.password or ""),
                # Vigil retries itself (retry_max x retry_interval, or the next round). sushy
                # reads 0 as "3 transport tries, 2 s apart"; 2 tries 0.2 s apart still cover a
                # keep-alive connection the BMC dropped, and a silent BMC costs two timeouts.
                server_side_retries=2,
                server_side_retries_delay=0.2,
                read_timeout=self.timeout,
                connect_timeout=self.timeout,
            )
        return self._roots[key]

    def _system(self, bmc: Bmc):
        try:
            return self._root(bmc).get_system(bmc.system)
        except (sushy_errors.SushyError, ValueError) as exc:
            self._roots.pop((bmc.address, bmc.username), None)
            raise PowerError(f"Redfish {bmc.describe()}: {_reason(exc)}") from exc

    def power_state(self, bmc: Bmc) -> str:
        state = self._system(bmc).power_state
        if state is None:
            raise PowerError(f"Redfish {bmc.describe()} reports no PowerState")
        # Only Off is off: PoweringOn/PoweringOff are a host in motion, never proof.
        return "off" if state == sushy.PowerState.OFF else "on"

    def force_off(self, bmc: Bmc) -> None:
        system = self._system(bmc)
        try:
            system.reset_system(sushy.ResetType.FORCE_OFF)
        except (sushy_errors.SushyError, ValueError) as exc:
            raise PowerError(f"Redfish {bmc.describe()} ForceOff: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
