"""Redfish: the power state of each host, and power actions, for fencing (DMTF ComputerSystem)."""

from __future__ import annotations

import base64

from vigilsim.http import Request, Response
from vigilsim.model import Model


def _error(status: int, code: str, message: str) -> Response:
    return Response.json(
        status,
        {
            "error": {
                "code": f"Base.1.8.{code}",
                "message": message,
                "@Message.ExtendedInfo": [{"MessageId": f"Base.1.8.{code}", "Message": message}],
            }
        },
    )


class Redfish:
    def __init__(self, model: Model):
        self.model = model
        # Per-host BMC login (``Region.set_bmc_credentials``); a host without one is open.
        self.credentials: dict[str, tuple[str, str]] = {}

    def _authorized(self, req: Request, name: str) -> bool:
        wanted = self.credentials.get(name)
        if wanted is None:
            return True
        scheme, _, token = (req.header("authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(token).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return (user, password) == wanted

    def handle(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p]
        if parts[:1] != ["v1"]:
            return _error(
                404, "ResourceMissingAtURI", f"The resource at the URI {req.path} was not found."
            )
        if parts == ["v1"]:
            return Response.json(
                200,
                {
                    "@odata.id": "/redfish/v1",
                    "Id": "RootService",
                    "RedfishVersion": "1.11.0",
                    "Systems": {"@odata.id": "/redfish/v1/Systems"},
                },
            )
        if parts == ["v1", "Systems"]:
            members = [{"@odata.id": f"/redfish/v1/Systems/{h}"} for h in self.model.hosts]
            return Response.json(
                200,
                {
                    "@odata.id": "/redfish/v1/Systems",
                    "Members": members,
                    "Members@odata.count": len(members),
                },
            )
        if len(parts) < 3 or parts[1] != "Systems" or parts[2] not in self.model.hosts:
            return _error(
                404, "ResourceMissingAtURI", f"The resource at the URI {req.path} was not found."
            )
        name = parts[2]
        if not self._authorized(req, name):
            return _error(401, "NoValidSession", "There is no valid session established.")
        if len(parts) == 3 and req.method == "GET":
            host = self.model.hosts[name]
            return Response.json(
                200,
                {
                    "@odata.id": f"/redfish/v1/Systems/{name}",
                    "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
                    "Id": name,
                    "Name": name,
                    "HostName": name,
                    "PowerState": "On" if host.powered else "Off",
                    "Status": {"State": "Enabled", "Health": "OK"},
                    "Actions": {
                        "#ComputerSystem.Reset": {
                            "target": f"/redfish/v1/Systems/{name}/Actions/ComputerSystem.Reset",
                            "ResetType@Redfish.AllowableValues": [
                                "On",
                                "ForceOff",
                                "GracefulShutdown",
                                "ForceRestart",
                            ],
                        }
                    },
                },
            )
        if parts[3:] == ["Actions", "ComputerSystem.Reset"] and req.method == "POST":
            try:
                reset = (req.json() or {}).get("ResetType")
            except (ValueError, AttributeError):
                reset = None
            if reset in ("ForceOff", "GracefulShutdown", "PushPowerButton"):
                self.power(name, False)
            elif reset == "On":
                self.power(name, True)
            elif reset in ("ForceRestart", "GracefulRestart"):
                self.power(name, False)
                self.power(name, True)
            else:
                return _error(
                    400,
                    "ActionParameterValueNotInList",
                    f"The value {reset!r} for the parameter ResetType is not in the list of acceptable values.",
                )
            return Response(204)
        return _error(
            405, "OperationNotAllowed", "The HTTP method is not allowed for this resource."
        )

    def power(self, name: str, on: bool) -> None:
        """``name`` is a known host: the route answered 404 for any other."""
        (self.model.power_on if on else self.model.power_off)(name)
        if self.on_power:
            self.on_power(name)

    on_power = None
