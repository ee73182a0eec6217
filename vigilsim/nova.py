"""Nova v2.1: the compute API subset Masakari and Vigil use, with Nova's microversion rules.

Request validation answers with Nova's fault body (``{"badRequest": {"code": 400, "message": ...}}``
and friends) and the status real Nova gives; nothing here may answer 500.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

from vigilsim.clock import iso
from vigilsim.http import Request, Response
from vigilsim.model import FLAVOR_BY_ID, FLAVORS, CloudError, Host, Model, Server, Token

MIN_VERSION = (2, 1)
MAX_LIMIT = 1000  # osapi_max_limit
_FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}
_STATUS = {
    "active": "ACTIVE",
    "stopped": "SHUTOFF",
    "error": "ERROR",
    "building": "BUILD",
    "paused": "PAUSED",
    "suspended": "SUSPENDED",
    "shelved_offloaded": "SHELVED_OFFLOADED",
    "rescued": "RESCUE",
    "resized": "VERIFY_RESIZE",
    "soft-delete": "SOFT_DELETED",
}
_TASK_STATUS = {"rebuilding": "REBUILD", "migrating": "MIGRATING", "rebuild_spawning": "REBUILD"}
_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")
_TRUE = {"1", "t", "true", "on", "y", "yes"}


def fault(status: int, message: str, version: tuple | None = None) -> Response:
    name = _FAULT_NAMES.get(status, "computeFault")
    response = Response.json(status, {name: {"code": status, "message": message}})
    if version is not None:
        _version_headers(response, version)
    return response


def _vstr(version: tuple) -> str:
    return f"{version[0]}.{version[1]}"


def _version_headers(response: Response, version: tuple) -> None:
    response.headers["OpenStack-API-Version"] = f"compute {_vstr(version)}"
    response.headers["X-OpenStack-Nova-API-Version"] = _vstr(version)
    response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"


class NovaFault(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _body(req: Request) -> dict:
    try:
        body = req.json()
    except ValueError:
        raise NovaFault(400, "Malformed request body") from None
    if not isinstance(body, dict):
        raise NovaFault(400, "The request body is invalid: not a JSON object")
    return body


_BOOL_STRINGS = {
    "true": True,
    "1": True,
    "on": True,
    "yes": True,
    "y": True,
    "t": True,
    "false": False,
    "0": False,
    "off": False,
    "no": False,
    "n": False,
    "f": False,
}


def _bool(value, field: str) -> bool:
    """Nova's parameter_types.boolean: JSON booleans or the usual true/false spellings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _BOOL_STRINGS:
        return _BOOL_STRINGS[value.lower()]
    raise NovaFault(
        400,
        f"Invalid input for field/attribute {field}. Value: {value}. "
        f"{value!r} is not of type 'boolean'",
    )


