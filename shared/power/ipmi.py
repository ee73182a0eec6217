"""IPMI 2.0 (RMCP+) through pyghmi: chassis power status and power off."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from pyghmi import exceptions as pyghmi_errors
from pyghmi.ipmi import command

from shared.power.bmcmap import Bmc
from shared.power.errors import PowerError

DEFAULT_PORT = 623

# pyghmi keeps its sessions process-wide and hangs when a second Command for the same BMC and
# user is made while the first lives: one Command per BMC per process, used under its own lock.
_sessions: dict[tuple[str, int, str | None, str | None], command.Command] = {}
_locks: dict[tuple[str, int, str | None, str | None], threading.Lock] = {}
_registry = threading.Lock()


def _address(bmc: Bmc) -> tuple[str, int]:
    host, _, port = bmc.address.rpartition(":") if ":" in bmc.address else (bmc.address, "", "")
    if not port:
        return bmc.address, DEFAULT_PORT
    try:
        return host.strip("[]"), int(port)
    except ValueError as exc:
        raise PowerError(f"IPMI address {bmc.address!r} is not host or host:port") from exc


class IpmiDriver:
    name = "ipmi"

    def __init__(self, timeout: float):
        self.timeout = timeout

    def _run(self, bmc: Bmc, call):
        """pyghmi retries on its own for about 5 s whatever it is asked; the caller gets an
        answer or an error within ``timeout`` (the call itself ends in its own thread)."""
        host, port = _address(bmc)
        done: Future = Future()
        worker = threading.Thread(
            target=self._call,
            args=(bmc, host, port, call, done),
            name=f"ipmi-{bmc.host}",
            daemon=True,
        )
        worker.start()
        try:
            return done.result(timeout=self.timeout)
        except FutureTimeout:
            raise PowerError(
                f"IPMI {bmc.describe()}: no answer within {self.timeout:g} s"
            ) from None

    def _call(self, bmc: Bmc, host: str, port: int, call, done: Future) -> None:
        key = (host, port, bmc.username, bmc.password)
        with _registry:
            lock = _locks.setdefault(key, threading.Lock())
        with lock:
            try:
                session = _sessions.get(key)
                if session is None or session.ipmi_session.broken:
                    session = _sessions[key] = command.Command(
                        host, bmc.username or "", bmc.password or "", port=port
                    )
                done.set_result(call(session))
            except (pyghmi_errors.PyghmiException, OSError) as exc:
                _sessions.pop(key, None)
                reason = str(exc) if str(exc) not in ("", "None") else "no answer"
                done.set_exception(PowerError(f"IPMI {bmc.describe()}: {reason}"))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                done.set_exception(exc)

    def power_state(self, bmc: Bmc) -> str:
        reply = self._run(bmc, lambda s: s.get_power())
        state = reply.get("powerstate") if isinstance(reply, dict) else None
        if state not in ("on", "off"):
            raise PowerError(f"IPMI {bmc.describe()} answered no power state: {reply!r}")
        return state

    def force_off(self, bmc: Bmc) -> None:
        self._run(bmc, lambda s: s.set_power("off", wait=self.timeout))
