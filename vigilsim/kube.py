"""Kubernetes API subset: discovery, Nodes (get/list/watch/patch) and node Leases.

Each host is a Node. Its kubelet renews a Lease in ``kube-node-lease`` every
``lease_renew_interval`` cloud seconds while the host is powered and the kubelet runs; the node
controller sets ``Ready`` to ``Unknown`` (and adds the ``unreachable`` taints) once nothing has been
heard for ``node_monitor_grace`` cloud seconds. Errors are ``Status`` objects, as the API server's.
"""

from __future__ import annotations

import copy
import json
import re
import time

from vigilsim.clock import iso
from vigilsim.http import Request, Response
from vigilsim.model import Host, Model

_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
STATUS_REPORT = (
    300.0  # cloud s between the kubelet's full Node status posts (nodeStatusReportFrequency)
)
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
}


def status_object(code: int, reason: str, message: str, details: dict | None = None) -> Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return Response.json(code, body)


class KubeError(Exception):
    def __init__(self, code: int, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


# ---- label selectors ---------------------------------------------------------------------------

_SET_RE = re.compile(r"^\s*(!?)([A-Za-z0-9./_-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_selector(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts


def parse_selector(selector: str | None):
    """A label selector (=, ==, !=, in, notin, exists, !exists) as a predicate over a labels dict."""
    if not selector or not selector.strip():
        return lambda labels: True
    tests = []
    for term in _split_selector(selector):
        term = term.strip()
        for op in ("!=", "==", "="):
            if op in term:
                key, value = (t.strip() for t in term.split(op, 1))
                if not key:
                    raise KubeError(400, f"unable to parse requirement: {term!r}")
                if op == "!=":
                    tests.append(lambda labels, k=key, v=value: labels.get(k) != v)
                else:
                    tests.append(lambda labels, k=key, v=value: labels.get(k) == v)
                break
        else:
            match = _SET_RE.match(term)
            if not match:
                raise KubeError(
                    400, f"unable to parse requirement: found {term!r}, expected a label selector"
                )
            negate, key, op, values = match.groups()
            if op:
                options = {v.strip() for v in values.split(",") if v.strip()}
                if op == "in":
                    tests.append(lambda labels, k=key, o=options: labels.get(k) in o)
                else:
                    tests.append(lambda labels, k=key, o=options: labels.get(k) not in o)
            elif negate:
                tests.append(lambda labels, k=key: k not in labels)
            else:
                tests.append(lambda labels, k=key: k in labels)
    return lambda labels: all(t(labels) for t in tests)


def _field_selector(selector: str | None):
    if not selector:
        return lambda name: True
    wanted = {}
    for term in selector.split(","):
        key, _, value = term.partition("=")
        key = key.rstrip("=!")
        if key != "metadata.name":
            raise KubeError(400, f"field label not supported: {key}")
        wanted["name"] = value.lstrip("=")
    return lambda name: name == wanted["name"]


def _watch_window(req: Request) -> tuple[float, int]:
    """A watch's end (monotonic; ``timeoutSeconds``, else 30 min) and the version it resumes at."""
    timeout = req.arg("timeoutSeconds")
    try:
        deadline = time.monotonic() + (float(timeout) if timeout else 1800.0)
        return deadline, int(req.arg("resourceVersion") or 0)
    except ValueError:
        raise KubeError(400, "invalid timeoutSeconds or resourceVersion") from None


def _lease_version(cloud_seconds: float) -> int:
    """Lease resourceVersions count cloud milliseconds: a renewal is newer than any version
    handed out before it, so a watch resumes from a list without missing one."""
    return int(cloud_seconds * 1000)


def _wants_table(req: Request) -> bool:
    return "as=Table" in (req.header("accept") or "")


def _age(seconds: float) -> str:
    """kubectl's short age: 45s, 12m, 5h, 3d."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# ---- patches -----------------------------------------------------------------------------------


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch (strategic merge on the Node fields we keep behaves the same)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KubeError(422, f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc, operations):
    """RFC 6902 add/remove/replace/test, enough for patching labels and taints."""
    doc = copy.deepcopy(doc)
    if not isinstance(operations, list):
        raise KubeError(400, "json patch must be a list of operations")
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise KubeError(400, "each json patch operation needs 'op' and 'path'")
        keys = _pointer(op["path"])
        parent = doc
        try:
            for key in keys[:-1]:
                parent = parent[int(key)] if isinstance(parent, list) else parent[key]
            last = keys[-1]
            kind = op["op"]
            if kind in ("add", "replace"):
                if isinstance(parent, list):
                    if last == "-":
                        parent.append(op["value"])
                    elif kind == "add":
                        parent.insert(int(last), op["value"])
                    else:
                        parent[int(last)] = op["value"]
                else:
                    if kind == "replace" and last not in parent:
                        raise KubeError(
                            422,
                            f"replace operation does not apply: doc is missing key: {op['path']}",
                        )
                    parent[last] = op["value"]
            elif kind == "remove":
                if isinstance(parent, list):
                    parent.pop(int(last))
                else:
                    del parent[last]
            elif kind == "test":
                current = parent[int(last)] if isinstance(parent, list) else parent[last]
                if current != op.get("value"):
                    raise KubeError(422, f"testing value {op['path']} failed")
            else:
                raise KubeError(400, f"Unexpected kind: {kind}")
        except (KeyError, IndexError, ValueError, TypeError):
            raise KubeError(
                422,
                f"the server rejected our request due to an error in our request: "
                f"path {op['path']} does not apply",
            ) from None
    return doc


class Kubernetes:
    def __init__(self, model: Model, region):
        self.model = model
        self.region = region
        self.token = "vigil-sim-token"
        self._node_cache: dict[str, tuple] = {}

    # ---- objects -------------------------------------------------------------------------------

    def _ts(self, cloud_seconds: float) -> str:
        return self.model.clock.stamp(cloud_seconds)

    def status_heartbeat(self, host: Host) -> float:
        """When the kubelet last posted Node status: every STATUS_REPORT seconds (and on start);
        in between only its Lease is renewed, as with nodeStatusReportFrequency."""
        renewed = self.model.last_renew(host)
        return max(host.kubelet_since, renewed - (renewed - host.kubelet_since) % STATUS_REPORT)

    def node_json(self, host: Host) -> bytes:
        """A list item, serialised; cached until the Node changes or the kubelet posts status again."""
        key = (host.node_rv, self.status_heartbeat(host), host.ready)
        cached = self._node_cache.get(host.name)
        if cached is None or cached[0] != key:
            data = json.dumps(
                self.node_object(host, list_item=True), separators=(",", ":")
            ).encode()
            cached = self._node_cache[host.name] = (key, data)
        return cached[1]

    def node_object(self, host: Host, list_item: bool = False) -> dict:
        model = self.model
        renewed = self.status_heartbeat(host)
        ready = host.ready
        if ready == "True":
            condition = {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
            }
        else:
            condition = {
                "type": "Ready",
                "status": "Unknown",
                "reason": "NodeStatusUnknown",
                "message": "Kubelet stopped posting node status.",
            }
        heartbeat = self._ts(renewed)
        condition.update(lastHeartbeatTime=heartbeat, lastTransitionTime=self._ts(host.ready_since))
        pressure = []
        for kind, reason in (
            ("MemoryPressure", "KubeletHasSufficientMemory"),
            ("DiskPressure", "KubeletHasNoDiskPressure"),
            ("PIDPressure", "KubeletHasSufficientPID"),
        ):
            if ready == "True":
                pressure.append(
                    {
                        "type": kind,
                        "status": "False",
                        "reason": reason,
                        "message": reason,
                        "lastHeartbeatTime": heartbeat,
                        "lastTransitionTime": self._ts(host.node_created),
                    }
                )
            else:
                pressure.append(
                    {
                        "type": kind,
                        "status": "Unknown",
                        "reason": "NodeStatusUnknown",
                        "message": "Kubelet stopped posting node status.",
                        "lastHeartbeatTime": heartbeat,
                        "lastTransitionTime": self._ts(host.ready_since),
                    }
                )
        capacity = {
            "cpu": str(host.capacity),
            "memory": f"{host.capacity * 2}Gi",
            "pods": "110",
            "ephemeral-storage": f"{host.capacity * 20}Gi",
        }
        spec = {"providerID": f"vigilsim://{host.name}"}
        if host.taints:
            spec["taints"] = copy.deepcopy(host.taints)
        if host.unschedulable:
            spec["unschedulable"] = True
        node = {
            "metadata": {
                "name": host.name,
                "uid": host.node_uid,
                "resourceVersion": str(host.node_rv),
                "creationTimestamp": self._ts(host.node_created),
                "labels": dict(host.labels),
                "annotations": dict(host.annotations),
            },
            "spec": spec,
            "status": {
                "capacity": capacity,
                "allocatable": dict(capacity),
                "conditions": pressure + [condition],
                "addresses": [
                    {
                        "type": "InternalIP",
                        "address": self.region.listeners.ip(host.name, "management"),
                    },
                    {"type": "Hostname", "address": host.name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": host.node_uid.replace("-", ""),
                    "systemUUID": host.hypervisor_uuid,
                    "bootID": f"{host.node_uid[:8]}-{host.compute_restarts}",
                    "kernelVersion": "6.1.0-vigilsim",
                    "osImage": "vigilsim",
                    "containerRuntimeVersion": "containerd://1.7.0",
                    "kubeletVersion": "v1.32.0",
                    "kubeProxyVersion": "v1.32.0",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        }
        if not list_item:
            node = {"kind": "Node", "apiVersion": "v1", **node}
        return node

    def lease_object(self, host: Host, list_item: bool = False) -> dict:
        renewed = self.model.last_renew(host)
        lease = {
            "metadata": {
                "name": host.name,
                "namespace": "kube-node-lease",
                "uid": host.lease_uid,
                "resourceVersion": str(_lease_version(renewed)),
                "creationTimestamp": self._ts(host.node_created),
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": host.name, "uid": host.node_uid}
                ],
            },
            "spec": {
                "holderIdentity": host.name,
                "leaseDurationSeconds": int(self.model.cfg.lease_duration),
                "renewTime": iso(self.model.clock.at(renewed), micro=True),
            },
        }
        if not list_item:
            lease = {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1", **lease}
        return lease

    def node_summary(self, name: str) -> dict:
        with self.model.lock:
            self.model.advance()
            host = self.model.host(name)
            return {
                "name": name,
                "ready": host.ready,
                "taints": copy.deepcopy(host.taints),
                "labels": dict(host.labels),
                "unschedulable": host.unschedulable,
                "lease_renew_time": self.model.clock.at(self.model.last_renew(host)),
                "resource_version": str(host.node_rv),
            }

    def add_taint(self, name: str, taint: dict) -> None:
        with self.model.lock:
            host = self.model.host(name)
            if not any(
                t["key"] == taint["key"] and t["effect"] == taint["effect"] for t in host.taints
            ):
                host.taints.append({**taint, "timeAdded": self._ts(self.model.now())})
                self.model.bump_node(host)

    def remove_taint(self, name: str, key: str) -> None:
        with self.model.lock:
            host = self.model.host(name)
            kept = [t for t in host.taints if t["key"] != key]
            if len(kept) != len(host.taints):
                host.taints = kept
                self.model.bump_node(host)

    # ---- HTTP ----------------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        auth = req.header("authorization")
        if auth is not None and auth != f"Bearer {self.token}":
            return status_object(401, "Unauthorized", "Unauthorized")
        try:
            return self._route(req)
        except KubeError as exc:
            return status_object(
                exc.code, _REASONS.get(exc.code, "InternalError"), exc.message, exc.details
            )

    def _route(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        parts = [p for p in path.split("/") if p]
        m = req.method
        if m == "GET":
            discovery = self._discovery(path)
            if discovery is not None:
                return Response.json(200, discovery)
        if parts[:2] == ["api", "v1"] and len(parts) >= 3 and parts[2] == "nodes":
            if len(parts) == 3 and m == "GET":
                if (req.arg("watch") or "").lower() in ("1", "true"):
                    return self._watch(req)
                return self._list_nodes(req)
            if len(parts) in (4, 5) and (len(parts) == 4 or parts[4] == "status"):
                name = parts[3]
                with self.model.lock:
                    host = self.model.hosts.get(name)
                    if host is None:
                        raise KubeError(
                            404, f'nodes "{name}" not found', {"name": name, "kind": "nodes"}
                        )
                    if m == "GET" and _wants_table(req):
                        return Response.json(
                            200, self.node_table([host], {"resourceVersion": str(host.node_rv)})
                        )
                    if m == "GET":
                        return Response.json(200, self.node_object(host))
                    if m == "PATCH" and len(parts) == 4:
                        return Response.json(200, self._patch_node(host, req))
                raise KubeError(
                    405, "the server does not allow this method on the requested resource"
                )
        if parts[:3] == ["apis", "coordination.k8s.io", "v1"]:
            return self._leases(req, parts[3:])
        raise KubeError(404, "the server could not find the requested resource")

    def _discovery(self, path: str):
        if path == "/version":
            return {
                "major": "1",
                "minor": "32",
                "gitVersion": "v1.32.0-vigilsim",
                "gitCommit": "vigilsim",
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.23",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        if path == "/api":
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": self.region.url.split("//", 1)[1]}
                ],
            }
        if path == "/api/v1":
            return {
                "kind": "APIResourceList",
                "groupVersion": "v1",
                "resources": [
                    {
                        "name": "nodes",
                        "singularName": "node",
                        "namespaced": False,
                        "kind": "Node",
                        "verbs": ["get", "list", "patch", "watch"],
                        "shortNames": ["no"],
                    },
                    {
                        "name": "nodes/status",
                        "singularName": "",
                        "namespaced": False,
                        "kind": "Node",
                        "verbs": ["get"],
                    },
                ],
            }
        if path == "/apis":
            group = {
                "name": "coordination.k8s.io",
                "versions": [{"groupVersion": "coordination.k8s.io/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "coordination.k8s.io/v1", "version": "v1"},
            }
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]}
        if path == "/apis/coordination.k8s.io":
            return {
                "kind": "APIGroup",
                "apiVersion": "v1",
                "name": "coordination.k8s.io",
                "versions": [{"groupVersion": "coordination.k8s.io/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "coordination.k8s.io/v1", "version": "v1"},
            }
        if path == "/apis/coordination.k8s.io/v1":
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": "coordination.k8s.io/v1",
                "resources": [
                    {
                        "name": "leases",
                        "singularName": "lease",
                        "namespaced": True,
                        "kind": "Lease",
                        "verbs": ["get", "list", "watch"],
                    }
                ],
            }
        return None

    def _selected(self, req: Request):
        labels = parse_selector(req.arg("labelSelector"))
        names = _field_selector(req.arg("fieldSelector"))
        return lambda host: names(host.name) and labels(host.labels)

    def _list_nodes(self, req: Request) -> Response:
        selected = self._selected(req)
        limit = req.arg("limit")
        try:
            limit = int(limit) if limit else None
            start = int(req.arg("continue") or 0)
        except ValueError:
            raise KubeError(400, "invalid limit or continue token") from None
        with self.model.lock:
            hosts = [h for h in self.model.hosts.values() if selected(h)]
            page = hosts[start : start + limit] if limit else hosts[start:]
            meta = {"resourceVersion": str(self.model.resource_version)}
            if limit and start + limit < len(hosts):
                meta["continue"] = str(start + limit)
                meta["remainingItemCount"] = len(hosts) - start - limit
            if _wants_table(req):
                return Response.json(200, self.node_table(page, meta))
            head = json.dumps(
                {"kind": "NodeList", "apiVersion": "v1", "metadata": meta}, separators=(",", ":")
            )
            body = (
                head[:-1].encode()
                + b',"items":['
                + b",".join(self.node_json(h) for h in page)
                + b"]}"
            )
            return Response(200, body, {"Content-Type": "application/json"})

    def node_table(self, hosts: list, meta: dict) -> dict:
        """The server-side table kubectl asks for (``Accept: ...;as=Table``): NAME STATUS ROLES AGE VERSION."""
        now = self.model.now()
        columns = [
            ("Name", "string", "name"),
            ("Status", "string", ""),
            ("Roles", "string", ""),
            ("Age", "string", ""),
            ("Version", "string", ""),
        ]
        rows = []
        for host in hosts:
            status = "Ready" if host.ready == "True" else "NotReady"
            if host.unschedulable:
                status += ",SchedulingDisabled"
            roles = (
                ",".join(
                    sorted(
                        k.split("/", 1)[1]
                        for k in host.labels
                        if k.startswith("node-role.kubernetes.io/")
                    )
                )
                or "<none>"
            )
            metadata = {
                "name": host.name,
                "uid": host.node_uid,
                "resourceVersion": str(host.node_rv),
                "creationTimestamp": self._ts(host.node_created),
                "labels": dict(host.labels),
            }
            rows.append(
                {
                    "cells": [host.name, status, roles, _age(now - host.node_created), "v1.32.0"],
                    "object": {
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": metadata,
                    },
                }
            )
        return {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
            "columnDefinitions": [
                {"name": n, "type": t, "format": f, "description": n, "priority": 0}
                for n, t, f in columns
            ],
            "rows": rows,
        }

    def _watch(self, req: Request) -> Response:
        selected = self._selected(req)
        deadline, since = _watch_window(req)
        model = self.model
        stopping = self.region._stopping

        def line(kind: str, obj: dict) -> bytes:
            return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"

        def stream():
            with (
                model.lock
            ):  # never yield while holding the lock: a slow client would stall the region
                cursor = since
                initial = []
                if since == 0:
                    cursor = model.resource_version
                    initial = [
                        line("ADDED", self.node_object(h))
                        for h in model.hosts.values()
                        if selected(h)
                    ]
                elif since < model.events_floor:
                    expired = {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Failure",
                        "message": f"too old resource version: {since} ({model.events_floor})",
                        "reason": "Expired",
                        "code": 410,
                    }
                    initial = [line("ERROR", expired)]
                    cursor = None
            for chunk in initial:
                yield chunk
            if cursor is None:
                return
            while not stopping.is_set() and time.monotonic() < deadline:
                with model.lock:
                    pending = model.node_events_after(cursor)
                    if not pending:
                        model.changed.wait(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
                        model.advance()
                        pending = model.node_events_after(cursor)
                    out = []
                    for rv, kind, name in pending:
                        cursor = rv
                        host = model.hosts.get(name)
                        if host is not None and selected(host) and host.node_rv == rv:
                            out.append(line(kind, self.node_object(host)))
                for chunk in out:
                    yield chunk

        return Response(200, headers={"Content-Type": "application/json"}, stream=stream())

    def _watch_leases(self, req: Request, node_leases: bool) -> Response:
        """Lease renewals as MODIFIED events, each sent when the kubelet renews.

        Renewals follow the cloud clock, so the stream sleeps until the next one is due (at
        most half a real second) rather than polling; a BOOKMARK follows each batch when asked
        for (``allowWatchBookmarks``).
        """
        deadline, since = _watch_window(req)
        bookmarks = (req.arg("allowWatchBookmarks") or "").lower() in ("1", "true")
        model = self.model
        stopping = self.region._stopping

        def line(kind: str, obj: dict) -> bytes:
            return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"

        def due(now: float) -> float | None:
            """Cloud seconds until the next renewal of any running kubelet."""
            step = model.cfg.lease_renew_interval
            waits = [
                step - (now - h.kubelet_since) % step
                for h in model.hosts.values()
                if model.kubelet_alive(h)
            ]
            return min(waits) if waits else None

        def stream():
            cursor = since
            first = since == 0
            while not stopping.is_set() and time.monotonic() < deadline:
                with model.lock:
                    model.advance()
                    now = model.now()
                    top = _lease_version(now)
                    out = []
                    if node_leases:
                        for host in model.hosts.values():
                            version = _lease_version(model.last_renew(host))
                            if first or cursor < version <= top:
                                kind = "ADDED" if first else "MODIFIED"
                                out.append(line(kind, self.lease_object(host)))
                    if bookmarks:
                        mark = {
                            "kind": "Lease",
                            "apiVersion": "coordination.k8s.io/v1",
                            "metadata": {"resourceVersion": str(top)},
                        }
                        out.append(line("BOOKMARK", mark))
                    cursor, first = top, False
                    wait = due(now) if node_leases else None
                yield from out
                real_wait = 0.5 if wait is None else model.clock.real_delay(wait) + 0.001
                stopping.wait(min(0.5, real_wait, max(0.0, deadline - time.monotonic())))

        return Response(200, headers={"Content-Type": "application/json"}, stream=stream())

    def _patch_node(self, host: Host, req: Request) -> dict:
        kind = (req.header("content-type") or "").split(";")[0].strip()
        try:
            patch = req.json()
        except ValueError:
            raise KubeError(400, "the request body is not valid JSON") from None
        current = {
            "metadata": {"labels": dict(host.labels), "annotations": dict(host.annotations)},
            "spec": {"taints": copy.deepcopy(host.taints), "unschedulable": host.unschedulable},
        }
        if kind in ("application/strategic-merge-patch+json", "application/merge-patch+json"):
            if not isinstance(patch, dict):
                raise KubeError(400, "a merge patch must be a JSON object")
            patched = merge_patch(current, patch)
        elif kind == "application/json-patch+json":
            patched = json_patch(current, patch)
        else:
            raise KubeError(
                415,
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/strategic-merge-patch+json",
            )
        if not isinstance(patched, dict):
            raise KubeError(
                422, f'Node "{host.name}" is invalid: the patched object is not an object'
            )
        metadata = patched.get("metadata") or {}
        spec = patched.get("spec") or {}
        if not isinstance(metadata, dict) or not isinstance(spec, dict):
            raise KubeError(
                422,
                f'Node "{host.name}" is invalid: metadata and spec must be objects',
                {"name": host.name, "kind": "Node"},
            )
        labels = metadata.get("labels") or {}
        annotations = metadata.get("annotations") or {}
        taints = spec.get("taints") or []
        for mapping, what in ((labels, "labels"), (annotations, "annotations")):
            if not isinstance(mapping, dict) or not all(
                isinstance(v, str) for v in mapping.values()
            ):
                raise KubeError(
                    422,
                    f'Node "{host.name}" is invalid: metadata.{what}: Invalid value: '
                    "values must be strings",
                    {"name": host.name, "kind": "Node"},
                )
        if not isinstance(taints, list):
            raise KubeError(
                422, f'Node "{host.name}" is invalid: spec.taints: Invalid value: must be a list'
            )
        for i, taint in enumerate(taints):
            if not isinstance(taint, dict) or not taint.get("key"):
                raise KubeError(
                    422,
                    f'Node "{host.name}" is invalid: spec.taints[{i}].key: Required value',
                    {"name": host.name, "kind": "Node"},
                )
            if taint.get("effect") not in _EFFECTS:
                raise KubeError(
                    422,
                    f'Node "{host.name}" is invalid: spec.taints[{i}].effect: Unsupported '
                    f'value: "{taint.get("effect")}": supported values: "NoSchedule", '
                    '"PreferNoSchedule", "NoExecute"',
                    {"name": host.name, "kind": "Node"},
                )
        host.labels = labels
        host.annotations = annotations
        now = self._ts(self.model.now())
        host.taints = [
            t if t.get("effect") != "NoExecute" or t.get("timeAdded") else {**t, "timeAdded": now}
            for t in taints
        ]
        host.unschedulable = bool(spec.get("unschedulable"))
        self.model.bump_node(host)
        return self.node_object(host)

    def _leases(self, req: Request, rest: list) -> Response:
        if req.method != "GET":
            raise KubeError(405, "the server does not allow this method on the requested resource")
        model = self.model
        if rest == ["leases"] or (
            len(rest) == 3 and rest[0] == "namespaces" and rest[2] == "leases"
        ):
            namespace = rest[1] if len(rest) == 3 else None
            if (req.arg("watch") or "").lower() in ("1", "true"):
                return self._watch_leases(req, namespace in (None, "kube-node-lease"))
            with model.lock:
                hosts = list(model.hosts.values()) if namespace in (None, "kube-node-lease") else []
                items = [self.lease_object(h, list_item=True) for h in hosts]
                return Response.json(
                    200,
                    {
                        "kind": "LeaseList",
                        "apiVersion": "coordination.k8s.io/v1",
                        "metadata": {"resourceVersion": str(_lease_version(model.now()))},
                        "items": items,
                    },
                )
        if len(rest) == 4 and rest[0] == "namespaces" and rest[2] == "leases":
            with model.lock:
                host = model.hosts.get(rest[3]) if rest[1] == "kube-node-lease" else None
                if host is None:
                    raise KubeError(
                        404,
                        f'leases.coordination.k8s.io "{rest[3]}" not found',
                        {"name": rest[3], "group": "coordination.k8s.io", "kind": "leases"},
                    )
                return Response.json(200, self.lease_object(host))
        raise KubeError(404, "the server could not find the requested resource")
