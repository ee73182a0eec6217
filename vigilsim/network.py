"""Per-network reachability: a real TCP listener per host and network, on its own loopback address.

A listener answers (a one-line HTTP reply) while its host is powered and that network is not cut;
otherwise its socket is closed and connections are refused. All listeners share one selector
thread. Large regions create listeners on first ``address()`` so 5,000 hosts cost no sockets.

The same reachability is also offered as Consul's ``GET /v1/agent/members`` per network (the API
Masakari's consul host monitor reads), under ``/consul/<network>``.
"""

from __future__ import annotations

import json
import selectors
import socket
import threading

from vigilsim.http import Request, Response
from vigilsim.model import NETWORKS, Model

EAGER_LIMIT = 300  # hosts; above this, listeners open on first use


class Listeners:
    def __init__(self, model: Model):
        self.model = model
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._ports: dict[tuple[str, str], int] = {}  # (host, net) → port, kept across cut/restore
        self._open: dict[tuple[str, str], socket.socket] = {}
        self._closed = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._serve, name="vigilsim-networks", daemon=True)
        self._thread.start()

    def ip(self, host: str, net: str) -> str:
        number = self.model.hosts[host].number
        return f"127.{10 + NETWORKS.index(net)}.{number // 250}.{number % 250 + 1}"

    def open_all(self) -> None:
        if len(self.model.hosts) <= EAGER_LIMIT:
            for host in list(self.model.hosts):
                for net in NETWORKS:
                    self.address(host, net)

    def address(self, host: str, net: str) -> tuple[str, int]:
        with self._lock:
            key = (host, net)
            if key not in self._ports:
                sock = self._bind(host, net, 0)
                self._ports[key] = sock.getsockname()[1]
                sock.close()
            self._reconcile(host, net)
            return self.ip(host, net), self._ports[key]

    def _bind(self, host: str, net: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.ip(host, net), port))
        return sock

    def reachable(self, host: str, net: str) -> bool:
        h = self.model.hosts[host]
        return h.powered and net not in h.networks_cut

    def host_changed(self, host: str) -> None:
        with self._lock:
            for net in NETWORKS:
                if (host, net) in self._ports:
                    self._reconcile(host, net)

    def _reconcile(self, host: str, net: str) -> None:
        key = (host, net)
        want = self.reachable(host, net) and not self._closed
        sock = self._open.get(key)
        if want and sock is None:
            sock = self._bind(host, net, self._ports[key])
            sock.listen(64)
            sock.setblocking(False)
            self._open[key] = sock
            self._sel.register(sock, selectors.EVENT_READ, key)
            self._wake_w.send(b"x")
        elif not want and sock is not None:
            self._sel.unregister(sock)
            sock.close()
            del self._open[key]

    def _serve(self) -> None:
        while not self._closed:
            try:
                events = self._sel.select(timeout=0.5)
            except (OSError, ValueError):
                continue
            for selected, _ in events:
                if selected.data is None:
                    try:
                        self._wake_r.recv(4096)
                    except BlockingIOError:
                        pass
                    continue
                host, net = selected.data
                try:
                    conn, _ = selected.fileobj.accept()
                except OSError:
                    continue
                body = json.dumps({"host": host, "network": net, "status": "up"}).encode()
                try:
                    conn.setblocking(True)
                    conn.settimeout(1)
                    conn.sendall(
                        b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                        b"Connection: close\r\n\r\n%s" % (len(body), body)
                    )
                except OSError:
                    pass
                finally:
                    conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for key in list(self._open):
                self._reconcile(*key)
            self._wake_w.send(b"x")
        self._thread.join(timeout=2)
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()

    def handle_consul(self, req: Request) -> Response:
        """``GET /consul/<network>/v1/agent/members``: Status 1 (alive) or 4 (failed) per host."""
        parts = [p for p in req.path.split("/") if p]
        if len(parts) != 4 or parts[0] not in NETWORKS or parts[1:] != ["v1", "agent", "members"]:
            return Response(404, b"404 page not found\n", {"Content-Type": "text/plain"})
        net = parts[0]
        with self.model.lock:
            members = [
                {
                    "Name": name,
                    "Addr": self.ip(name, net),
                    "Port": 8301,
                    "Tags": {"role": "node"},
                    "Status": 1 if self.reachable(name, net) else 4,
                }
                for name in self.model.hosts
            ]
        return Response.json(200, members)
