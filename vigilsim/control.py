"""The failure-control API over HTTP: ``POST /control/<operation>`` with the Python API's arguments.

The same operations as ``Region``'s methods, so the CLI (and anything outside the test process)
can break a region that another process started.
"""

from __future__ import annotations

import inspect

from vigilsim.http import Request, Response
from vigilsim.model import CloudError

OPERATIONS = (
    "power_off",
    "power_on",
    "power_state",
    "bmc_power",
    "set_bmc_credentials",
    "start_ipmi",
    "stop_service",
    "start_service",
    "cut_network",
    "restore_network",
    "set_api_down",
    "inject_faults",
    "taint_out_of_service",
    "crash_server",
    "boot_server",
    "add_host",
    "set_reserved",
    "add_aggregate",
    "network_address",
    "server",
    "servers",
    "service",
    "node",
    "evacuation_count",
)


def _error(status: int, message: str) -> Response:
    return Response.json(status, {"error": {"code": status, "message": message}})


class Control:
    def __init__(self, region):
        self.region = region

    def handle(self, req: Request) -> Response:
        name = req.path.strip("/")
        if name in ("", "state") and req.method == "GET":
            return Response.json(200, self.state())
        if name not in OPERATIONS:
            return _error(404, f"unknown operation {name!r}; known: {', '.join(OPERATIONS)}")
        if req.method != "POST":
            return _error(405, "use POST with a JSON object of arguments")
        try:
            kwargs = req.json() or {}
        except ValueError:
            return _error(400, "the body is not JSON")
        if not isinstance(kwargs, dict):
            return _error(400, "the body must be a JSON object of arguments")
        method = getattr(self.region, name)
        try:
            inspect.signature(method).bind(**kwargs)
        except TypeError as exc:
            return _error(400, f"{name}: {exc}")
        try:
            result = method(**kwargs)
        except CloudError as exc:
            return _error(exc.status, exc.message)
        return Response.json(200, {"result": result})

    def state(self) -> dict:
        region = self.region
        return {
            "clouds_yaml": region.clouds_yaml,
            "kubeconfig": region.kubeconfig,
            "cloud": region.cloud_name,
            "keystone_url": region.keystone_url,
            "nova_url": region.nova_url,
            "kubernetes_url": region.kubernetes_url,
            "redfish_url_template": region.redfish_url_template,
            "now": region.now().isoformat(),
            "time_scale": region.config.time_scale,
            "hosts": len(region.model.hosts),
            "servers": len(region.model.servers),
            "faults": {api: vars(f) for api, f in region.faults.items()},
        }
