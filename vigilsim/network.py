"""Per-network TCP listeners (filled in later)."""

from __future__ import annotations


class Listeners:
    def __init__(self, model):
        self.model = model

    def host_changed(self, host):
        pass

    def address(self, host, net):
        return ("127.0.0.1", 0)

    def close(self):
        pass

    def handle_consul(self, req):
        from vigilsim.http import Response
        return Response.json(404, {})
