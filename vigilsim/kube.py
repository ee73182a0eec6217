"""Kubernetes API subset (filled in by slice 2)."""

from __future__ import annotations

from vigilsim.http import Request, Response


def status_object(code: int, reason: str, message: str) -> Response:
    return Response.json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": message, "reason": reason, "code": code})


class Kubernetes:
    def __init__(self, model, region):
        self.model = model
        self.region = region

    def handle(self, req: Request) -> Response:
        return status_object(404, "NotFound", "the server could not find the requested resource")

    def node_summary(self, host):
        return {}

    def add_taint(self, host, taint):
        pass
