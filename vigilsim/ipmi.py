"""IPMI 2.0 BMCs for the region's hosts: one UDP port per host on loopback, served by pyghmi.

pyghmi's ``Bmc`` server class does the RMCP+ session work; each BMC asks the region's control
API for its host's power (``bmc_power``), so IPMI and Redfish share one power model. The BMCs
run in a child process: pyghmi keeps its sessions process-wide, and a client and a server in
one process confuse each other's session tables.
"""

from __future__ import annotations

import json
import subprocess
import sys

import requests
from pyghmi.ipmi import bmc as pyghmi_bmc
from pyghmi.ipmi.private import serversession

OPEN_SESSION_PAYLOAD = 16  # RMCP+ Open Session Request
RAKP_HMAC_SHA1 = 1
NO_MATCHING_CIPHER_SUITE = 0x11


class _Sha1Session(serversession.ServerSession):
    """pyghmi's server speaks only cipher suite 3 (HMAC-SHA1) but answers any proposal as if it
    were that; a client proposing SHA-256 first is told no suite matches, so it retries with
    SHA-1 as a real BMC without SHA-256 would make it."""

    def create_open_session_response(self, request):
        if request[12] != RAKP_HMAC_SHA1:
            self.clientsessionid = request[4:8]
            return bytearray([request[0], NO_MATCHING_CIPHER_SUITE, 0, 0]) + self.clientsessionid
        return super().create_open_session_response(request)


class HostBmc(pyghmi_bmc.Bmc):
    def __init__(self, host: str, username: str, password: str, control_url: str):
        super().__init__({username: password}, port=0, address="127.0.0.1")
        self.host = host
        self.control_url = control_url
        self.port = self.serversocket.getsockname()[1]

    def sessionless_data(self, data, sockaddr):
        raw = bytearray(data)
        if len(raw) >= 22 and raw[:1] == b"\x06" and raw[4] == 6 and raw[5] == OPEN_SESSION_PAYLOAD:
            _Sha1Session(
                self.authdata, self.kg, sockaddr, self.serversocket, raw[16:], self.uuid, bmc=self
            )
            return
        super().sessionless_data(data, sockaddr)

    def _power(self, action: str) -> str:
        reply = requests.post(
            f"{self.control_url}/bmc_power", json={"host": self.host, "action": action}, timeout=5
        )
        reply.raise_for_status()  # an error answers the client with a failed completion code
        return reply.json()["result"]

    def get_power_state(self):
        return self._power("status")

    def power_off(self):
        self._power("off")

    def power_shutdown(self):
        self._power("off")

    def power_on(self):
        self._power("on")

    def power_cycle(self):
        self._power("off")
        self._power("on")

    def power_reset(self):
        self.power_cycle()


def start(control_url: str, logins: dict[str, tuple[str, str]]) -> tuple[subprocess.Popen, dict]:
    """Start the BMC process; returns it and each host's ``127.0.0.1:<port>``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vigilsim.ipmi", control_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(logins) + "\n")
    process.stdin.close()
    line = process.stdout.readline()
    if not line:
        process.wait(5)
        raise RuntimeError(f"the IPMI responder exited at start (status {process.returncode})")
    ports = json.loads(line)
    return process, {host: f"127.0.0.1:{port}" for host, port in ports.items()}


def main() -> None:
    control_url = sys.argv[1]
    logins = json.loads(sys.stdin.readline())
    bmcs = [HostBmc(host, user, password, control_url) for host, (user, password) in logins.items()]
    print(json.dumps({b.host: b.port for b in bmcs}), flush=True)
    pyghmi_bmc.Bmc.listen(timeout=1)


if __name__ == "__main__":
    main()
