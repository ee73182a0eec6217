"""Placement: one resource provider per compute node, with the inventories and usages Nova's
resource tracker would report (read-only; the region's scheduler keeps its own books).

A host's ``capacity`` (the region's ``host_capacity``) is its schedulable vCPUs. Inventories
carry allocation ratios as Nova's defaults do: VCPU at 1.0 here (the capacity is already what
may be placed), MEMORY_MB with a 2.0 ratio over half the memory, DISK_GB at 1.0; so a client
that ignores ``allocation_ratio`` sees half the memory there really is.
"""

from __future__ import annotations

from vigilsim.http import Request, Response
from vigilsim.model import FLAVORS, Host, Model

MAX_VERSION = "1.39"
MEMORY_MB_PER_VCPU = 2048
DISK_GB_PER_VCPU = 20
MEMORY_RATIO = 2.0


def _error(status: int, title: str, detail: str) -> Response:
    return Response.json(
        status,
        {
            "errors": [
                {"status": status, "title": title, "detail": detail, "code": "placement.undefined"}
            ]
        },
    )


class Placement:
    def __init__(self, model: Model, base: str, hypervisor_suffix: str = ""):
        self.model = model
        self.base = base
        self.suffix = hypervisor_suffix

    def handle(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p]
        if not parts and req.method == "GET":
            return Response.json(
                200,
                {
                    "versions": [
                        {
                            "id": "v1.0",
                            "min_version": "1.0",
                            "max_version": MAX_VERSION,
                            "status": "CURRENT",
                            "links": [{"rel": "self", "href": ""}],
                        }
                    ]
                },
            )
        if self.model.token(req.header("x-auth-token")) is None:
            return _error(401, "Unauthorized", "The request you have made requires authentication.")
        if req.method != "GET" or parts[:1] != ["resource_providers"] or len(parts) > 3:
            return _error(404, "Not Found", f"The resource could not be found: {req.path}")
        with self.model.lock:
            if len(parts) == 1:
                return self._providers(req.arg("name"))
            host = self._host(parts[1])
            if host is None:
                return _error(404, "Not Found", f"No resource provider with uuid {parts[1]} found")
            if len(parts) == 2:
                return Response.json(200, self._provider(host))
            if parts[2] == "inventories":
                return Response.json(
                    200, {"resource_provider_generation": 1, "inventories": self._inventory(host)}
                )
            if parts[2] == "usages":
                return Response.json(
                    200, {"resource_provider_generation": 1, "usages": self._usages(host)}
                )
        return _error(404, "Not Found", f"The resource could not be found: {req.path}")

    def _host(self, provider_uuid: str) -> Host | None:
        for host in self.model.hosts.values():
            if host.hypervisor_uuid == provider_uuid:
                return host
        return None

    def _provider(self, host: Host) -> dict:
        href = f"{self.base}/resource_providers/{host.hypervisor_uuid}"
        return {
            "uuid": host.hypervisor_uuid,
            "name": host.name + self.suffix,
            "generation": 1,
            "parent_provider_uuid": None,
            "root_provider_uuid": host.hypervisor_uuid,
            "links": [
                {"rel": "self", "href": href},
                {"rel": "inventories", "href": f"{href}/inventories"},
                {"rel": "usages", "href": f"{href}/usages"},
            ],
        }

    def _providers(self, name: str | None) -> Response:
        found = [
            self._provider(h)
            for h in self.model.hosts.values()
            if name is None or h.name + self.suffix == name
        ]
        return Response.json(200, {"resource_providers": found})

    @staticmethod
    def _inventory(host: Host) -> dict:
        def entry(total: int, ratio: float) -> dict:
            return {
                "total": total,
                "reserved": 0,
                "min_unit": 1,
                "max_unit": total,
                "step_size": 1,
                "allocation_ratio": ratio,
            }

        return {
            "VCPU": entry(host.capacity, 1.0),
            "MEMORY_MB": entry(
                int(host.capacity * MEMORY_MB_PER_VCPU / MEMORY_RATIO), MEMORY_RATIO
            ),
            "DISK_GB": entry(host.capacity * DISK_GB_PER_VCPU, 1.0),
        }

    def _usages(self, host: Host) -> dict:
        usages = {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
        for server in self.model.servers_on(host.name):
            flavor = FLAVORS[server.flavor]
            usages["VCPU"] += flavor["vcpus"]
            usages["MEMORY_MB"] += flavor["ram"]
            usages["DISK_GB"] += flavor["disk"]
        return usages