class Nova:
    def __init__(
        self,
        model: Model,
        base_url: str,
        max_version: str,
        rpc_timeout,
        hypervisor_domain: str | None = None,
    ):
        self.model = model
        self.base = base_url  # .../compute
        major, minor = max_version.split(".")
        self.max_version = (int(major), int(minor))
        self.rpc_timeout = rpc_timeout
        # libvirt reports the node's FQDN as hypervisor_hostname while the service host stays short.
        self.hypervisor_suffix = f".{hypervisor_domain}" if hypervisor_domain else ""
        self._host_ids: dict[tuple[str, str], str] = {}

    # ---- entry ---------------------------------------------------------------------------------

    def _versions(self) -> list:
        return [
            {
                "id": "v2.0",
                "status": "SUPPORTED",
                "version": "",
                "min_version": "",
                "updated": "2011-01-21T11:33:21Z",
                "links": [{"rel": "self", "href": f"{self.base}/v2/"}],
            },
            self._v21(),
        ]

    def _v21(self) -> dict:
        return {
            "id": "v2.1",
            "status": "CURRENT",
            "version": _vstr(self.max_version),
            "min_version": "2.1",
            "updated": "2013-07-23T11:33:21Z",
            "links": [
                {"rel": "self", "href": f"{self.base}/v2.1/"},
                {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
            ],
            "media-types": [
                {
                    "base": "application/json",
                    "type": "application/vnd.openstack.compute+json;version=2.1",
                }
            ],
        }

    def _microversion(self, req: Request) -> tuple:
        """Nova's negotiation: OpenStack-API-Version first, then the legacy header; absent → 2.1."""
        requested = None
        header = req.header("openstack-api-version")
        if header:
            for item in header.split(","):
                parts = item.strip().split()
                if len(parts) == 2 and parts[0].lower() == "compute":
                    requested = parts[1]
        if requested is None:
            requested = req.header("x-openstack-nova-api-version")
        if requested is None:
            return MIN_VERSION
        requested = requested.strip()
        if requested.lower() == "latest":
            return self.max_version
        match = _VERSION_RE.match(requested)
        if not match:
            raise NovaFault(
                400,
                f"API Version String {requested} is of invalid format. Must be of format "
                "MajorNum.MinorNum.",
            )
        version = (int(match.group(1)), int(match.group(2)))
        if not MIN_VERSION <= version <= self.max_version:
            raise NovaFault(
                406,
                f"Version {requested} is not supported by the API. Minimum is 2.1 and "
                f"maximum is {_vstr(self.max_version)}.",
            )
        return version

    def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        if path == "":
            return Response.json(200, {"versions": self._versions()})
        if path in ("/v2", "/v2.1"):
            return Response.json(200, {"version": self._v21()})
        if not path.startswith("/v2.1/") and not path.startswith("/v2/"):
            return fault(404, "The resource could not be found.")
        try:
            version = self._microversion(req)
        except NovaFault as exc:
            return fault(exc.status, exc.message)
        token = self.model.token(req.header("x-auth-token"))
        if token is None:
            return Response.json(
                401,
                {
                    "error": {
                        "code": 401,
                        "title": "Unauthorized",
                        "message": "The request you have made requires authentication.",
                    }
                },
            )
        parts = path.split("/")[2:]
        if parts and parts[0] in {p["id"] for p in self.model.projects.values()}:
            parts = parts[1:]  # the legacy /v2.1/{project_id}/... form
        try:
            response = self._route(req, parts, version, token)
        except NovaFault as exc:
            response = fault(exc.status, exc.message)
        except CloudError as exc:
            response = fault(exc.status, exc.message)
        _version_headers(response, version)
        return response

    def _route(self, req: Request, parts: list, v: tuple, token: Token) -> Response:
        m = req.method
        n = len(parts)
        head = parts[0] if parts else ""
        if head == "servers":
            if n == 1 and m == "GET":
                return self.list_servers(req, v, token, detail=False)
            if n == 1 and m == "POST":
                return self.create_server(req, v, token)
            if n == 2 and parts[1] == "detail" and m == "GET":
                return self.list_servers(req, v, token, detail=True)
            if n == 2 and m == "GET":
                return Response.json(
                    200, {"server": self.server_view(self._server(parts[1], token), v, token)}
                )
            if n == 2 and m == "DELETE":
                self._server(parts[1], token)
                self.model.delete_server(parts[1])
                return Response(204)
            if n == 3 and parts[2] == "action" and m == "POST":
                return self.action(req, parts[1], v, token)
            if n == 3 and parts[2] == "metadata" and m == "GET":
                return Response.json(
                    200, {"metadata": dict(self._server(parts[1], token).metadata)}
                )
            if n == 3 and parts[2] == "metadata" and m in ("POST", "PUT"):
                return self.set_metadata(req, parts[1], token, replace=m == "PUT")
        elif head == "os-services":
            self._admin(
                token,
                "os_compute_api:os-services:list"
                if m == "GET"
                else "os_compute_api:os-services:update",
            )
            if n == 1 and m == "GET":
                return self.list_services(req, v)
            if n == 2 and m == "PUT":
                return self.update_service(req, parts[1], v)
        elif head == "os-hypervisors":
            self._admin(token, "os_compute_api:os-hypervisors:list")
            if m == "GET":
                return self.hypervisors(req, parts[1:], v)
        elif head == "flavors" and m == "GET":
            return self.flavors(parts[1:], v)
        elif head == "os-aggregates":
            self._admin(token, "os_compute_api:os-aggregates:index")
            return self.aggregates(req, parts[1:], v)
        elif head == "os-migrations" and n == 1 and m == "GET":
            self._admin(token, "os_compute_api:os-migrations:index")
            return self.migrations(req, v)
        elif head in ("limits",) and m == "GET":
            return Response.json(200, {"limits": {"rate": [], "absolute": {}}})
        if head in (
            "servers",
            "os-services",
            "os-hypervisors",
            "flavors",
            "os-aggregates",
            "os-migrations",
        ):
            raise NovaFault(405, "The method specified is not allowed for this resource.")
        raise NovaFault(404, "The resource could not be found.")

    # ---- helpers -------------------------------------------------------------------------------

    def _admin(self, token: Token, rule: str) -> None:
        if not token.admin:
            raise NovaFault(403, f"Policy doesn't allow {rule} to be performed.")

    def _server(self, server_id: str, token: Token) -> Server:
        server = self.model.servers.get(server_id)
        if server is None or (not token.admin and server.project_id != token.project["id"]):
            raise NovaFault(404, f"Instance {server_id} could not be found.")
        return server

    def _link(self, kind: str, ident) -> list:
        return [
            {"rel": "self", "href": f"{self.base}/v2.1/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{self.base}/{kind}/{ident}"},
        ]

    def _host_id(self, project_id: str, host: str) -> str:
        """Nova's hostId: an opaque per-project hash of the host name (memoised: it is hot)."""
        key = (project_id, host)
        value = self._host_ids.get(key)
        if value is None:
            value = self._host_ids[key] = hashlib.sha224((project_id + host).encode()).hexdigest()
        return value

    def _host_status(self, host: Host) -> str:
        if self.model.service_up(host):
            return "MAINTENANCE" if host.status == "disabled" else "UP"
        return "DOWN"

    # ---- servers -------------------------------------------------------------------------------

    def server_view(self, s: Server, v: tuple, token: Token) -> dict:
        model = self.model
        stamp = model.clock.stamp
        flavor = FLAVORS[s.flavor]
        status = _STATUS.get(s.vm_state, s.vm_state.upper())
        if s.task_state in _TASK_STATUS and s.vm_state in ("active", "stopped"):
            status = _TASK_STATUS[s.task_state]
        view = {
            "id": s.id,
            "name": s.name,
            "status": status,
            "tenant_id": s.project_id,
            "user_id": s.user_id,
            "metadata": dict(s.metadata),
            "hostId": self._host_id(s.project_id, s.host),
            "image": {
                "id": s.image_id,
                "links": [{"rel": "bookmark", "href": f"{self.base}/images/{s.image_id}"}],
            },
            "created": stamp(s.created),
            "updated": stamp(s.updated),
            "addresses": {},
            "accessIPv4": "",
            "accessIPv6": "",
            "links": self._link("servers", s.id),
            "OS-DCF:diskConfig": "MANUAL",
            "progress": 0,
            "OS-EXT-AZ:availability_zone": "nova",
            "config_drive": "",
            "key_name": None,
            "OS-SRV-USG:launched_at": stamp(s.launched)[:-1] + ".000000",
            "OS-SRV-USG:terminated_at": None,
            "OS-EXT-STS:task_state": s.task_state,
            "OS-EXT-STS:vm_state": s.vm_state,
            "OS-EXT-STS:power_state": s.power_state,
            "os-extended-volumes:volumes_attached": [],
            "security_groups": [{"name": "default"}],
        }
        if v >= (2, 47):
            view["flavor"] = {
                "vcpus": flavor["vcpus"],
                "ram": flavor["ram"],
                "disk": flavor["disk"],
                "ephemeral": 0,
                "swap": 0,
                "original_name": s.flavor,
                "extra_specs": {},
            }
        else:
            view["flavor"] = {
                "id": flavor["id"],
                "links": [{"rel": "bookmark", "href": f"{self.base}/flavors/{flavor['id']}"}],
            }
        if token.admin:
            view["OS-EXT-SRV-ATTR:host"] = s.host
            view["OS-EXT-SRV-ATTR:hypervisor_hostname"] = (
                s.host + self.hypervisor_suffix if s.host else s.host
            )
            view["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{s.instance_number:08x}"
            if v >= (2, 3):
                view.update(
                    {
                        "OS-EXT-SRV-ATTR:hostname": s.name,
                        "OS-EXT-SRV-ATTR:reservation_id": f"r-{s.id[:8]}",
                        "OS-EXT-SRV-ATTR:launch_index": 0,
                        "OS-EXT-SRV-ATTR:kernel_id": "",
                        "OS-EXT-SRV-ATTR:ramdisk_id": "",
                        "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                        "OS-EXT-SRV-ATTR:user_data": None,
                    }
                )
        if v >= (2, 9):
            view["locked"] = s.locked
        if v >= (2, 73):
            view["locked_reason"] = s.locked_reason
        if v >= (2, 16):
            view["host_status"] = self._host_status(model.hosts[s.host])
        if v >= (2, 19):
            view["description"] = s.description
        if v >= (2, 26):
            view["tags"] = []
        if v >= (2, 63):
            view["trusted_image_certificates"] = None
        if v >= (2, 71):
            view["server_groups"] = []
        if v >= (2, 96):
            view["pinned_availability_zone"] = None
        return view

    def list_servers(self, req: Request, v: tuple, token: Token, detail: bool) -> Response:
        limit = req.arg("limit")
        if limit is not None:
            try:
                limit = int(limit)
            except ValueError:
                raise NovaFault(400, "limit param must be an integer") from None
            if limit < 0:
                raise NovaFault(400, "limit param must be positive")
        limit = MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)
        all_tenants = req.arg("all_tenants")
        all_projects = False
        if all_tenants is not None:
            if not token.admin:
                kind = "detail" if detail else "index"
                raise NovaFault(
                    403,
                    f"Policy doesn't allow os_compute_api:servers:{kind}:get_all_tenants "
                    "to be performed.",
                )
            all_projects = all_tenants == "" or all_tenants.lower() in _TRUE
        project = req.arg("project_id") or req.arg("tenant_id")
        if not token.admin or (not all_projects and project is None):
            project = token.project["id"]
        host = req.arg("host") if token.admin else None
        if token.admin and req.arg("node"):
            host = req.arg("node") if host is None or host == req.arg("node") else "\0"
        filters = []
        status = req.arg("status")
        if status:
            filters.append(lambda s: self._status_of(s) == status.upper())
        name = req.arg("name")
        if name:
            try:
                pattern = re.compile(name)
            except re.error:
                raise NovaFault(400, f"Invalid filter name regular expression {name!r}") from None
            filters.append(lambda s: pattern.search(s.name) is not None)
        since = req.arg("changes-since")
        if since is not None:
            threshold = self._changes_since(since)
            filters.append(lambda s: s.updated >= threshold)
        predicate = (lambda s: all(f(s) for f in filters)) if filters else None
        with self.model.lock:
            servers = self.model.list_servers(
                host=host,
                project_id=project,
                marker=req.arg("marker"),
                limit=limit,
                predicate=predicate,
            )
            if detail:
                items = [self.server_view(s, v, token) for s in servers]
            else:
                items = [
                    {"id": s.id, "name": s.name, "links": self._link("servers", s.id)}
                    for s in servers
                ]
        body = {"servers": items}
        if servers and len(servers) == limit:
            query = [(k, val) for k, vals in req.query.items() if k != "marker" for val in vals]
            query.append(("marker", servers[-1].id))
            suffix = "/detail" if detail else ""
            body["servers_links"] = [
                {"rel": "next", "href": f"{self.base}/v2.1/servers{suffix}?{urlencode(query)}"}
            ]
        return Response.json(200, body)

    def _changes_since(self, value: str) -> float:
        """Nova's ``changes-since``: servers whose ``updated`` is at or after an ISO 8601 time."""
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise NovaFault(400, "Invalid filter field: changes-since.") from None
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return self.model.clock.seconds_at(moment)

    def _status_of(self, s: Server) -> str:
        status = _STATUS.get(s.vm_state, s.vm_state.upper())
        if s.task_state in _TASK_STATUS and s.vm_state in ("active", "stopped"):
            status = _TASK_STATUS[s.task_state]
        return status

    def create_server(self, req: Request, v: tuple, token: Token) -> Response:
        body = _body(req).get("server")
        if not isinstance(body, dict):
            raise NovaFault(
                400,
                "Invalid input for field/attribute server. Value: None. None is not of type 'object'",
            )
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise NovaFault(400, "Invalid input for field/attribute name. Value: %r." % (name,))
        flavor_ref = body.get("flavorRef")
        if flavor_ref is None:
            raise NovaFault(
                400, "Invalid input for field/attribute server. 'flavorRef' is a required property"
            )
        flavor_ref = str(flavor_ref).rstrip("/").rsplit("/", 1)[-1]
        flavor = FLAVOR_BY_ID.get(flavor_ref) or (flavor_ref if flavor_ref in FLAVORS else None)
        if flavor is None:
            raise NovaFault(400, f"Flavor {flavor_ref} could not be found.")
        if v >= (2, 37) and "networks" not in body:
            raise NovaFault(
                400, "Invalid input for field/attribute server. 'networks' is a required property"
            )
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(x, str) for k, x in metadata.items()
        ):
            raise NovaFault(
                400, "Invalid input for field/attribute metadata. Value: %r." % (metadata,)
            )
        host = None
        zone = body.get("availability_zone")
        if isinstance(zone, str) and ":" in zone:
            host = zone.split(":")[1] or (zone.split(":")[2] if zone.count(":") > 1 else None)
        if body.get("host") is not None:
            if v < (2, 74):
                raise NovaFault(
                    400,
                    "Invalid input for field/attribute server. Additional properties are not "
                    "allowed ('host' was unexpected)",
                )
            host = body["host"]
        if host is not None:
            self._admin(token, "os_compute_api:servers:create:forced_host")
            if host not in self.model.hosts:
                raise NovaFault(400, f"Compute host {host} could not be found.")
        project = next(k for k, p in self.model.projects.items() if p["id"] == token.project["id"])
        user = token.user["name"]
        server = self.model.boot(host, name, metadata, flavor, project=project, user=user)
        self.model.get_server(server.id).image_id = str(body.get("imageRef") or "")
        return Response.json(
            202,
            {
                "server": {
                    "id": server.id,
                    "links": self._link("servers", server.id),
                    "OS-DCF:diskConfig": "MANUAL",
                    "security_groups": [{"name": "default"}],
                    "adminPass": uuid.uuid4().hex[:12],
                }
            },
            {"Location": f"{self.base}/v2.1/servers/{server.id}"},
        )

    def set_metadata(self, req: Request, server_id: str, token: Token, replace: bool) -> Response:
        server = self._server(server_id, token)
        metadata = _body(req).get("metadata")
        if not isinstance(metadata, dict):
            raise NovaFault(400, "Malformed request body")
        with self.model.lock:
            server.metadata = dict(metadata) if replace else {**server.metadata, **metadata}
            return Response.json(200, {"metadata": dict(server.metadata)})

    def action(self, req: Request, server_id: str, v: tuple, token: Token) -> Response:
        body = _body(req)
        if len(body) != 1:
            raise NovaFault(400, "Malformed request body")
        ((name, args),) = body.items()
        server = self._server(server_id, token)
        model = self.model
        if name == "evacuate":
            self._admin(token, "os_compute_api:os-evacuate")
            args = args if isinstance(args, dict) else {}
            target = args.get("host")
            if target is not None and not isinstance(target, str):
                raise NovaFault(400, "Invalid input for field/attribute host.")
            force = args.get("force", False)
            if "force" in args and not (2, 29) <= v < (2, 68):
                raise NovaFault(
                    400,
                    "Invalid input for field/attribute evacuate. Additional properties are not "
                    "allowed ('force' was unexpected)",
                )
            model.evacuate(server.id, target, v, force=_bool(force, "force"))
            if v < (2, 14):
                return Response.json(200, {"adminPass": uuid.uuid4().hex[:12]})
            return Response(200)
        if name == "os-stop":
            model.stop_server(server.id, token.admin)
            return Response(202)
        if name == "os-start":
            model.start_server(server.id, token.admin)
            return Response(202)
        if name == "lock":
            reason = args.get("locked_reason") if isinstance(args, dict) and v >= (2, 73) else None
            model.lock_server(server.id, True, reason)
            return Response(202)
        if name == "unlock":
            model.lock_server(server.id, False)
            return Response(202)
        if name == "os-resetState":
            self._admin(token, "os_compute_api:os-admin-actions:reset_state")
            state = args.get("state") if isinstance(args, dict) else None
            if state not in ("active", "error"):
                raise NovaFault(
                    400,
                    f"Invalid input for field/attribute state. Value: {state}. "
                    f"{state!r} is not one of ['active', 'error']",
                )
            model.reset_state(server.id, state)
            return Response(202)
        if name == "os-migrateLive":
            self._admin(token, "os_compute_api:os-migrate-server:migrate_live")
            if not isinstance(args, dict):
                raise NovaFault(400, "Invalid input for field/attribute os-migrateLive.")
            model.live_migrate(server.id, args.get("host"), token.admin)
            return Response(202)
        raise NovaFault(400, f"There is no such action: {name}")

    # ---- os-services ---------------------------------------------------------------------------

    def service_view(self, host: Host, v: tuple) -> dict:
        view = {
            "id": host.service_uuid if v >= (2, 53) else host.number,
            "binary": "nova-compute",
            "host": host.name,
            "zone": "nova",
            "status": host.status,
            "state": "up" if self.model.service_up(host) else "down",
            "updated_at": iso(self.model.clock.at(self.model.last_report(host)), micro=True).rstrip(
                "Z"
            ),
            "disabled_reason": host.disabled_reason,
        }
        if v >= (2, 11):
            view["forced_down"] = host.forced_down
        return view

    def list_services(self, req: Request, v: tuple) -> Response:
        binary = req.arg("binary")
        host = req.arg("host")
        with self.model.lock:
            if binary not in (None, "nova-compute"):
                return Response.json(200, {"services": []})
            hosts = (
                [self.model.hosts[host]]
                if host in self.model.hosts
                else ([] if host else list(self.model.hosts.values()))
            )
            return Response.json(200, {"services": [self.service_view(h, v) for h in hosts]})

    def update_service(self, req: Request, ident: str, v: tuple) -> Response:
        body = _body(req)
        model = self.model
        if v >= (2, 53):
            try:
                uuid.UUID(ident)
            except ValueError:
                raise NovaFault(400, f"Invalid uuid {ident}") from None
            host = next((h for h in model.hosts.values() if h.service_uuid == ident), None)
            if host is None:
                raise NovaFault(404, "Service not found.")
            unknown = set(body) - {"status", "disabled_reason", "forced_down"}
            if unknown:
                raise NovaFault(
                    400,
                    "Invalid input for field/attribute. Additional properties are not allowed "
                    f"({', '.join(sorted(unknown))} was unexpected)",
                )
            status = body.get("status")
            if status is not None and status not in ("enabled", "disabled"):
                raise NovaFault(400, f"Invalid input for field/attribute status. Value: {status}.")
            reason = body.get("disabled_reason")
            if reason is not None and (not isinstance(reason, str) or len(reason) > 255):
                raise NovaFault(400, "Invalid input for field/attribute disabled_reason.")
            if reason is not None and status != "disabled":
                raise NovaFault(
                    400, "Specifying 'disabled_reason' with status 'enabled' is invalid."
                )
            forced = _bool(body["forced_down"], "forced_down") if "forced_down" in body else None
            if status is None and forced is None:
                raise NovaFault(
                    400,
                    "At least one of 'status' or 'forced_down' must be specified in the "
                    "request body.",
                )
            self._apply(host, status, reason, forced)
            with model.lock:
                return Response.json(200, {"service": self.service_view(host, v)})
        action = ident
        if action not in ("enable", "disable", "disable-log-reason", "force-down") or (
            action == "force-down" and v < (2, 11)
        ):
            raise NovaFault(404, f"Unknown action {action}")
        name, binary = body.get("host"), body.get("binary")
        if not isinstance(name, str) or not isinstance(binary, str):
            raise NovaFault(
                400,
                "Invalid input for field/attribute. 'host' and 'binary' are required properties",
            )
        if binary != "nova-compute" or name not in model.hosts:
            raise NovaFault(404, f"Service {binary} on host {name} not found.")
        host = model.hosts[name]
        result = {"host": name, "binary": binary}
        if action == "force-down":
            if "forced_down" not in body:
                raise NovaFault(
                    400, "Invalid input for field/attribute. 'forced_down' is a required property"
                )
            forced = _bool(body["forced_down"], "forced_down")
            self._apply(host, None, None, forced)
            result["forced_down"] = forced
        elif action == "enable":
            self._apply(host, "enabled", None, None)
            result["status"] = "enabled"
        else:
            reason = body.get("disabled_reason")
            if action == "disable-log-reason" and (
                not isinstance(reason, str) or not reason.strip()
            ):
                raise NovaFault(400, "Invalid input for field/attribute disabled_reason.")
            self._apply(host, "disabled", reason, None)
            result["status"] = "disabled"
            if reason:
                result["disabled_reason"] = reason
        return Response.json(200, {"service": result})

    def _apply(self, host: Host, status, reason, forced) -> None:
        """Update the service; a status change of a dead-but-up compute waits out the RPC timeout."""
        with self.model.lock:
            self.model.set_service(host, status=status, reason=reason, forced_down=forced)
            hang = status is not None and self.model.rpc_hangs(host)
        if hang:
            time.sleep(self.model.clock.real_delay(self.rpc_timeout()))

    # ---- hypervisors, flavors, aggregates, migrations ------------------------------------------

    def hypervisor_view(
        self, host: Host, v: tuple, detail: bool, with_servers: bool = False
    ) -> dict:
        model = self.model
        view = {
            "id": host.hypervisor_uuid if v >= (2, 53) else host.number,
            "hypervisor_hostname": host.name + self.hypervisor_suffix,
            "state": "up" if model.service_up(host) else "down",
            "status": host.status,
        }
        if detail:
            view.update(
                {
                    "host_ip": f"192.168.{host.number // 250}.{host.number % 250 + 1}",
                    "hypervisor_type": "fake",
                    "hypervisor_version": 1000,
                    "service": {
                        "host": host.name,
                        "id": host.service_uuid if v >= (2, 53) else host.number,
                        "disabled_reason": host.disabled_reason,
                    },
                }
            )
            if v < (2, 88):
                used = host.used_vcpus
                view.update(
                    {
                        "vcpus": host.capacity,
                        "vcpus_used": used,
                        "memory_mb": host.capacity * 2048,
                        "memory_mb_used": used * 2048,
                        "local_gb": host.capacity * 20,
                        "local_gb_used": used * 20,
                        "free_ram_mb": (host.capacity - used) * 2048,
                        "free_disk_gb": (host.capacity - used) * 20,
                        "current_workload": 0,
                        "running_vms": model.server_count(host.name),
                        "disk_available_least": (host.capacity - used) * 20,
                        "cpu_info": "{}",
                    }
                )
            else:
                view["uptime"] = None
        if with_servers:
            view["servers"] = [
                {"uuid": s.id, "name": f"instance-{s.instance_number:08x}"}
                for s in model.servers_on(host.name)
            ]
        return view

    def hypervisors(self, req: Request, rest: list, v: tuple) -> Response:
        model = self.model
        with model.lock:
            hosts = list(model.hosts.values())
            if not rest or rest == ["detail"]:
                detail = bool(rest)
                pattern = req.arg("hypervisor_hostname_pattern") if v >= (2, 53) else None
                with_servers = v >= (2, 53) and (req.arg("with_servers") or "").lower() in _TRUE
                if pattern:
                    hosts = [h for h in hosts if pattern in h.name]
                    if not hosts:
                        raise NovaFault(404, f"No hypervisor matching '{pattern}' could be found.")
                return Response.json(
                    200,
                    {
                        "hypervisors": [
                            self.hypervisor_view(h, v, detail, with_servers) for h in hosts
                        ]
                    },
                )
            if len(rest) == 2 and rest[1] in ("search", "servers") and v < (2, 53):
                found = [h for h in hosts if rest[0] in h.name]
                if not found:
                    raise NovaFault(404, f"No hypervisor matching '{rest[0]}' could be found.")
                return Response.json(
                    200,
                    {
                        "hypervisors": [
                            self.hypervisor_view(h, v, False, rest[1] == "servers") for h in found
                        ]
                    },
                )
            if len(rest) == 1:
                for h in hosts:
                    if rest[0] in (h.hypervisor_uuid, str(h.number)):
                        return Response.json(200, {"hypervisor": self.hypervisor_view(h, v, True)})
                raise NovaFault(404, f"Hypervisor with ID {rest[0]} could not be found.")
        raise NovaFault(404, "The resource could not be found.")

    def flavors(self, rest: list, v: tuple) -> Response:
        def view(name, detail):
            f = FLAVORS[name]
            out = {"id": f["id"], "name": name, "links": self._link("flavors", f["id"])}
            if v >= (2, 55):
                out["description"] = None
            if detail:
                out.update(
                    {
                        "vcpus": f["vcpus"],
                        "ram": f["ram"],
                        "disk": f["disk"],
                        "swap": "",
                        "OS-FLV-EXT-DATA:ephemeral": 0,
                        "OS-FLV-DISABLED:disabled": False,
                        "rxtx_factor": 1.0,
                        "os-flavor-access:is_public": True,
                    }
                )
                if v >= (2, 61):
                    out["extra_specs"] = {}
            return out

        if not rest or rest == ["detail"]:
            return Response.json(200, {"flavors": [view(n, bool(rest)) for n in FLAVORS]})
        name = FLAVOR_BY_ID.get(rest[0]) or (rest[0] if rest[0] in FLAVORS else None)
        if name is None:
            raise NovaFault(404, f"Flavor {rest[0]} could not be found.")
        if len(rest) == 1:
            return Response.json(200, {"flavor": view(name, True)})
        if rest[1:] == ["os-extra_specs"]:
            return Response.json(200, {"extra_specs": {}})
        raise NovaFault(404, "The resource could not be found.")

    def aggregate_view(self, a: dict, v: tuple) -> dict:
        at = self.model.clock.at
        view = {
            "id": a["id"],
            "name": a["name"],
            "availability_zone": a["availability_zone"],
            "hosts": list(a["hosts"]),
            "metadata": dict(a["metadata"]),
            "created_at": iso(at(a["created"]), micro=True).rstrip("Z"),
            "updated_at": iso(at(a["updated"]), micro=True).rstrip("Z") if a["updated"] else None,
            "deleted_at": None,
            "deleted": False,
        }
        if v >= (2, 41):
            view["uuid"] = a["uuid"]
        return view

    def aggregates(self, req: Request, rest: list, v: tuple) -> Response:
        model = self.model
        m = req.method
        with model.lock:
            if not rest and m == "GET":
                return Response.json(
                    200,
                    {"aggregates": [self.aggregate_view(a, v) for a in model.aggregates.values()]},
                )
            if not rest and m == "POST":
                body = _body(req).get("aggregate")
                if (
                    not isinstance(body, dict)
                    or not isinstance(body.get("name"), str)
                    or not body["name"].strip()
                ):
                    raise NovaFault(400, "Invalid input for field/attribute aggregate.")
                a = model.add_aggregate(body["name"], zone=body.get("availability_zone"))
                return Response.json(200, {"aggregate": self.aggregate_view(a, v)})
            if len(rest) == 1 and m == "GET":
                return Response.json(
                    200, {"aggregate": self.aggregate_view(model.aggregate(rest[0]), v)}
                )
            if len(rest) == 1 and m == "DELETE":
                a = model.aggregate(rest[0])
                if a["hosts"]:
                    raise NovaFault(400, f"Cannot remove aggregate {a['id']}: it still has hosts")
                del model.aggregates[a["id"]]
                return Response(200)
            if len(rest) == 2 and rest[1] == "action" and m == "POST":
                body = _body(req)
                if len(body) != 1:
                    raise NovaFault(400, "Malformed request body")
                ((name, args),) = body.items()
                if name not in ("add_host", "remove_host"):
                    raise NovaFault(400, f"Invalid input for field/attribute. Value: {name}.")
                host = args.get("host") if isinstance(args, dict) else None
                if not isinstance(host, str):
                    raise NovaFault(
                        400,
                        f"Invalid input for field/attribute {name}. 'host' is a required property",
                    )
                a = model.aggregate_host(rest[0], host, add=name == "add_host")
                return Response.json(200, {"aggregate": self.aggregate_view(a, v)})
        raise NovaFault(404, "The resource could not be found.")

    def migrations(self, req: Request, v: tuple) -> Response:
        at = self.model.clock.at
        host = req.arg("host")
        kind = req.arg("migration_type")
        instance = req.arg("instance_uuid")
        out = []
        with self.model.lock:
            for m in self.model.migrations:
                if host and host not in (m.source, m.dest):
                    continue
                if kind and kind != m.kind:
                    continue
                if instance and instance != m.server_id:
                    continue
                view = {
                    "id": m.id,
                    "source_compute": m.source,
                    "dest_compute": m.dest,
                    "source_node": m.source,
                    "dest_node": m.dest,
                    "dest_host": None,
                    "status": m.status,
                    "instance_uuid": m.server_id,
                    "migration_type": m.kind,
                    "created_at": iso(at(m.created), micro=True).rstrip("Z"),
                    "updated_at": iso(at(m.updated), micro=True).rstrip("Z"),
                    "old_instance_type_id": 1,
                    "new_instance_type_id": 1,
                }
                if v >= (2, 59):
                    view["uuid"] = m.uuid
                out.append(view)
        return Response.json(200, {"migrations": out})
